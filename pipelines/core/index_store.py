"""The one owner of the index format: pipelines write through it, serving reads through it.

A build lives in `index/<build-id>/`: LlamaIndex's storage (docstore + a FAISS IndexIDMap2 over inner-product
on normalised vectors, i.e. cosine), `chunks.parquet`, and `manifest.json` (model, dimension, document
hashes). `index/CURRENT` names the build in use and is swapped atomically (write, fsync, rename), so a crash
mid-build never leaves a half-written index in use. Only safe chunks are ever written.

A steward's override changes the index at once without touching the build in use: `remove_documents` and
`add_documents` derive a NEW build from the current one and swap CURRENT. Writers take `index/.lock` (flock),
so two updates never both derive from the same build and lose one another's change.

An incremental run derives its build the same way (`update_build`): the documents whose redacted text the
build in service already holds, under the same model and chunking settings (`reusable_documents`), keep their
chunks and vectors; the others' leave and the run's new chunks come in. When nothing would change, the run
keeps the build in service and writes none.

Every writer takes `recorder=` (a stage's `st.io`): the fsyncs and our own writes of the commit (manifest,
each file, the CURRENT swap) are counted there; None counts nothing.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from llama_index.core import MockEmbedding, StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.schema import BaseNode, TextNode
from llama_index.vector_stores.faiss import FaissMapVectorStore

from curation.layout import WorkLayout, time_ordered_id
from pipelines.observability.fsio import atomic_write_json, atomic_write_text, fsync_path
from pipelines.observability.recorder import IoRecorder

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
LOCK = ".lock"
HISTORY = "history.jsonl"  # one line per build made current, kept after old builds are pruned
FAISS_FILE = "default__vector_store.json"  # LlamaIndex's name for the FAISS file: binary, not JSON


class SafeFaissStore(FaissMapVectorStore):
    """FaissMapVectorStore with ids that never repeat.

    Upstream gives a new vector the id `ntotal`; after a delete that id can already be taken, and
    IndexIDMap2 would then hold two vectors under one id. Steward overrides delete and add, so ids here come
    from a counter past the largest id ever used.
    """

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
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
    return WorkLayout(work_dir).index_dir


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
    recorder: IoRecorder | None = None,
) -> BuildInfo:
    """Write a new build from embedded safe chunks and make it current."""
    start = time.perf_counter()
    root = index_root(work_dir)
    build_id = _new_build_id()
    tmp = root / f".{build_id}.partial"
    tmp.mkdir(parents=True)
    # mypy reads the pydantic fields, not FaissMapVectorStore's own __init__(faiss_index=...)
    store = SafeFaissStore(faiss_index=faiss.IndexIDMap2(faiss.IndexFlatIP(dimension)))  # type: ignore[call-arg]
    storage = StorageContext.from_defaults(vector_store=store)
    # The nodes arrive embedded; the mock only stops LlamaIndex from resolving its default (OpenAI) model.
    embed = MockEmbedding(embed_dim=dimension)
    VectorStoreIndex(nodes=nodes, storage_context=storage, embed_model=embed, show_progress=False)
    storage.persist(persist_dir=str(tmp))
    pq.write_table(_chunk_table(nodes), tmp / "chunks.parquet")
    manifest = {
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
        "why": "run",
    }
    with _writer_lock(root):
        return _commit(root, tmp, manifest, keep_builds=keep_builds, start=start, recorder=recorder)


def remove_documents(
    work_dir: Path, doc_ids: Iterable[str], *, keep_builds: int = 3, recorder: IoRecorder | None = None
) -> BuildInfo:
    """A new build without these documents' chunks, made current (a steward rejected them)."""
    remove = set(doc_ids)
    return _derive(
        work_dir, leaving=lambda base, hashes: remove, nodes=[], doc_hashes={}, why="override",
        keep_builds=keep_builds, recorder=recorder,
    )  # fmt: skip


def add_documents(
    work_dir: Path,
    nodes: list[TextNode],
    doc_hashes: dict[str, str],
    *,
    keep_builds: int = 3,
    recorder: IoRecorder | None = None,
) -> BuildInfo:
    """A new build with these embedded chunks, made current (a steward approved their documents).

    Chunks the same documents already had are replaced, so approving twice never indexes a text twice.
    `doc_hashes` names every document the nodes belong to: {doc_id: content_hash}.
    """
    strays = {n.metadata["doc_id"] for n in nodes} - set(doc_hashes)
    if strays:
        raise ValueError(f"chunks of {sorted(strays)} have no content hash in doc_hashes")
    return _derive(
        work_dir,
        leaving=lambda base, hashes: set(doc_hashes),
        nodes=nodes,
        doc_hashes=doc_hashes,
        why="override",
        keep_builds=keep_builds,
        recorder=recorder,
    )


def reusable_documents(
    work_dir: Path, *, model: str, settings: dict[str, object], doc_hashes: dict[str, str]
) -> tuple[str | None, set[str]]:
    """(the build in service, the documents whose chunks and vectors it holds for exactly this text), or
    (None, empty) when there is no build or it was made with another model or other chunking settings."""
    build = current_build(work_dir)
    if build is None:
        return None, set()
    manifest = read_manifest(build)
    if manifest.get("embedding_model") != model or manifest.get("settings") != settings:
        return None, set()
    held = manifest["document_hashes"]
    return build.name, {d for d, h in doc_hashes.items() if held.get(d) == h}


def update_build(
    work_dir: Path,
    *,
    base_id: str,
    keep: set[str],
    nodes: list[TextNode],
    doc_hashes: dict[str, str],
    keep_builds: int = 3,
    recorder: IoRecorder | None = None,
) -> BuildInfo:
    """A run's build derived from `base_id`: the chunks of `keep` stay, every other document's leave, the
    embedded `nodes` of `doc_hashes`'s documents come in. With nothing to change, the base stays in service.

    Raises:
        RuntimeError: the build in service is no longer `base_id` (a steward's change landed during the
            run): nothing was written; run again.
    """
    base = current_build(work_dir)
    if base is not None and base.name == base_id and not nodes and not doc_hashes:
        held = read_manifest(base)
        if set(held["document_hashes"]) == keep:
            return BuildInfo(base.name, base, held["n_chunks"], held["n_documents"], 0.0)

    def leaving(base: Path, hashes: dict[str, str]) -> set[str]:
        if base.name != base_id or not keep <= set(hashes):
            raise RuntimeError(f"index build {base.name} replaced {base_id} during the run: run it again")
        return set(hashes) - keep

    return _derive(
        work_dir, leaving=leaving, nodes=nodes, doc_hashes=doc_hashes, why="run", keep_builds=keep_builds,
        recorder=recorder,
    )  # fmt: skip


def _derive(
    work_dir: Path,
    *,
    leaving: Callable[[Path, dict[str, str]], set[str]],
    nodes: list[TextNode],
    doc_hashes: dict[str, str],
    why: str,
    keep_builds: int,
    recorder: IoRecorder | None,
) -> BuildInfo:
    """Copy the current build's content into a new build, less the chunks of the documents `leaving`
    names (given the base and its document hashes, under the lock), plus `nodes`, and swap."""
    start = time.perf_counter()
    root = index_root(work_dir)
    with _writer_lock(root):
        base = current_build(work_dir)
        if base is None:
            raise FileNotFoundError(f"no index under {root}: run `vetted ingest` first")
        manifest = read_manifest(base)
        remove = leaving(base, manifest["document_hashes"])
        dimension = int(manifest["dimension"])
        for node in nodes:
            if node.embedding is None or len(node.embedding) != dimension:
                raise ValueError(f"chunk {node.node_id} needs a {dimension}-d embedding (embed it first)")
        chunks = pq.read_table(base / "chunks.parquet")
        leaving = pc.is_in(chunks["doc_id"], value_set=pa.array(sorted(remove), pa.string()))
        index = load_index(base, MockEmbedding(embed_dim=dimension))  # in memory: the base stays as it is
        index.delete_nodes(chunks.filter(leaving)["node_id"].to_pylist(), delete_from_docstore=True)
        for doc_id in remove:
            index.docstore.delete_ref_doc(doc_id, raise_error=False)
        if nodes:
            index.insert_nodes(nodes)
        build_id = _new_build_id()
        tmp = root / f".{build_id}.partial"
        tmp.mkdir()
        try:
            index.storage_context.persist(persist_dir=str(tmp))
            kept = chunks.filter(pc.invert(leaving))
            table = pa.concat_tables([kept, _chunk_table(nodes).cast(kept.schema)]) if nodes else kept
            pq.write_table(table, tmp / "chunks.parquet")
            hashes = {d: h for d, h in manifest["document_hashes"].items() if d not in remove} | doc_hashes
            manifest |= {
                "build_id": build_id,
                "created": time.time(),
                "n_chunks": table.num_rows,
                "n_documents": len(hashes),
                "document_hashes": hashes,
                "derived_from": base.name,
                "why": why,
                "change": {"removed": sorted(remove - set(doc_hashes)), "added": sorted(doc_hashes)},
            }
            return _commit(root, tmp, manifest, keep_builds=keep_builds, start=start, recorder=recorder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)  # CURRENT still names the base; no half build in use
            raise


def _new_build_id() -> str:
    return time_ordered_id()


@contextmanager
def _writer_lock(root: Path) -> Iterator[None]:
    """One index writer at a time, across threads and processes (flock on index/.lock)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _commit(
    root: Path,
    tmp: Path,
    manifest: dict[str, Any],
    *,
    keep_builds: int,
    start: float,
    recorder: IoRecorder | None,
) -> BuildInfo:
    """Manifest, fsync every file, rename the build into place, swap CURRENT, prune old builds."""
    atomic_write_json(tmp / "manifest.json", manifest, recorder=recorder)
    for f in tmp.iterdir():
        fsync_path(f, recorder=recorder)
    final = root / manifest["build_id"]
    tmp.rename(final)
    atomic_write_text(root / CURRENT, manifest["build_id"] + "\n", recorder=recorder)
    size = sum(f.stat().st_size for f in final.iterdir())
    _append_history(root, manifest, size)
    _prune(root, keep=keep_builds)
    seconds = time.perf_counter() - start
    info = BuildInfo(final.name, final, manifest["n_chunks"], manifest["n_documents"], seconds)
    log.info("index build %s: %d chunks, %d bytes, %.2f s", final, info.n_chunks, size, info.seconds)
    return info


def _append_history(root: Path, manifest: dict[str, Any], size: int) -> None:
    """Say why this build exists: a run wrote it (whole, or derived from the one before), or an override
    derived it. Under the writer lock, after the swap: a crash before this line loses a history line, never
    a build."""
    change = manifest.get("change")
    entry = {
        "build_id": manifest["build_id"],
        "created": datetime.fromtimestamp(manifest["created"], UTC).isoformat(timespec="seconds"),
        "why": manifest.get("why") or ("override" if manifest.get("derived_from") else "run"),
        "derived_from": manifest.get("derived_from"),
        "change": change,
        "n_chunks": manifest["n_chunks"],
        "n_documents": manifest["n_documents"],
        "bytes": size,
    }
    with open(root / HISTORY, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


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


def _chunk_table(nodes: list[TextNode]) -> pa.Table:
    return pa.table(
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


def _prune(root: Path, *, keep: int) -> None:
    current = (root / CURRENT).read_text(encoding="utf-8").strip()
    builds = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in builds[:-keep]:
        if old.name != current:
            shutil.rmtree(old, ignore_errors=True)


def pointer_stamp(work_dir: Path) -> tuple[int, int] | None:
    """Identity of index/CURRENT (inode, mtime): one stat tells a reader that another build was swapped in."""
    try:
        st = os.stat(index_root(work_dir) / CURRENT)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def read_chunks(build: Path, columns: list[str] | None = None) -> pa.Table:
    return pq.read_table(build / "chunks.parquet", columns=columns)


def read_manifest(build: Path) -> dict[str, Any]:
    return json.loads((build / "manifest.json").read_text(encoding="utf-8"))


def load_index(build: Path, embed_model: Any) -> VectorStoreIndex:
    """Open a build for querying (LlamaIndex over the FAISS store)."""
    store = SafeFaissStore.from_persist_dir(str(build))
    storage = StorageContext.from_defaults(vector_store=store, persist_dir=str(build))
    index = load_index_from_storage(storage, embed_model=embed_model)
    assert isinstance(index, VectorStoreIndex)
    return index


def faiss_file(build: Path) -> Path:
    return build / FAISS_FILE


def read_faiss(build: Path, *, mmap: bool = False) -> faiss.Index:
    """The raw FAISS index of a build (the I/O probe loads it both ways).

    mmap=True maps the flat vectors (IO_FLAG_MMAP_IFC) and pages them in as searches touch them; faiss's plain
    IO_FLAG_MMAP maps only IVF inverted lists, so a flat index opened with it is still read whole.
    """
    flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
    return faiss.read_index(str(faiss_file(build)), flags)


def chunk_vectors(build: Path) -> tuple[pa.Table, np.ndarray]:
    """A build's chunks with their vectors, row for row (float32, normalised: dot product = cosine).

    The FAISS ids come from LlamaIndex's id map (`id_map.json`, node id -> FAISS id), so the rows line up even
    after a steward's override deleted and added vectors.
    """
    chunks = read_chunks(build)
    id_map = json.loads((build / "id_map.json").read_text(encoding="utf-8"))["node_id_to_faiss_id_map"]
    index = read_faiss(build)
    ids = [int(id_map[node_id]) for node_id in chunks["node_id"].to_pylist()]
    vectors = np.stack([index.reconstruct(i) for i in ids]) if ids else np.zeros((0, index.d), "float32")
    return chunks, vectors.astype("float32", copy=False)
