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
    from pipelines.embedding import Embedder

    corpus = common.corpus(args.corpus)
    settings = common.settings_for(Path(tempfile.mkdtemp(prefix="bench-embed-")), corpus)
    embedder = Embedder(device=settings.embedding.device, batch_size=settings.embedding.batch_size)
    loaded = stages.load_documents(
        corpus, load_registry(settings.resolve(settings.paths.sources_file)), max_file_mb=64
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

    run_raw()  # warm-up: first calls load kernels and allocate
    run_stage()
    seconds = common.alternate({"raw": run_raw, "stage": run_stage, "llama_index": run_llama}, args.reps)
    with tempfile.TemporaryDirectory() as cache_dir:
        cached = Embedder(device=embedder.device, batch_size=batch, cache_path=Path(cache_dir) / "e.sqlite")
        stages.embed_chunks(nodes, cached)  # fills the cache
        seconds["stage_cache_warm"] = common.median_seconds(
            lambda: stages.embed_chunks(nodes, cached), args.reps
        )
    ratio = seconds["raw"] / seconds["stage"]
    print(f"{len(texts)} chunks, batch {batch}, device {embedder.device}")
    for side, s in seconds.items():
        print(f"  {side:17s} {s:8.3f} s  {len(texts) / s:8.1f} chunks/s  {seconds['raw'] / s:6.2f}x raw")
    verdict = "ok" if ratio >= TARGET_RATIO else "BELOW TARGET"
    print(f"stage / raw throughput: {ratio:.3f}x (target >= {TARGET_RATIO}x): {verdict}")
    common.report(
        "embed",
        {"chunks": len(texts), "batch_size": batch, "seconds": seconds, "ratio_stage_vs_raw": ratio},
        args.json,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
