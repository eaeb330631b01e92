"""Non-model scorers on 2 KB documents: docs/s per core, and the ratio to a bare loop over the same documents.

    .venv/bin/python -m eval.bench.scorers_2kb          # the test corpus cut into 2 KB documents, 5 runs
    .venv/bin/python -m eval.bench.scorers_2kb --corpus DIR --reps 3 --json out.json

The documents are the test corpus's texts (Python and PostgreSQL manuals, FOLDOC, Debian changelog entries,
the planted confidential files) cut into 2,048-character pieces, each keeping its source, title and date.
Every scorer that needs no model (age, trust, sensitive, duplicate, quality) scores all of them through
`score_many`, as the ingest flow calls it; relevance is left out (it is an embedding model call, benchmarked
in eval.bench.embed). Each run builds fresh scorers, so caches (the phone parser's) start cold, and is timed
in CPU seconds of this process (`time.process_time`), which on a shared machine is what one core spent: the
scorers are single-threaded, so docs per CPU second = docs/s per core. Wall seconds are printed beside.
The bare loop touches every document (sum of len(text)): the floor any scorer stands on.
Target: all five together >= 3,000 docs/s per core (issue 15; 2,000 before the curation issue's detectors).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import date
from functools import partial
from pathlib import Path

from eval.bench import common

DOC_CHARS = 2048
TARGET_DOCS_PER_S = 3000  # issue 15, with every detector of the curation issue on


def two_kb_documents(corpus: Path, registry) -> list:  # type: ignore[no-untyped-def]
    """Every full 2,048-character piece of every readable document of the corpus (short tails dropped)."""
    from curation.models import Document
    from pipelines import stages
    from pipelines.core.settings import CurationSettings

    loaded = stages.load_documents(corpus, registry, CurationSettings())
    docs = []
    for d in loaded.documents:
        for at in range(0, len(d.text) - DOC_CHARS + 1, DOC_CHARS):
            docs.append(
                Document(
                    f"{d.doc_id}:{at}",
                    d.source,
                    d.source_type,
                    d.path,
                    d.title,
                    d.text[at : at + DOC_CHARS],
                    d.updated,
                    d.updated_from,
                    dict(d.meta),
                )  # fmt: skip
            )
    return docs


def non_model_scorers(registry, today: date) -> list:  # type: ignore[no-untyped-def]
    """The ingest flow's scorers that need no model, with the flow's arguments (pipelines.scoring)."""
    from curation.scorers.age import AgeScorer
    from curation.scorers.duplicate import DuplicateScorer
    from curation.scorers.quality import QualityScorer
    from curation.scorers.sensitive import SensitiveDataScorer
    from curation.scorers.trust import SourceTrustScorer

    return [
        AgeScorer(registry, today=today),
        SourceTrustScorer(registry),
        SensitiveDataScorer(),
        DuplicateScorer(lambda d: registry.trust(d.source, d.source_type)),
        QualityScorer(),
    ]


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def measure(docs: Sequence, make_scorers: Callable[[], list], reps: int) -> dict[str, dict[str, float]]:  # type: ignore[type-arg]
    """Median CPU and wall seconds per scorer (fresh scorers each run) and for the bare loop."""
    runs: dict[str, list[tuple[float, float]]] = {}
    for _ in range(reps):
        runs.setdefault("bare_loop", []).append(_timed(lambda: sum(len(d.text) for d in docs)))
        for scorer in make_scorers():
            runs.setdefault(scorer.name, []).append(_timed(partial(scorer.score_many, docs)))
    return {
        name: {"cpu_s": statistics.median(c for c, _ in t), "wall_s": statistics.median(w for _, w in t)}
        for name, t in runs.items()
    }


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__)
    p.set_defaults(reps=5)
    args = p.parse_args(argv)

    from curation.sources import load_registry

    registry = load_registry(common.REPO / "sources.toml")
    docs = two_kb_documents(common.corpus(args.corpus), registry)
    today = date.fromisoformat(common.TODAY)

    def make() -> list:  # type: ignore[type-arg]
        return non_model_scorers(registry, today)

    for scorer in make():  # warm-up: imports, presidio and spaCy loading, regex compiles
        scorer.score_many(docs[-50:])
    seconds = measure(docs, make, args.reps)
    bare = seconds.pop("bare_loop")
    seconds["all"] = {k: sum(s[k] for s in seconds.values()) for k in ("cpu_s", "wall_s")}
    print(f"{len(docs)} documents of {DOC_CHARS} characters, median of {args.reps} runs, load {_load()}")
    print(f"  {'scorer':10s} {'docs/s/core':>12s} {'us/doc':>8s} {'wall docs/s':>12s} {'x bare loop':>12s}")
    rows = {}
    for name, s in [*seconds.items(), ("bare_loop", bare)]:
        per_core = len(docs) / s["cpu_s"] if s["cpu_s"] else float("inf")
        ratio = s["cpu_s"] / bare["cpu_s"] if bare["cpu_s"] else float("inf")
        rows[name] = {**s, "docs_per_s_per_core": per_core, "us_per_doc": 1e6 * s["cpu_s"] / len(docs),
                      "ratio_to_bare_loop": ratio}  # fmt: skip
        print(f"  {name:10s} {per_core:12,.0f} {rows[name]['us_per_doc']:8.1f} "
              f"{len(docs) / s['wall_s']:12,.0f} {ratio:12,.0f}")  # fmt: skip
    verdict = "meets" if rows["all"]["docs_per_s_per_core"] >= TARGET_DOCS_PER_S else "misses"
    print(f"all five: {rows['all']['docs_per_s_per_core']:,.0f} docs/s per core, {verdict} the "
          f"{TARGET_DOCS_PER_S:,} target")  # fmt: skip
    common.report(
        "scorers_2kb",
        {"documents": len(docs), "doc_chars": DOC_CHARS, "reps": args.reps, "load": _load(), "scorers": rows},
        args.json,
    )
    return 0


def _load() -> str:
    """The 1-minute load average over the cores: on a shared machine, how busy the others kept it."""
    one, _, _ = os.getloadavg()
    return f"{one:.1f} on {os.cpu_count()} cores"


if __name__ == "__main__":
    raise SystemExit(main())
