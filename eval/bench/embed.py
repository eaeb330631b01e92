"""Embed stage vs raw sentence-transformers on the same chunks (target: the stage at >= 0.9x raw throughput).

    .venv/bin/python -m eval.bench.embed                       # 512 chunks of the test corpus, 3 runs a side
    .venv/bin/python -m eval.bench.embed --chunks 2000 --reps 5 --json embed.json

Sides, interleaved run by run and reported as the median:
  raw          SentenceTransformer(model).encode(texts, batch_size, normalize_embeddings=True): the floor
  stage        pipelines.stages.embed_chunks(nodes, Embedder(cache off)): what `vetted ingest` runs
  llama_index  HuggingFaceEmbedding.get_text_embedding_batch: the path Embedder bypasses (for contrast)
Then the stage once more with the embedding cache warm (every chunk seen before), as a re-run would find it.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path

from eval.bench import common

TARGET_RATIO = 0.9


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__)
    p.add_argument("--chunks", type=int, default=512, help="how many chunks (the corpus's first N)")
    args = p.parse_args(argv)

    from sentence_transformers import SentenceTransformer

    from curation.sources import load_registry
    from pipelines import stages
    from pipelines.core.embedding import Embedder

    corpus = common.corpus(args.corpus)
    settings = common.settings_for(Path(tempfile.mkdtemp(prefix="bench-embed-")), corpus)
    embedder = Embedder(device=settings.embedding.device, batch_size=settings.embedding.batch_size)
    loaded = stages.load_documents(
        corpus, load_registry(settings.resolve(settings.paths.sources_file)), settings.curation
    )
    nodes = stages.chunk_documents(loaded.documents, embedder, settings)[: args.chunks]
    texts = [n.text for n in nodes]
    raw = SentenceTransformer(str(embedder.model_dir), device=embedder.device)
    batch = embedder.batch_size

    def run_raw() -> None:
        raw.encode(texts, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True)

    def run_stage() -> None:
        stages.embed_chunks(nodes, embedder)  # overwrites each node's vector: no copy needed

    def run_llama() -> None:
        embedder.llama_embedding.get_text_embedding_batch(texts)

    with tempfile.TemporaryDirectory() as cache_dir:
        cached = Embedder(device=embedder.device, batch_size=batch, cache_path=Path(cache_dir) / "e.sqlite")

        def run_stage_cached() -> None:
            stages.embed_chunks(nodes, cached)

        for warm_up in (run_raw, run_stage, run_llama, run_stage_cached):  # loads kernels; fills the cache
            warm_up()
        sides = {
            "raw": run_raw,
            "stage": run_stage,
            "llama_index": run_llama,
            "stage_cache_warm": run_stage_cached,
        }
        timings = common.alternate(sides, args.reps)
    raw_t, stage_t = timings["raw"], timings["stage"]
    ratio_wall, ratio_cpu = raw_t.wall_s / stage_t.wall_s, raw_t.cpu_s / stage_t.cpu_s
    print(f"{len(texts)} chunks, batch {batch}, device {embedder.device}, {args.reps} runs a side (medians)")
    print(f"  {'side':17s} {'wall s':>8s} {'CPU s':>8s} {'chunks/s':>9s} {'vs raw':>7s} {'spread':>7s}")
    for side, t in timings.items():
        speed, vs_raw = len(texts) / t.wall_s, raw_t.wall_s / t.wall_s
        print(f"  {side:17s} {t.wall_s:8.3f} {t.cpu_s:8.3f} {speed:9.1f} {vs_raw:6.2f}x {t.spread:6.0%}")
    verdict = "ok" if min(ratio_wall, ratio_cpu) >= TARGET_RATIO else "BELOW TARGET"
    ratios = f"{ratio_wall:.3f}x wall, {ratio_cpu:.3f}x CPU"
    print(f"stage / raw throughput: {ratios} (target {TARGET_RATIO}x): {verdict}")
    common.report(
        "embed",
        {"chunks": len(texts), "batch_size": batch, "reps": args.reps,
         "timings": {side: asdict(t) for side, t in timings.items()},
         "ratio_stage_vs_raw_wall": ratio_wall, "ratio_stage_vs_raw_cpu": ratio_cpu},
        args.json,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
