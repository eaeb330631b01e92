"""The one owner of the index format: pipelines write through it, serving reads through it.

A build lives in `index/<build-id>/`: LlamaIndex's storage (docstore + a FAISS IndexIDMap2 over inner-product
on normalised vectors, i.e. cosine), `chunks.parquet`, and `manifest.json` (model, dimension, document
hashes). `index/CURRENT` names the build in use and is swapped atomically (write, fsync, rename), so a crash
mid-build never leaves a half-written index in use. Only safe chunks are ever written.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from llama_index.core import StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.schema import BaseNode, TextNode
from llama_index.vector_stores.faiss import FaissMapVectorStore

from pipelines.fsio import atomic_write_json, atomic_write_text, fsync_path

CURRENT = "CURRENT"


class SafeFaissStore(FaissMapVectorStore):
    """FaissMapVectorStore with ids that never repeat.

    Upstream gives a new vector the id `ntotal`; after a delete that id can already be taken, and
    IndexIDMap2 would then hold two vectors under one id. Steward overrides delete and add, so ids here come
    from a counter past the largest id ever used.
    """

    def add(self, nodes: list[BaseNode], **add_kwargs: Any) -> list[str]:
        if not nodes:
            return []
        start = max(self._faiss_id_to_node_id_map, default=-1) + 1
        ids = np.arange(start, start + len(nodes), dtype=np.int64)
        vectors = np.asarray([n.get_embedding() for n in nodes], dtype="float32")
        self._faiss_index.add_with_ids(vectors, ids)  # one call for the batch, not one per node
        for faiss_id, node in zip(ids.tolist(), nodes, strict=True):
            self._node_id_to_faiss_id_map[node.id_] = faiss_id
            self._faiss_id_to_node_id_map[faiss_id] = node.id_
        return [n.id_ for n in nodes]


@dataclass(slots=True)
class BuildInfo:
    build_id: str
    path: Path
    n_chunks: int
    n_documents: int
    seconds: float


def index_root(work_dir: Path) -> Path:
    return work_dir / "index"


def current_build(work_dir: Path) -> Path | None:
    pointer = index_root(work_dir) / CURRENT
    if not pointer.exists():
        return None
    build = index_root(work_dir) / pointer.read_text(encoding="utf-8").strip()
    return build if build.is_dir() else None


def write_build(
    work_dir: Path,
    nodes: list[TextNode],
    *,
    dimension: int,
    model: str,
    doc_hashes: dict[str, str],
    settings: dict[str, object],
    keep_builds: int = 3,
) -> BuildInfo:
    """Write a new build from embedded safe chunks and make it current."""
    start = time.perf_counter()
    root = index_root(work_dir)
    build_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    tmp = root / f".{build_id}.partial"
    tmp.mkdir(parents=True)
    store = SafeFaissStore(faiss_index=faiss.IndexIDMap2(faiss.IndexFlatIP(dimension)))
    storage = StorageContext.from_defaults(vector_store=store)
    VectorStoreIndex(nodes=nodes, storage_context=storage, embed_model=None, show_progress=False)
    storage.persist(persist_dir=str(tmp))
    _write_chunk_table(tmp / "chunks.parquet", nodes)
    atomic_write_json(
        tmp / "manifest.json",
        {
            "build_id": build_id,
            "created": time.time(),
            "embedding_model": model,
            "dimension": dimension,
            "metric": "inner_product_on_normalised_vectors",
            "n_chunks": len(nodes),
            "n_documents": len(doc_hashes),
            "document_hashes": doc_hashes,
            "settings": settings,
            "tiers_indexed": ["safe"],
        },
    )
    for f in tmp.iterdir():
        fsync_path(f)
    final = root / build_id
    tmp.rename(final)
    atomic_write_text(root / CURRENT, build_id + "\n")
    _prune(root, keep=keep_builds)
    return BuildInfo(build_id, final, len(nodes), len(doc_hashes), time.perf_counter() - start)


def _write_chunk_table(path: Path, nodes: list[TextNode]) -> None:
    table = pa.table(
        {
            "node_id": [n.node_id for n in nodes],
            "doc_id": [n.metadata["doc_id"] for n in nodes],
            "chunk_no": [int(n.metadata.get("chunk_no", 0)) for n in nodes],
            "title": [n.metadata.get("title", "") for n in nodes],
            "source": [n.metadata.get("source", "") for n in nodes],
            "path": [n.metadata.get("path", "") for n in nodes],
            "text": [n.text for n in nodes],
        }
    )
    pq.write_table(table, path)


def _prune(root: Path, *, keep: int) -> None:
    current = (root / CURRENT).read_text(encoding="utf-8").strip()
    builds = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in builds[:-keep]:
        if old.name != current:
            shutil.rmtree(old, ignore_errors=True)


def read_manifest(build: Path) -> dict[str, Any]:
    return json.loads((build / "manifest.json").read_text(encoding="utf-8"))


def load_index(build: Path, embed_model: Any) -> VectorStoreIndex:
    """Open a build for querying (LlamaIndex over the FAISS store)."""
    store = SafeFaissStore.from_persist_dir(str(build))
    storage = StorageContext.from_defaults(vector_store=store, persist_dir=str(build))
    index = load_index_from_storage(storage, embed_model=embed_model)
    assert isinstance(index, VectorStoreIndex)
    return index
