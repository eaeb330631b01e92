"""FAISS search through the service retriever vs raw faiss, per question, on the curated test-corpus index.

    .venv/bin/python -m eval.bench.search            # the Python FAQ questions (~180), 3 runs a side
    .venv/bin/python -m eval.bench.search --reps 5 --json search.json

Sides, interleaved and reported as the median per question:
  service      SafeRetriever.retrieve(question): LlamaIndex query embedding, FAISS, docstore, floor, tiers
  raw          SentenceTransformer.encode([question]) + faiss index.search(k): the same work, no framework
  faiss_only   index.search(k) on vectors embedded beforehand: FAISS itself
Both ask for the same k (top_k * 3 chunks, as the service does before its floor and tier check).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from eval.bench import common


def main(argv: list[str] | None = None) -> int:
    args = common.parser(__doc__).parse_args(argv)

    from eval.build_qa import python_faq_pairs
    from eval.harness import EvalContext
    from pipelines.index_store import current_build, read_faiss
    from serving.retriever import SafeRetriever

    corpus = common.corpus(args.corpus)
    settings = common.settings_for(Path(tempfile.mkdtemp(prefix="bench-search-")), corpus)
    ctx = EvalContext.from_settings(settings, common.REPO / ".cache" / "eval-work")
    work = ctx.workdir(corpus, "curated")
    questions = [p.question for p in python_faq_pairs(corpus)]
    r = settings.retrieval
    retriever = SafeRetriever(work.path, ctx.embedder, top_k=r.top_k, min_similarity=r.min_similarity)
    build = current_build(work.path)
    assert build is not None
    index = read_faiss(build)
    model = ctx.embedder.sentence_transformer
    k = r.top_k * 3
    vectors = np.asarray(model.encode(questions, normalize_embeddings=True), dtype="float32")

    def service() -> None:
        for q in questions:
            retriever.retrieve(q)

    def raw() -> None:
        for q in questions:
            index.search(np.asarray(model.encode([q], normalize_embeddings=True), dtype="float32"), k)

    def faiss_only() -> None:
        for row in range(len(vectors)):
            index.search(vectors[row : row + 1], k)

    service()  # warm-up: tokenizer caches, docstore, tier table
    raw()
    seconds = common.alternate({"service": service, "raw": raw, "faiss_only": faiss_only}, args.reps)
    per_q_ms = {side: 1000 * s / len(questions) for side, s in seconds.items()}
    ratio = per_q_ms["raw"] / per_q_ms["service"]
    print(f"{len(questions)} questions, {index.ntotal} vectors (dim {index.d}), k={k}")
    for side, ms in per_q_ms.items():
        print(f"  {side:11s} {ms:8.3f} ms/question")
    print(f"raw / service time: {ratio:.3f}x (the service takes {1 / ratio:.2f}x the raw time)")
    common.report(
        "search",
        {"questions": len(questions), "vectors": index.ntotal, "k": k, "ms_per_question": per_q_ms,
         "ratio_raw_vs_service": ratio},
        args.json,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
