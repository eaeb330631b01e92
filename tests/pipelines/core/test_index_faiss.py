"""The index by size: flat under the threshold, IVF above it (trained on a seeded sample, recall measured
against exact search and recorded), derived builds on an IVF, hit rows read lazily, bad settings refused."""

from __future__ import annotations

import json

import faiss
import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError

from pipelines.core import index_faiss
from pipelines.core.index_files import chunk_vectors, current_build, read_faiss, read_manifest
from pipelines.core.index_reader import OpenBuild
from pipelines.core.index_store import remove_documents, reusable_documents, write_build_arrays
from pipelines.core.settings import IndexSettings, load_settings

DIM = 32
SMALL_FLAT = IndexSettings(flat_max_vectors=1_000, ivf_nprobe=8)  # a few thousand vectors get an IVF


def clustered(n: int, seed: int = 7) -> np.ndarray:
    """Unit vectors around 50 centres, as chunk embeddings cluster by topic."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((50, DIM)).astype("float32")
    x = centres[rng.integers(0, 50, n)] + 0.3 * rng.standard_normal((n, DIM)).astype("float32")
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def rows(n: int, start: int = 0) -> pa.Table:
    ids = range(start, start + n)
    return pa.table(
        {
            "node_id": [f"n{i}" for i in ids],
            "doc_id": [f"d{i // 10}" for i in ids],
            "chunk_no": [i % 10 for i in ids],
            "title": [f"doc {i // 10}" for i in ids],
            "source": ["bench"] * n,
            "path": [f"docs/{i // 10}.txt" for i in ids],
            "location": pa.array([None] * n, pa.string()),
            "text": [f"chunk text {i}" for i in ids],
        }
    )


def build(tmp_path, n: int, settings: IndexSettings):
    table = rows(n)
    hashes = {d: "h" for d in set(table["doc_id"].to_pylist())}
    return write_build_arrays(
        tmp_path, table, clustered(n), model="random", doc_hashes=hashes, settings={}, index=settings
    )


def test_the_index_kind_follows_the_vector_count():
    assert index_faiss.choose_spec(999, SMALL_FLAT) == {"kind": "flat"}
    spec = index_faiss.choose_spec(4_000, SMALL_FLAT)
    assert spec["kind"] == "ivf" and spec["nlist"] == round(4 * 4_000**0.5) and spec["nprobe"] == 8
    assert index_faiss.choose_spec(4_000, IndexSettings(kind="flat")) == {"kind": "flat"}


def test_an_ivf_build_records_its_parameters_and_measured_recall(tmp_path):
    info = build(tmp_path, 4_000, SMALL_FLAT)
    spec = read_manifest(info.path)["index"]
    assert spec["kind"] == "ivf" and spec["nlist"] == 253 and spec["nprobe"] == 8
    assert spec["queries"] == 200 and 0.9 <= spec["recall_at_10"] <= 1.0
    index = read_faiss(info.path)
    assert isinstance(index, faiss.IndexIVFFlat) and index.nprobe == 8 and index.ntotal == 4_000
    # the same vectors and seed give the same cells and the same recall
    again = build(tmp_path / "again", 4_000, SMALL_FLAT)
    assert read_manifest(again.path)["index"]["recall_at_10"] == spec["recall_at_10"]


def test_a_flat_build_is_exact(tmp_path):
    info = build(tmp_path, 500, SMALL_FLAT)
    assert read_manifest(info.path)["index"] == read_manifest(info.path)["index"] | {
        "kind": "flat", "recall_at_10": 1.0
    }  # fmt: skip
    assert isinstance(read_faiss(info.path), faiss.IndexIDMap2)


def test_derived_builds_remove_and_keep_vectors_of_an_ivf(tmp_path):
    first = build(tmp_path, 4_000, SMALL_FLAT)
    chunks, vectors = chunk_vectors(first.path)
    info = remove_documents(tmp_path, ["d0", "d1"])
    new = current_build(tmp_path)
    assert new == info.path != first.path and info.n_chunks == 3_980 == read_faiss(new).ntotal
    manifest = read_manifest(new)
    assert manifest["index"]["kind"] == "ivf" and 0.9 <= manifest["index"]["recall_at_10"] <= 1.0
    # a removed chunk's own vector no longer finds it; a kept one still finds itself first
    found = OpenBuild(new).search(vectors[[0, 500]], 5)
    assert all(row["doc_id"] not in {"d0", "d1"} for _, row in found[0])
    assert found[1][0][1]["node_id"] == chunks["node_id"][500].as_py()
    kept, kept_vectors = chunk_vectors(new)
    assert np.allclose(kept_vectors, vectors[20:])  # rows and vectors still line up by faiss id


def test_opening_a_build_reads_only_the_hit_rows(tmp_path):
    info = build(tmp_path, 4_000, SMALL_FLAT)
    (info.path / "chunks.parquet").unlink()  # the table of record is not what a reader opens
    opened = OpenBuild(info.path)
    hits = opened.search(clustered(4_000)[[42]], 3)[0]
    best = hits[0][1]
    assert (best["faiss_id"], best["node_id"], best["doc_id"], best["text"]) == (
        42,
        "n42",
        "d4",
        "chunk text 42",
    )
    assert len(hits) == 3 and hits[0][0] == pytest.approx(1.0, abs=1e-5)


def test_bad_index_settings_fail_with_what_to_change(tmp_path):
    with pytest.raises(ValueError, match="lower index.ivf_nlist"):
        index_faiss.choose_spec(100, IndexSettings(kind="ivf", ivf_nlist=500))
    with pytest.raises(ValueError, match="lower index.ivf_nlist"):
        build(tmp_path, 100, IndexSettings(kind="ivf", ivf_nlist=500))
    assert not (tmp_path / "index").exists() or current_build(tmp_path) is None  # nothing was written
    with pytest.raises(ValidationError, match="kind"):
        load_settings(None, {"index.kind": "hnsw"})


def test_a_build_of_the_old_format_asks_for_a_new_ingest(tmp_path):
    info = build(tmp_path, 500, SMALL_FLAT)
    manifest = read_manifest(info.path)
    del manifest["format"]  # what a format-1 build (LlamaIndex docstore.json) carries
    (info.path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(RuntimeError, match="older format: run `vetted ingest`"):
        OpenBuild(info.path)
    with pytest.raises(RuntimeError, match="older format"):
        remove_documents(tmp_path, ["d0"])
    hashes = manifest["document_hashes"]
    assert reusable_documents(tmp_path, model="random", settings={}, doc_hashes=hashes) == (None, set())
