"""Embedding backends side by side on the same real chunks: speed vs raw torch, cosine to torch, FAQ recall@5.

    .venv/bin/python -m eval.bench.embed_backends          # 512 chunks of the test corpus, 3 runs a side
    .venv/bin/python -m eval.bench.embed_backends --chunks 1000 --reps 5 --json backends.json

Sides, interleaved run by run and reported as the median (one process, one machine, the same chunks):
  raw_torch    SentenceTransformer(model).encode(texts, batch_size, normalize_embeddings=True): the baseline
  torch        Embedder(backend="torch"), cache off: what `vetted ingest` ran before the ONNX backends
  onnx         Embedder(backend="onnx"): the model exported to ONNX (fused), fp32, in onnxruntime
  onnx-int8    Embedder(backend="onnx-int8"): the same with dynamic int8 weights (what `auto` picks on CPU)
Quality: mean and min cosine of each side's vectors to raw torch's; Python FAQ recall@5, ranking the
documents of the timed chunks (the FAQ pages' chunks first, so every gold page is in the pool) by each
question's best chunk cosine, with questions and chunks embedded by the same side.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from eval.bench import common

TARGET_RATIO = 2.0  # issue 15: the embed stage >= 2x raw torch on this CPU
TARGET_COSINE = 0.98
TARGET_RECALL_DROP = 0.01
BACKENDS = ("torch", "onnx", "onnx-int8")


def recall_at_5(
    question_vecs: np.ndarray, gold: list[str], chunk_vecs: np.ndarray, paths: list[str]
) -> float:
    """Share of questions whose gold document is among the five documents of their best chunks."""
    hits = 0
    for q, doc in zip(question_vecs, gold, strict=True):
        ranked: list[str] = []
        for i in np.argsort(-(chunk_vecs @ q), kind="stable"):
            if paths[i] not in ranked:
                ranked.append(paths[i])
            if len(ranked) == 5:
                break
        hits += doc in ranked
    return hits / len(gold)


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__)
    p.add_argument("--chunks", type=int, default=512, help="how many chunks (the FAQ pages' first)")
    args = p.parse_args(argv)

    from sentence_transformers import SentenceTransformer

    from curation.sources import load_registry
    from eval.build_qa import python_faq_pairs
    from pipelines import stages
    from pipelines.core.embedding import Embedder

    corpus = common.corpus(args.corpus)
    work = Path(tempfile.mkdtemp(prefix="bench-embed-backends-"))
    settings = common.settings_for(work, corpus)
    batch = settings.embedding.batch_size
    embedders = {
        b: Embedder(device="cpu", batch_size=batch, backend=b, export_dir=work / "models") for b in BACKENDS
    }
    loaded = stages.load_documents(
        corpus, load_registry(settings.resolve(settings.paths.sources_file)), settings.curation
    )
    nodes = stages.chunk_documents(loaded.documents, embedders["torch"], settings)
    pairs = python_faq_pairs(corpus)
    gold = {pair.doc for pair in pairs}
    nodes = sorted(nodes, key=lambda n: n.metadata["path"] not in gold)[: args.chunks]  # stable: FAQ first
    texts, paths = [n.text for n in nodes], [str(n.metadata["path"]) for n in nodes]
    raw = SentenceTransformer(str(embedders["torch"].model_dir), device="cpu", local_files_only=True)

    vectors: dict[str, np.ndarray] = {}

    def run_raw() -> None:
        vectors["raw_torch"] = raw.encode(texts, batch_size=batch, normalize_embeddings=True)

    def side(backend: str):  # type: ignore[no-untyped-def]
        def run() -> None:
            vectors[backend] = embedders[backend].encode(texts)

        return run

    sides = {"raw_torch": run_raw} | {b: side(b) for b in BACKENDS}
    for warm_up in sides.values():  # loads kernels; exports the ONNX models once (not timed)
        warm_up()
    timings = common.alternate(sides, args.reps)

    questions = [pair.question for pair in pairs]
    raw_q = raw.encode(questions, batch_size=batch, normalize_embeddings=True)
    in_pool = [i for i, pair in enumerate(pairs) if pair.doc in paths]
    golds = [pairs[i].doc for i in in_pool]
    base = vectors["raw_torch"]
    rows: dict[str, dict[str, float]] = {}
    for name, t in timings.items():
        q = raw_q if name == "raw_torch" else embedders[name].encode(questions)
        cosine = (vectors[name] * base).sum(axis=1)
        rows[name] = {
            "chunks_per_s": len(texts) / t.wall_s,
            "vs_raw_torch": timings["raw_torch"].wall_s / t.wall_s,
            "cpu_vs_raw_torch": timings["raw_torch"].cpu_s / t.cpu_s,
            "mean_cosine_to_torch": float(cosine.mean()),
            "min_cosine_to_torch": float(cosine.min()),
            "faq_recall_at_5": recall_at_5(q[in_pool], golds, vectors[name], paths),
        }
    print(f"{len(texts)} chunks, {len(golds)} FAQ questions, batch {batch}, CPU, {args.reps} runs a side")
    head = ("side", "chunks/s", "vs raw", "CPU vs", "cos mean", "cos min", "R@5")
    print("  {:10s} {:>9s} {:>7s} {:>7s} {:>9s} {:>8s} {:>6s}".format(*head))
    for name, r in rows.items():
        print(
            f"  {name:10s} {r['chunks_per_s']:9.1f} {r['vs_raw_torch']:6.2f}x {r['cpu_vs_raw_torch']:6.2f}x "
            f"{r['mean_cosine_to_torch']:9.4f} {r['min_cosine_to_torch']:8.4f} {r['faq_recall_at_5']:6.3f}"
        )
    int8 = rows["onnx-int8"]
    ok = (
        int8["vs_raw_torch"] >= TARGET_RATIO
        and int8["mean_cosine_to_torch"] >= TARGET_COSINE
        and rows["raw_torch"]["faq_recall_at_5"] - int8["faq_recall_at_5"] <= TARGET_RECALL_DROP
    )
    print(f"onnx-int8 vs goals (>= {TARGET_RATIO}x, cosine >= {TARGET_COSINE}, recall@5 drop <= "
          f"{TARGET_RECALL_DROP}): {'ok' if ok else 'BELOW TARGET'}")  # fmt: skip
    common.report(
        "embed_backends",
        {"chunks": len(texts), "faq_questions": len(golds), "batch_size": batch, "reps": args.reps,
         "sides": rows, "timings": {name: asdict(t) for name, t in timings.items()}, "meets_goals": ok},
        args.json,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
