"""The one writer of the index format; pipelines.core.index_files is its read side (paths, manifest, FAISS).

A build lives in `index/<build-id>/`: `index.faiss` (inner product on normalised vectors, i.e. cosine; exact
or IVF by size, pipelines.core.index_faiss), `chunks.parquet` (the chunk table of record, one row per vector,
its `faiss_id` the vector's id), `chunks.sqlite` (the same rows keyed by faiss id, for readers that need only
the hits, pipelines.core.index_rows) and `manifest.json` (model, dimension, document hashes, the index kind,
its parameters and its measured recall@10); pipelines.core.index_reader opens a build for queries.
`index/CURRENT` names the build in use and is swapped atomically (write, fsync, rename), so a crash mid-build
never leaves a half-written index in use. Only safe chunks are ever written. Format 2 dropped LlamaIndex's
docstore.json: one JSON blob of every chunk, loaded whole to open.

A steward's override changes the index at once without touching the build in use: `remove_documents` and
`add_documents` derive a NEW build from the current one and swap CURRENT. Writers take `index/.lock` (flock),
so two updates never both derive from the same build and lose one another's change. A derived build keeps
its base's index kind and trained cells (IVF `remove_ids` / `add_with_ids`) and measures its recall again.

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
from collections.abc import Callable, Iterable, Iterator
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
from llama_index.core.schema import TextNode

from curation.layout import time_ordered_id
from pipelines.core import index_faiss
from pipelines.core.index_files import (
    CHUNKS_FILE,
    CURRENT,
    FAISS_FILE,
    FORMAT,
    HISTORY,
    LOCK,
    ROWS_FILE,
    check_format,
    chunk_table,
    current_build,
    index_root,
    read_manifest,
)
from pipelines.core.index_rows import write_rows
from pipelines.core.settings import IndexSettings
from pipelines.observability.fsio import atomic_write_json, atomic_write_text, fsync_path
from pipelines.observability.recorder import IoRecorder

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BuildInfo:
    build_id: str
    path: Path
    n_chunks: int
    n_documents: int
    seconds: float


def write_build(
    work_dir: Path,
    nodes: list[TextNode],
    *,
    dimension: int,
    model: str,
    doc_hashes: dict[str, str],
    settings: dict[str, object],
    index: IndexSettings | None = None,
    keep_builds: int = 3,
    recorder: IoRecorder | None = None,
) -> BuildInfo:
    """Write a new build from embedded safe chunks and make it current (`index`: which FAISS index; None =
    the defaults vetted.toml's [index] documents)."""
    vectors = _vectors_of(nodes, dimension)
    return write_build_arrays(
        work_dir, chunk_table(nodes), vectors, model=model, doc_hashes=doc_hashes, settings=settings,
        index=index, keep_builds=keep_builds, recorder=recorder,
    )  # fmt: skip


def write_build_arrays(
    work_dir: Path,
    chunks: pa.Table,
    vectors: np.ndarray,
    *,
    model: str,
    doc_hashes: dict[str, str],
    settings: dict[str, object],
    index: IndexSettings | None = None,
    keep_builds: int = 3,
    recorder: IoRecorder | None = None,
) -> BuildInfo:
    """`write_build` from a chunk table (`chunk_table`'s columns, less faiss_id) and its vectors row for
    row: what a million chunks can go through without a million node objects (eval.bench.scale)."""
    start = time.perf_counter()
    index = index or IndexSettings()
    root = index_root(work_dir)
    build_id = _new_build_id()
    ids = np.arange(len(vectors), dtype=np.int64)
    table = chunks.append_column("faiss_id", pa.array(ids))
    spec = index_faiss.choose_spec(len(vectors), index)  # a bad setting fails before any file is written
    faiss_index = index_faiss.build_index(vectors, ids, spec)
    spec |= index_faiss.recall_of(faiss_index, vectors, ids, spec)
    tmp = root / f".{build_id}.partial"
    tmp.mkdir(parents=True)
    try:
        _write_files(tmp, table, faiss_index)
        manifest = {
            "build_id": build_id,
            "format": FORMAT,
            "created": time.time(),
            "embedding_model": model,
            "dimension": int(vectors.shape[1]),
            "metric": "inner_product_on_normalised_vectors",
            "index": spec | {"seconds": round(time.perf_counter() - start, 3)},
            "n_chunks": table.num_rows,
            "n_documents": len(doc_hashes),
            "document_hashes": doc_hashes,
            "settings": settings,
            "tiers_indexed": ["safe"],
            "why": "run",
        }
        with _writer_lock(root):
            return _commit(root, tmp, manifest, keep_builds=keep_builds, start=start, recorder=recorder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_files(tmp: Path, table: pa.Table, faiss_index: faiss.Index) -> None:
    faiss.write_index(faiss_index, str(tmp / FAISS_FILE))
    pq.write_table(table, tmp / CHUNKS_FILE)
    write_rows(tmp / ROWS_FILE, table)


def _vectors_of(nodes: list[TextNode], dimension: int) -> np.ndarray:
    for node in nodes:
        if node.embedding is None or len(node.embedding) != dimension:
            raise ValueError(f"chunk {node.node_id} needs a {dimension}-d embedding (embed it first)")
    if not nodes:
        return np.zeros((0, dimension), "float32")
    return np.asarray([n.embedding for n in nodes], dtype="float32")


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
    if manifest.get("format") != FORMAT:  # an older format: the run writes a whole new build
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
        manifest = check_format(base, read_manifest(base))
        remove = leaving(base, manifest["document_hashes"])
        spec = {k: v for k, v in manifest["index"].items() if k not in ("recall_at_10", "queries", "seconds")}
        vectors = _vectors_of(nodes, int(manifest["dimension"]))
        chunks = pq.read_table(base / CHUNKS_FILE)
        going = pc.is_in(chunks["doc_id"], value_set=pa.array(sorted(remove), pa.string()))
        faiss_index = faiss.read_index(str(base / FAISS_FILE))  # in memory: the base stays as it is
        going_ids = np.asarray(chunks.filter(going)["faiss_id"], dtype=np.int64)
        faiss_index.remove_ids(going_ids)  # type: ignore[arg-type]  # the Python wrapper takes an id array
        kept = chunks.filter(pc.invert(going))
        table = kept
        if nodes:
            first = int(pc.max(chunks["faiss_id"]).as_py() or 0) + 1 if chunks.num_rows else 0
            ids = np.arange(first, first + len(nodes), dtype=np.int64)
            faiss_index.add_with_ids(vectors, ids)
            added = chunk_table(nodes).append_column("faiss_id", pa.array(ids))
            table = pa.concat_tables([kept, added.cast(kept.schema)])
        index_faiss.tune(faiss_index, spec)
        # an IVF keeps the base's cells: measure what they give on the new content (flat is exact: no vectors)
        held = np.asarray(table["faiss_id"], dtype=np.int64)
        held_vectors = index_faiss.all_vectors(faiss_index, held) if spec["kind"] == "ivf" else vectors
        spec |= index_faiss.recall_of(faiss_index, held_vectors, held, spec)
        build_id = _new_build_id()
        tmp = root / f".{build_id}.partial"
        tmp.mkdir()
        try:
            _write_files(tmp, table, faiss_index)
            hashes = {d: h for d, h in manifest["document_hashes"].items() if d not in remove} | doc_hashes
            manifest |= {
                "build_id": build_id,
                "created": time.time(),
                "index": spec | {"seconds": round(time.perf_counter() - start, 3)},
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


def _prune(root: Path, *, keep: int) -> None:
    current = (root / CURRENT).read_text(encoding="utf-8").strip()
    builds = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in builds[:-keep]:
        if old.name != current:
            shutil.rmtree(old, ignore_errors=True)


