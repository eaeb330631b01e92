"""Curation scorers' throughput: documents per second for each scorer the ingest flow runs, and in all.

    .venv/bin/python -m eval.bench.scorers          # the test corpus (~255 documents), 3 runs
    .venv/bin/python -m eval.bench.scorers --corpus vetted-data/corpus/demo --reps 1

Every scorer from `pipelines.scoring.build_scorers` over every readable document, in the flow's order, timed
by `scoring.score_documents` itself; the embedding cache is off, so relevance pays for its model calls. Each
line gives docs/s, MB/s of text, and the scorer's share of the scoring time (the ratio that says what to
optimise).
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from eval.bench import common


def main(argv: list[str] | None = None) -> int:
    args = common.parser(__doc__).parse_args(argv)

    from curation.sources import load_registry
    from pipelines import scoring, stages
    from pipelines.core.embedding import Embedder

    corpus = common.corpus(args.corpus)
    settings = common.settings_for(Path(tempfile.mkdtemp(prefix="bench-scorers-")), corpus)
    registry = load_registry(settings.resolve(settings.paths.sources_file))
    embedder = Embedder(device=settings.embedding.device, batch_size=settings.embedding.batch_size)
    loaded = stages.load_documents(corpus, registry, settings.curation)
    docs = loaded.documents
    scorers = scoring.build_scorers(settings, registry, embedder)
    scoring.score_documents(docs[:20], scorers)  # warm-up: model load, presidio recognizers
    runs = [scoring.score_documents(docs, scorers)[1] for _ in range(args.reps)]
    seconds = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
    total = sum(seconds.values())
    mb = sum(len(d.text.encode()) for d in docs) / 1e6
    print(f"{len(docs)} documents, {mb:.1f} MB of text")
    rows = {}
    for name, s in [*seconds.items(), ("all", total)]:
        rows[name] = {"seconds": s, "docs_per_s": len(docs) / s, "MB_per_s": mb / s, "share": s / total}
        print(f"  {name:10s} {s:7.2f} s  {len(docs) / s:9.1f} docs/s  {mb / s:7.2f} MB/s  {s / total:6.1%}")
    common.report("scorers", {"documents": len(docs), "text_MB": mb, "scorers": rows}, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
