"""The score stage in one process vs on a pool of worker processes: wall seconds side by side, the speed-up.

    .venv/bin/python -m eval.bench.score_pool                      # the test corpus, 3 runs a side
    .venv/bin/python -m eval.bench.score_pool --corpus DIR --copies 4 --workers 2 --reps 3 --json out.json

`scoring.score_documents` with every scorer that needs no model (age, trust, sensitive, duplicate, quality;
relevance is a model call that stays in the run's process either way), as the ingest flow calls it:
`in_process` is `[scoring] workers = 1`; `fork` and `forkserver` are `workers = N` with `pool_min_docs = 0`
and that start method, so the pool's whole cost (starting the workers, shipping documents and results) is
inside the timing. `--copies K` scores the corpus K times over (each copy's doc ids made distinct), to see
where a pool starts paying: the default `pool_min_docs` in pipelines.core.settings comes from these runs.
Each side builds fresh scorers and is timed in wall seconds (the pool's point is wall time; CPU time of this
process leaves out the workers'), the sides interleaved run by run (eval.bench.common.alternate). Every
side's scores are checked equal to the in-process side's before anything is printed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date

from eval.bench import common
from eval.bench.scorers_2kb import _load, non_model_scorers

SIDES = ("in_process", "fork", "forkserver")


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__)
    p.add_argument("--copies", type=int, default=1, help="score the corpus this many times over (default 1)")
    p.add_argument("--workers", type=int, default=2, help="pool processes (default 2: this machine's cores)")
    args = p.parse_args(argv)
    if args.copies < 1 or args.workers < 2 or args.reps < 1:
        p.error("--copies and --reps must be >= 1 and --workers >= 2")

    from curation.sources import load_registry
    from pipelines import scoring, stages
    from pipelines.core.settings import CurationSettings, ScoringSettings

    registry = load_registry(common.REPO / "sources.toml")
    loaded = stages.load_documents(common.corpus(args.corpus), registry, CurationSettings()).documents
    docs = [
        dataclasses.replace(d, doc_id=f"{d.doc_id}~{k}", path=f"{d.path}~{k}") if k else d
        for k in range(args.copies)
        for d in loaded
    ]
    today = date.fromisoformat(common.TODAY)
    settings = {
        "in_process": ScoringSettings(workers=1),
        "fork": ScoringSettings(workers=args.workers, pool_min_docs=0, start_method="fork"),
        "forkserver": ScoringSettings(workers=args.workers, pool_min_docs=0, start_method="forkserver"),
    }
    results: dict[str, object] = {}

    def side(name: str) -> Callable[[], object]:
        def run() -> None:
            scorers = non_model_scorers(registry, today)
            scores, _ = scoring.score_documents(docs, scorers, scoring=settings[name])
            results[name] = {i: {n: (r.score, r.reasons, repr(r.details)) for n, r in s.items()}
                             for i, s in scores.items()}  # fmt: skip

        return run

    scoring.score_documents(docs[:50], non_model_scorers(registry, today))  # warm-up: imports, presidio
    timings = common.alternate({name: side(name) for name in SIDES}, args.reps)
    for name in SIDES[1:]:
        if results[name] != results["in_process"]:
            raise SystemExit(f"{name}: the pooled scores differ from the in-process ones")
    base = timings["in_process"].wall_s
    print(f"{len(docs):,} documents ({args.copies} x the corpus), {args.workers} workers, median of "
          f"{args.reps} runs, load {_load()}; scores equal on every side")  # fmt: skip
    print(f"  {'side':12s} {'wall s':>8s} {'docs/s':>8s} {'speed-up':>9s} {'spread':>7s}")
    rows = {}
    for name in SIDES:
        t = timings[name]
        rows[name] = {"wall_s": t.wall_s, "docs_per_s": len(docs) / t.wall_s, "speed_up": base / t.wall_s,
                      "spread": t.spread}  # fmt: skip
        print(f"  {name:12s} {t.wall_s:8.2f} {len(docs) / t.wall_s:8,.0f} {base / t.wall_s:8.2f}x "
              f"{t.spread:7.0%}")  # fmt: skip
    common.report(
        "score_pool",
        {"documents": len(docs), "copies": args.copies, "workers": args.workers, "reps": args.reps,
         "load": _load(), "sides": rows},
        args.json,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
