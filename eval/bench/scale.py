"""The index at scale: build, open, memory and query time of an N-chunk build, through the service and raw.

    .venv/bin/python -m eval.bench.scale --chunks 100000 --json scale-100k.json
    .venv/bin/python -m eval.bench.scale --chunks 1000000 --json scale-1m.json

Vectors derived from real ones: a few thousand real chunks (Python FAQ answers and FOLDOC definitions, the
test corpus's sources) embedded with the real embedder, then N vectors made from them by seeded small
perturbations (noise of norm `--noise`, renormalised), each row carrying its source chunk's text, so the
index has real clusters and the rows real sizes. The build goes through `write_build_arrays` with
vetted.toml's [index] settings (flat or IVF by size). A child process then opens the build as the service
does and times, per Python FAQ question, interleaved:
  service    SafeRetriever.retrieve(question): query embedding, FAISS, hit rows, floor, tier check
  raw        embedder.encode([question]) + index.search(k) on the same FAISS object: the same model and index
             work with nothing around it
  faiss      index.search(k) alone, on the question vectors embedded beforehand
The child's open time and resident memory are its own (the build's memory stays in the parent).
recall_at_10 is the manifest's (stored vectors as queries against exact search); recall_at_10_questions is
the same on the real questions' vectors.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.layout import WorkLayout
from eval.bench import common

DOCS_PER_CHUNKS = 5  # synthetic rows per synthetic document (tier table size = N / 5)


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__)
    p.add_argument("--chunks", type=int, default=100_000, help="vectors in the build")
    p.add_argument("--base", type=int, default=2000, help="real chunks the vectors are derived from")
    # 0.7: a derived vector keeps cosine ~0.82 to its source, two of one source ~0.67, about what MiniLM
    # gives neighbouring real chunks, so a query's ten nearest cross sources and recall@10 is not trivial
    p.add_argument("--noise", type=float, default=0.7, help="norm of each vector's perturbation")
    p.add_argument("--seed", type=int, default=20261126)
    p.add_argument("--work", type=Path, help="work folder (default: a new temporary one)")
    p.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # the child's mode
    args = p.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.work, args.reps)))
        return 0
    return run(args)


def run(args: Any) -> int:
    from eval.build_qa import python_faq_pairs
    from pipelines.core.embedding import embedder_for
    from pipelines.core.index_files import read_faiss, read_manifest
    from pipelines.core.index_store import write_build_arrays

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    settings = common.settings_for(work, work, **{"embedding.cache": False})
    embedder = embedder_for(settings)
    texts = base_texts(args.base, args.seed)
    base = embedder.encode(texts)
    vectors = derived_vectors(base, args.chunks, args.noise, args.seed)
    rows = synthetic_rows(texts, args.chunks)
    write_documents(work, args.chunks)
    start = time.perf_counter()
    info = write_build_arrays(
        work, rows, vectors, model=embedder.model_label, doc_hashes=doc_hashes(args.chunks), settings={},
        index=settings.index,
    )  # fmt: skip
    build_s = time.perf_counter() - start
    del rows
    spec = read_manifest(info.path)["index"]
    questions = [q.question for q in python_faq_pairs()]
    k = settings.retrieval.top_k * 3
    qv = embedder.encode(questions)
    index = read_faiss(info.path)
    _, exact = faiss.knn(qv, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)  # ids = row numbers here
    _, found = index.search(qv, 10)
    recall_q = float(np.mean([len(set(e) & set(f)) / 10 for e, f in zip(exact, found, strict=True)]))
    del vectors, index
    command = [sys.executable, "-m", "eval.bench.scale", "--measure", "--work", str(work)]
    child = subprocess.run(
        [*command, "--reps", str(args.reps)], check=True, capture_output=True, text=True, cwd=common.REPO
    )
    served = json.loads(child.stdout.strip().splitlines()[-1])
    result = {
        "chunks": args.chunks,
        "index": spec,
        "build_s": build_s,
        "build_bytes": sum(f.stat().st_size for f in info.path.iterdir()),
        "recall_at_10": spec["recall_at_10"],
        "recall_at_10_questions": recall_q,
        "k": k,
        "questions": len(questions),
        "base_chunks": len(texts),
        "noise": args.noise,
        **served,
    }
    print(
        f"{args.chunks} chunks, {spec['kind']} index {spec}: build {build_s:.1f} s, "
        f"open {served['open_s']:.2f} s, "
        f"RSS {served['rss_mb']:.0f} MB; service p50 {served['query_p50_ms']:.2f} ms, p99 "
        f"{served['query_p99_ms']:.2f} ms; raw p50 {served['raw_p50_ms']:.2f} ms; faiss p50 "
        f"{served['faiss_p50_ms']:.3f} ms; raw/service {served['service_vs_raw_faiss']:.3f} wall, "
        f"{served['service_vs_raw_faiss_cpu']:.3f} CPU; recall@10 "
        f"{spec['recall_at_10']:.3f} (questions {recall_q:.3f})"
    )
    common.report("scale", result, args.json)
    return 0


def base_texts(n: int, seed: int) -> list[str]:
    """Real chunk-sized texts: every Python FAQ answer and a seeded sample of FOLDOC definitions."""
    from eval.build_qa import foldoc_pairs, python_faq_pairs

    faq = [f"{p.question}\n\n{p.answer}"[:1000] for p in python_faq_pairs()]
    foldoc = [p.answer[:1000] for p in foldoc_pairs()]
    rng = random.Random(seed)
    return faq + rng.sample(foldoc, max(0, min(len(foldoc), n - len(faq))))


def derived_vectors(base: np.ndarray, n: int, noise: float, seed: int) -> np.ndarray:
    """n unit vectors, row i = base[i % len(base)] moved by seeded noise of norm ~`noise`."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype="float32")
    step = 100_000  # bounded temporaries at a million rows
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        x = base[np.arange(lo, hi) % len(base)]
        x = x + rng.standard_normal(x.shape, dtype="float32") * (noise / np.sqrt(base.shape[1]))
        out[lo:hi] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def synthetic_rows(texts: list[str], n: int) -> pa.Table:
    i = np.arange(n)
    docs = pa.array([f"syn{d}" for d in (i // DOCS_PER_CHUNKS).tolist()])
    return pa.table(
        {
            "node_id": pa.array([f"n{j}" for j in i.tolist()]),
            "doc_id": docs,
            "chunk_no": pa.array(i % DOCS_PER_CHUNKS),
            "title": docs,
            "source": pa.array(["bench"] * n),
            "path": pa.array([f"bench/{d}.txt" for d in docs.to_pylist()]),
            "location": pa.nulls(n, pa.string()),
            "text": pa.array(texts).take(pa.array(i % len(texts))),
        }
    )


def doc_hashes(n: int) -> dict[str, str]:
    return {f"syn{d}": "bench" for d in range((n + DOCS_PER_CHUNKS - 1) // DOCS_PER_CHUNKS)}


def write_documents(work: Path, n: int) -> None:
    """The tier table the retriever checks every hit against: every synthetic document safe."""
    docs = list(doc_hashes(n))
    table = pa.table(
        {"doc_id": docs, "tier": ["safe"] * len(docs), "updated": pa.nulls(len(docs), pa.date32())}
    )
    layout = WorkLayout(work)
    layout.root.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, layout.documents)


def measure(work: Path, reps: int) -> dict[str, Any]:
    """The child's side: open as the service does, then time the questions three ways."""
    from eval.build_qa import python_faq_pairs
    from pipelines.core.embedding import embedder_for
    from serving.retriever import SafeRetriever

    settings = common.settings_for(work, work, **{"embedding.cache": False})
    embedder = embedder_for(settings)
    questions = [q.question for q in python_faq_pairs()]
    embedder.encode(questions[:2])  # the model loaded before the clock: open times the index, not ONNX
    rss_before = rss_mb()
    start = time.perf_counter()
    r = settings.retrieval
    retriever = SafeRetriever(
        work, embedder, top_k=r.top_k, min_similarity=r.min_similarity,
        search_threads=settings.index.search_threads,
    )  # fmt: skip
    open_s = time.perf_counter() - start
    rss_open = rss_mb()
    start = time.perf_counter()
    retriever.retrieve(questions[0])  # the first question reads the tier table
    first_ms = 1000 * (time.perf_counter() - start)
    index, k = retriever.opened.index, r.top_k * 3
    qv = embedder.encode(questions)
    sides = {
        "service": lambda j: retriever.retrieve(questions[j]),
        "raw": lambda j: index.search(embedder.encode([questions[j]]), k),
        "faiss": lambda j: index.search(qv[j : j + 1], k),
    }
    ms: dict[str, list[float]] = {name: [] for name in sides}
    cpu_s = dict.fromkeys(sides, 0.0)  # this process's CPU: steadier than wall time on a shared machine
    for rep in range(reps):
        for j in range(len(questions)):
            names = list(sides)
            for name in names[(rep + j) % 3 :] + names[: (rep + j) % 3]:  # rotate who goes first
                t, c = time.perf_counter(), time.process_time()
                sides[name](j)
                ms[name].append(1000 * (time.perf_counter() - t))
                cpu_s[name] += time.process_time() - c
    out: dict[str, Any] = {
        "open_s": open_s,
        "first_query_ms": first_ms,
        "rss_mb": rss_mb(),
        "rss_open_mb": rss_open,
        "rss_model_mb": rss_before,
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so it would be the parent's build
        "peak_rss_mb": rss_mb("VmHWM"),
        "reps": reps,
    }
    for name, values in ms.items():
        values.sort()
        out[f"{'query' if name == 'service' else name}_p50_ms"] = statistics.median(values)
        out[f"{'query' if name == 'service' else name}_p99_ms"] = values[int(0.99 * (len(values) - 1))]
    out["service_vs_raw_faiss"] = statistics.fmean(ms["raw"]) / statistics.fmean(ms["service"])
    out["service_vs_raw_faiss_cpu"] = cpu_s["raw"] / cpu_s["service"]
    out["cpu_ms_per_query"] = {name: 1000 * c / len(ms[name]) for name, c in cpu_s.items()}
    return out


def rss_mb(field: str = "VmRSS") -> float:
    """Resident memory now (VmRSS) or at its peak (VmHWM): mmapped index pages count once touched."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    raise SystemExit(main())
