"""Where a build's files are and how they are read: the layout of `index/` that pipelines.core.index_store
writes, and the read side every reader shares (serving's retriever, the steward pages, the evaluation, the
fine-tune data builder). Nothing here writes: a reader can never take the writers' lock by accident.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from llama_index.core.schema import TextNode

from curation.layout import WorkLayout
from pipelines.core import index_faiss

CURRENT = "CURRENT"
LOCK = ".lock"
HISTORY = "history.jsonl"  # one line per build made current, kept after old builds are pruned
FAISS_FILE = "index.faiss"
CHUNKS_FILE = "chunks.parquet"
ROWS_FILE = "chunks.sqlite"
FORMAT = 2  # manifest "format": 2 = index.faiss + chunks.sqlite (1 was LlamaIndex's docstore.json)


def index_root(work_dir: Path) -> Path:
    return WorkLayout(work_dir).index_dir


def current_build(work_dir: Path) -> Path | None:
    pointer = index_root(work_dir) / CURRENT
    if not pointer.exists():
        return None
    build = index_root(work_dir) / pointer.read_text(encoding="utf-8").strip()
    return build if build.is_dir() else None


def read_history(work_dir: Path) -> list[dict[str, Any]]:
    """Every build made current, oldest first (index/history.jsonl); a torn last line is skipped."""
    path = index_root(work_dir) / HISTORY
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return entries


def pointer_stamp(work_dir: Path) -> tuple[int, int] | None:
    """Identity of index/CURRENT (inode, mtime): one stat tells a reader that another build was swapped in."""
    try:
        st = os.stat(index_root(work_dir) / CURRENT)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def read_chunks(build: Path, columns: list[str] | None = None) -> pa.Table:
    return pq.read_table(build / CHUNKS_FILE, columns=columns)


def read_manifest(build: Path) -> dict[str, Any]:
    return json.loads((build / "manifest.json").read_text(encoding="utf-8"))


def check_format(build: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest, when the build is of the format this code reads and writes."""
    if manifest.get("format") != FORMAT:
        raise RuntimeError(f"index build {build.name} is an older format: run `vetted ingest` to rebuild it")
    return manifest


def faiss_file(build: Path) -> Path:
    return build / FAISS_FILE


def read_faiss(build: Path, *, mmap: bool = False, manifest: dict[str, Any] | None = None) -> faiss.Index:
    """The raw FAISS index of a build, with the search parameters its manifest recorded.

    mmap=True maps the vectors and pages them in as searches touch them: a flat index's with
    IO_FLAG_MMAP_IFC, an IVF's inverted lists with IO_FLAG_MMAP (which maps only IVF lists; it cannot
    combine with the other, faiss reads one or the other), both read-only.
    """
    spec = (manifest or read_manifest(build)).get("index", {"kind": "flat"})
    flags = 0
    if mmap:
        flags = faiss.IO_FLAG_MMAP if spec["kind"] == "ivf" else faiss.IO_FLAG_MMAP_IFC
        flags |= faiss.IO_FLAG_READ_ONLY
    index = faiss.read_index(str(faiss_file(build)), flags)
    index_faiss.tune(index, spec)
    return index


def chunk_vectors(build: Path) -> tuple[pa.Table, np.ndarray]:
    """A build's chunks with their vectors, row for row (float32, normalised: dot product = cosine), by
    each row's faiss_id, so the rows line up after overrides deleted and added vectors."""
    chunks = read_chunks(build)
    index = read_faiss(build)
    return chunks, index_faiss.all_vectors(index, np.asarray(chunks["faiss_id"], dtype=np.int64))


def chunk_table(nodes: list[TextNode]) -> pa.Table:
    """What chunks.parquet holds: one row per embedded chunk (its `faiss_id` is added when it is written)."""
    return pa.table(
        {
            "node_id": [n.node_id for n in nodes],
            "doc_id": [n.metadata["doc_id"] for n in nodes],
            "chunk_no": [int(n.metadata.get("chunk_no", 0)) for n in nodes],
            "title": [n.metadata.get("title", "") for n in nodes],
            "source": [n.metadata.get("source", "") for n in nodes],
            "path": [n.metadata.get("path", "") for n in nodes],
            "location": pa.array([n.metadata.get("location") for n in nodes], pa.string()),
            "text": [n.text for n in nodes],
        }
    )
