"""Index updates for steward overrides: each one derives a new build from CURRENT and swaps the pointer; the
build in use is never changed, and the retriever follows the pointer on its next question."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from pipelines.core.index_files import current_build, read_chunks, read_faiss, read_manifest
from pipelines.core.index_reader import OpenBuild
from pipelines.core.index_store import add_documents, remove_documents
from pipelines.observability.recorder import IoRecorder
from pipelines.stages import chunk_documents, embed_chunks
from serving.retriever import SafeRetriever
from tests.serving.steward_workdir import documents, make_work_dir

VACUUM_QUESTION = "How does VACUUM reclaim storage from dead tuples?"


@pytest.fixture
def work(tmp_path, embedder):
    settings, _, _ = make_work_dir(tmp_path, embedder)
    return settings


def snapshot(build: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(build.iterdir())}


def doc_ids(build: Path) -> set[str]:
    return set(read_chunks(build, ["doc_id"])["doc_id"].to_pylist())


def nodes_for(doc_id: str, settings, embedder):
    doc = next(d for d in documents() if d.doc_id == doc_id)
    return embed_chunks(chunk_documents([doc], embedder, settings), embedder), {doc_id: doc.content_hash}


def top_doc(build: Path, embedder, question: str) -> list[str]:
    return [row["doc_id"] for _, row in OpenBuild(build).search(embedder.embed([question]), 10)[0]]


def test_remove_documents_swaps_in_a_build_without_their_chunks_and_leaves_the_old_one(work, embedder):
    old = current_build(work.work_dir)
    before = snapshot(old)
    assert doc_ids(old) == {"py", "pg"}

    info = remove_documents(work.work_dir, ["pg"])

    new = current_build(work.work_dir)
    assert new == info.path and new != old
    assert doc_ids(new) == {"py"}
    manifest = read_manifest(new)
    assert set(manifest["document_hashes"]) == {"py"} and manifest["derived_from"] == old.name
    assert manifest["n_chunks"] == info.n_chunks == read_chunks(new).num_rows == read_faiss(new).ntotal
    assert manifest["change"] == {"removed": ["pg"], "added": []}
    assert "pg" not in top_doc(new, embedder, VACUUM_QUESTION)
    assert b"VACUUM reclaims" not in (new / "chunks.sqlite").read_bytes()
    assert snapshot(old) == before  # the build in use was never touched
    assert "pg" in top_doc(old, embedder, VACUUM_QUESTION)


def test_a_writer_counts_its_fsyncs_and_writes_into_the_recorder_it_is_given(work):
    recorder = IoRecorder()
    info = remove_documents(work.work_dir, ["pg"], recorder=recorder)
    figures = recorder.snapshot()
    # manifest.json and CURRENT: each file and its folder; then every file of the build once more
    assert figures["fsync_count"] == len(list(info.path.iterdir())) + 4
    pointer = info.path.parent / "CURRENT"
    written = (info.path / "manifest.json").stat().st_size + pointer.stat().st_size
    assert figures["access"]["write"]["ops"] == 2 and figures["access"]["write"]["bytes"] == written


def test_add_documents_makes_a_document_retrievable_and_replaces_its_old_chunks(work, embedder):
    nodes, hashes = nodes_for("net", work, embedder)
    old = current_build(work.work_dir)

    info = add_documents(work.work_dir, nodes, hashes)

    new = current_build(work.work_dir)
    assert new == info.path != old and doc_ids(new) == {"py", "pg", "net"}
    assert top_doc(new, embedder, "How does a router forward packets between networks?")[0] == "net"
    assert read_manifest(new)["document_hashes"]["net"] == hashes["net"]
    # approving again gives a new build with the same chunks, not two copies
    again, _ = nodes_for("net", work, embedder)
    add_documents(work.work_dir, again, hashes)
    chunks = read_chunks(current_build(work.work_dir))
    assert chunks.num_rows == info.n_chunks == read_faiss(current_build(work.work_dir)).ntotal
    assert len(set(chunks["node_id"].to_pylist())) == chunks.num_rows


def test_add_documents_refuses_chunks_without_a_content_hash(work, embedder):
    nodes, _ = nodes_for("net", work, embedder)
    with pytest.raises(ValueError, match="no content hash"):
        add_documents(work.work_dir, nodes, {})


def test_updates_need_an_index(tmp_path):
    with pytest.raises(FileNotFoundError, match="vetted ingest"):
        remove_documents(tmp_path, ["x"])


def test_concurrent_updates_lose_nothing(work, embedder):
    """Two stewards at once: the writer lock makes the second derive from the first's build."""
    nodes, hashes = nodes_for("net", work, embedder)
    threads = [
        threading.Thread(target=remove_documents, args=(work.work_dir, ["pg"])),
        threading.Thread(target=add_documents, args=(work.work_dir, nodes, hashes)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert doc_ids(current_build(work.work_dir)) == {"py", "net"}


def test_retriever_follows_current_on_its_next_question(work, embedder):
    retriever = SafeRetriever(work.work_dir, embedder, top_k=3, min_similarity=0.2)
    first = retriever.build
    assert "pg" in [h.doc_id for h in retriever.retrieve(VACUUM_QUESTION)]

    remove_documents(work.work_dir, ["pg"])

    assert "pg" not in [h.doc_id for h in retriever.retrieve(VACUUM_QUESTION)]
    assert retriever.build == current_build(work.work_dir) != first
    assert retriever.refresh() is False  # nothing new: one stat, no reload
