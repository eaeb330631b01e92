"""A re-run on an unchanged corpus vs the first run: what the pipeline saves when nothing changed.

    .venv/bin/python -m eval.bench.rerun      # the test corpus: a first curated build, then the re-runs

Four runs of the real stages (load, score, tier, redact, chunk, embed, index: pipelines.ingest.run with the
options eval.workdirs.build_into uses, which is what `vetted ingest` runs, less Prefect and the report), in
one process after the model is loaded, side by side:
  first         fresh work folder, empty embedding cache
  incremental   the same work folder again (pipelines.incremental): unchanged files are not parsed, kept
                scores are not recomputed (age and duplicate are), the build in service is kept
  fresh_folder  a fresh work folder with the embedding cache the first run filled (what a re-run cost
                before incremental runs): every stage but the model's vectors runs again
  eval_reuse    eval.workdirs.prepare on the same corpus, settings and code: the cached work folder is found
                by its key (corpus hash) and reused whole
Each prints its seconds per stage and its ratio to the first run; the incremental run's counts too.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from eval.bench import common


def main(argv: list[str] | None = None) -> int:
    args = common.parser(__doc__).parse_args(argv)

    from curation.layout import WorkLayout
    from eval import workdirs
    from pipelines import ingest, run_records
    from pipelines.core.embedding import Embedder

    corpus = common.corpus(args.corpus)
    root = Path(tempfile.mkdtemp(prefix="bench-rerun-"))
    settings = common.settings_for(root / "work", corpus)
    embedder = Embedder(
        device=settings.embedding.device,
        batch_size=settings.embedding.batch_size,
        cache_path=root / "embeddings.sqlite",
    )
    embedder.encode(["warm-up"])  # model load is a process cost, paid once by either run

    def timed(work: Path) -> tuple[float, dict[str, float], ingest.IngestRun]:
        start = time.perf_counter()
        done = ingest.run(
            settings, corpus, WorkLayout(work), steward_overrides=False, report=False, embedder=embedder
        )  # the options of eval.workdirs.build_into
        seconds = time.perf_counter() - start
        return seconds, {r.stage: round(r.wall_s, 3) for r in done.profile.stages}, done

    runs: dict[str, tuple[float, dict[str, float]]] = {}
    seconds, stages, first = timed(root / "work")
    runs["first"] = (seconds, stages)
    seconds, stages, again = timed(root / "work")
    runs["incremental"] = (seconds, stages)
    counts = run_records.incremental_summary(again)
    seconds, stages, _ = timed(root / "fresh")
    runs["fresh_folder"] = (seconds, stages)
    workdirs.prepare(corpus, settings, "curated", embedder, root / "eval-cache")
    start = time.perf_counter()
    reused = workdirs.prepare(corpus, settings, "curated", embedder, root / "eval-cache")
    runs["eval_reuse"] = (time.perf_counter() - start, {})
    assert reused.reused

    base = runs["first"][0]
    for name, (seconds, per_stage) in runs.items():
        line = "  ".join(f"{k} {v:.2f}" for k, v in per_stage.items())
        print(f"  {name:12s} {seconds:8.2f} s  {seconds / base:6.3f}x first  {line}")
    assert counts is not None
    print(
        f"incremental / first: {runs['incremental'][0] / base:.4f}x; fresh folder / first: "
        f"{runs['fresh_folder'][0] / base:.3f}x; eval reuse / first: {runs['eval_reuse'][0] / base:.4f}x"
    )
    print(
        "incremental counts: " + ", ".join(f"{k} {v}" for k, v in counts.items() if k != "deleted_documents")
    )
    assert first.build is not None
    result: dict[str, Any] = {
        "documents": len(first.documents),
        "chunks": first.build.n_chunks,
        "incremental": counts,
        "runs": {k: {"seconds": s, "stage_seconds": st} for k, (s, st) in runs.items()},
    }
    common.report("rerun", result, args.json)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
