"""A re-run on an unchanged corpus vs the first run: what the pipeline saves when nothing changed.

    .venv/bin/python -m eval.bench.rerun      # the test corpus: two full curated builds, minutes on 2 cores

Three runs of the real stages (load, score, tier, chunk, embed, index: eval.workdirs.build_into, which is
what `vetted ingest` runs, less Prefect and the report), in one process after the model is loaded:
  first         fresh work folder, empty embedding cache
  rerun         fresh work folder, the embedding cache the first run filled (`embedding.cache = true`):
                scoring, chunking and indexing run again, the model is not asked for any vector it gave before
  eval_reuse    eval.workdirs.prepare on the same corpus, settings and code: the cached work folder is found
                by its key (corpus hash) and reused whole
Each prints its seconds per stage and its ratio to the first run.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from eval.bench import common


def main(argv: list[str] | None = None) -> int:
    args = common.parser(__doc__).parse_args(argv)

    from eval import workdirs
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

    start = time.perf_counter()
    first = workdirs.prepare(corpus, settings, "curated", embedder, root / "eval-cache")
    runs = {"first": (time.perf_counter() - start, first.build["stage_seconds"])}
    (root / "again").mkdir()
    start = time.perf_counter()
    again = workdirs.build_into(root / "again", corpus, settings, "curated", embedder)
    runs["rerun"] = (time.perf_counter() - start, again["stage_seconds"])
    start = time.perf_counter()
    reused = workdirs.prepare(corpus, settings, "curated", embedder, root / "eval-cache")
    runs["eval_reuse"] = (time.perf_counter() - start, {})
    assert reused.reused and reused.path == first.path

    base = runs["first"][0]
    for name, (seconds, per_stage) in runs.items():
        stages = "  ".join(f"{k} {v:.1f}" for k, v in per_stage.items())
        print(f"  {name:10s} {seconds:8.2f} s  {seconds / base:6.3f}x first  {stages}")
    rerun, reuse = runs["rerun"][0] / base, runs["eval_reuse"][0] / base
    print(f"re-run / first: {rerun:.3f}x; eval reuse / first: {reuse:.4f}x")
    common.report(
        "rerun",
        {"documents": first.build["documents"], "chunks": first.build["chunks"],
         "runs": {k: {"seconds": s, "stage_seconds": st} for k, (s, st) in runs.items()}},
        args.json,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
