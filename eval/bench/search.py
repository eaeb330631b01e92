"""FAISS search through the service retriever vs raw faiss, per question, on the curated test-corpus index.

    .venv/bin/python -m eval.bench.search            # the Python FAQ questions (~180), 3 runs a side
    .venv/bin/python -m eval.bench.search --reps 5 --json search.json

Sides, interleaved and reported as the median per question:
  service      SafeRetriever.retrieve(question): query embedding, FAISS, hit rows from chunks.sqlite, floor,
               tiers
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
    from pipelines.core.index_files import current_build, read_faiss
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

    service()  # warm-up: tokenizer caches, chunk rows, tier table
    raw()
    timings = common.alternate({"service": service, "raw": raw, "faiss_only": faiss_only}, args.reps)
    n = len(questions)
    ms = {side: {"wall": 1000 * t.wall_s / n, "cpu": 1000 * t.cpu_s / n} for side, t in timings.items()}
    ratio_wall = ms["raw"]["wall"] / ms["service"]["wall"]
    ratio_cpu = ms["raw"]["cpu"] / ms["service"]["cpu"]
    print(f"{n} questions, {index.ntotal} vectors (dim {index.d}), k={k}, {args.reps} runs a side (medians)")
    print(f"  {'side':11s} {'wall ms/q':>10s} {'CPU ms/q':>9s} {'spread':>7s}")
    for side, t in timings.items():
        print(f"  {side:11s} {ms[side]['wall']:10.3f} {ms[side]['cpu']:9.3f} {t.spread:6.0%}")
    print(f"raw / service time: {ratio_wall:.3f}x wall, {ratio_cpu:.3f}x CPU")
    common.report(
        "search",
        {"questions": n, "vectors": index.ntotal, "k": k, "reps": args.reps, "ms_per_question": ms,
         "spread": {side: t.spread for side, t in timings.items()},
         "ratio_raw_vs_service_wall": ratio_wall, "ratio_raw_vs_service_cpu": ratio_cpu},
        args.json,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
