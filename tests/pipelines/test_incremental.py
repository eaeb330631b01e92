"""Incremental ingestion runs: new, changed, unchanged and deleted documents across runs on a small corpus,
a policy change that re-scores without embedding, and runs killed with SIGKILL in score, embed and index
(a real child process running the real ingestion) that leave the build in service and steward.db as they
were, with the next run completing the work."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys

import pytest

from curation.models import Tier
from curation.steward import StewardDB
from pipelines import ingest
from pipelines.core.index_files import current_build, read_chunks, read_manifest
from pipelines.incremental import IngestState, code_hash
from serving.retriever import SafeRetriever
from tests.conftest import REPO_ROOT, settings_for
from tests.pipelines.test_ingest import PAGES

FILE_TIME = 1_793_000_000  # 2026-10-26 (UTC): a fixed file date, so ages never follow the clock
ADDED = (
    "PostgreSQL indexes: CREATE INDEX builds a B-tree on a column so that a query filtering on it reads "
    "a few pages instead of the whole table. Every index costs writes, since each INSERT and UPDATE must "
    "change it too; drop the ones no query uses, and REINDEX a bloated one after heavy updates."
)
EDITED = (
    "Python exceptions, revised: a try statement catches an exception raised in its body, and an except "
    "clause names the class it handles. An else clause runs when nothing was raised; finally always runs. "
    "Chain a new exception to the cause with raise NewError('message') from exc, and subclass Exception."
)


def _write(folder, name, text):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    os.utime(path, (FILE_TIME, FILE_TIME))


@pytest.fixture()
def corpus(tmp_path):
    folder = tmp_path / "corpus" / "product-docs-python"
    folder.mkdir(parents=True)
    for name, text in PAGES.items():
        _write(folder, name, text)
    return folder.parent


def _summary(done):
    return json.loads(done.run_folder.summary.read_text())


def _doc_id(done, name):
    return next(d.doc_id for d in done.documents if d.path.endswith(name))


def _edit(corpus):
    """Add a file, edit one, delete one."""
    folder = corpus / "product-docs-python"
    _write(folder, "index.txt", ADDED)
    _write(folder, "except.txt", EDITED)
    (folder / "vacuum.txt").unlink()


def test_three_runs_count_new_changed_unchanged_and_deleted(tmp_path, corpus, embedder):
    settings = settings_for(tmp_path / "work", corpus)
    layout = settings.layout
    first = ingest.run(settings, corpus, layout, embedder=embedder)
    assert {d.tier for d in first.decisions.values()} == {Tier.SAFE}, first.decisions
    one = _summary(first)["incremental"]
    assert (one["new"], one["changed"], one["unchanged"], one["deleted"]) == (3, 0, 0, 0)
    assert one["chunks_embedded"] == first.build.n_chunks > 0 and one["vectors_reused"] == 0
    vacuum = _doc_id(first, "vacuum.txt")

    _edit(corpus)
    second = ingest.run(settings, corpus, layout, embedder=embedder)
    two = _summary(second)
    inc = two["incremental"]
    assert (inc["new"], inc["changed"], inc["unchanged"], inc["deleted"]) == (1, 1, 1, 1)
    assert inc["files_parsed"] == 2  # the unchanged file came from the state, unparsed
    assert inc["deleted_documents"] == [
        {"doc_id": vacuum, "source": "product-docs-python", "path": "product-docs-python/vacuum.txt"}
    ]
    # the invariant: in = out + quarantined; the deleted document is listed apart, never among the documents
    assert two["inputs"] == 3 == two["documents"] + two["quarantined"]
    assert vacuum not in {d.doc_id for d in second.documents}
    # the unchanged file's chunks and vectors were kept; the new and the edited file's were embedded
    files = _doc_id(second, "files.txt")
    kept = read_chunks(current_build(layout.root)).to_pylist()
    assert inc["vectors_reused"] == sum(1 for c in kept if c["doc_id"] == files) > 0
    assert inc["chunks_embedded"] == sum(1 for c in kept if c["doc_id"] != files) > 0
    assert inc["vectors_reused"] + inc["chunks_embedded"] == second.build.n_chunks == len(kept)

    # gone from the new build, through the index store and the real retriever
    assert vacuum not in {c["doc_id"] for c in kept}
    assert vacuum not in read_manifest(current_build(layout.root))["document_hashes"]
    retriever = SafeRetriever(layout.root, embedder, top_k=3, min_similarity=0.0)
    hits = retriever.retrieve("VACUUM reclaims storage occupied by dead tuples in PostgreSQL")
    assert hits and vacuum not in {h.doc_id for h in hits}
    # its row marked deleted (kept for the audit), logged in steward.db, listed by the steward report
    assert IngestState(layout.ingest_state).deleted() == {vacuum: second.profile.run_id}
    audit = [a for a in StewardDB(layout.steward_db).audit() if a["action"] == "document_deleted"]
    assert [a["doc_id"] for a in audit] == [vacuum] and "vacuum.txt" in audit[0]["detail"]
    report = json.loads(second.run_folder.steward_report_json.read_text())
    assert [d["doc_id"] for d in report["deleted"]] == [vacuum] and report["documents"] == 3
    assert "vacuum.txt" in second.run_folder.steward_report_html.read_text()

    third = ingest.run(settings, corpus, layout, embedder=embedder)
    inc = _summary(third)["incremental"]
    assert (inc["new"], inc["changed"], inc["unchanged"], inc["deleted"]) == (0, 0, 3, 0)
    assert (inc["chunks_embedded"], inc["files_parsed"]) == (0, 0)
    assert inc["vectors_reused"] == second.build.n_chunks
    assert third.build.build_id == second.build.build_id  # nothing changed: the build in service stays
    assert _stage(third, "score")["rescored"] == 0


def test_a_policy_change_rescores_every_document_and_embeds_no_chunk(tmp_path, corpus, embedder):
    policy = tmp_path / "policy.toml"
    shutil.copy(REPO_ROOT / "policy.toml", policy)
    settings = settings_for(tmp_path / "work", corpus)
    settings.paths.policy_file = policy
    first = ingest.run(settings, corpus, settings.layout, embedder=embedder)
    assert _stage(first, "score")["rescored"] == 3

    text = policy.read_text(encoding="utf-8")
    assert "min_quality = 0.5 " in text
    policy.write_text(text.replace("min_quality = 0.5 ", "min_quality = 0.45 "), encoding="utf-8")
    second = ingest.run(settings, corpus, settings.layout, embedder=embedder)
    inc = _summary(second)["incremental"]
    assert _stage(second, "score")["rescored"] == 3  # the stored scores' key holds policy.toml's hash
    assert (inc["unchanged"], inc["chunks_embedded"]) == (3, 0)
    assert inc["vectors_reused"] == first.build.n_chunks
    again = ingest.run(settings, corpus, settings.layout, embedder=embedder)
    assert _stage(again, "score")["rescored"] == 0


def _stage(done, name):
    return next(r.extra for r in done.profile.stages if r.stage == name)


# --- killed runs -------------------------------------------------------------------------------------

CHILD = """
import os, signal, sys
from pathlib import Path
from tests.conftest import settings_for
from pipelines import ingest
from pipelines.core import index_store

work, corpus, stage = sys.argv[1:4]
settings = settings_for(Path(work), Path(corpus))

def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

def run_stage(name, body):
    if name == stage == "index":  # inside the stage: the new build written, not yet swapped into CURRENT
        index_store._commit = killed
    body()
    if name == stage:  # inside the stage, its work done and not yet handed on
        killed()

ingest.run(settings, Path(corpus), settings.layout, run_stage=run_stage)
print("not killed")
"""


@pytest.mark.parametrize("stage", ["score", "embed", "index"])
def test_a_run_killed_in_a_stage_leaves_the_build_and_steward_db_and_the_next_run_completes(
    tmp_path, corpus, embedder, stage
):
    settings = settings_for(tmp_path / "work", corpus)
    layout = settings.layout
    first = ingest.run(settings, corpus, layout, embedder=embedder)
    files = _doc_id(first, "files.txt")
    StewardDB(layout.steward_db).set_override(doc_id=files, tier=Tier.SAFE, who="erin", why="checked by hand")
    served, db_before = current_build(layout.root), _steward_rows(layout.steward_db)
    vacuum = _doc_id(first, "vacuum.txt")
    _edit(corpus)

    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(layout.root), str(corpus), stage],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout[-2000:] + child.stderr[-2000:]

    assert current_build(layout.root) == served  # the previous build is still in service, whole
    retriever = SafeRetriever(layout.root, embedder, top_k=3, min_similarity=0.0)
    hits = retriever.retrieve("VACUUM reclaims storage occupied by dead tuples in PostgreSQL")
    assert hits[0].doc_id == vacuum
    with sqlite3.connect(layout.steward_db) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert _steward_rows(layout.steward_db) == db_before

    code_hash.cache_clear()  # the scorer code as the child read it (this shared tree may be edited meanwhile)
    done = ingest.run(settings, corpus, layout, embedder=embedder)
    inc = _summary(done)["incremental"]
    # compared with the last completed run, not with the killed one
    assert (inc["new"], inc["changed"], inc["unchanged"], inc["deleted"]) == (1, 1, 1, 1)
    build = current_build(layout.root)
    assert build != served and vacuum not in {c["doc_id"] for c in read_chunks(build).to_pylist()}
    assert inc["vectors_reused"] + inc["chunks_embedded"] == done.build.n_chunks
    assert _stage(done, "score")["rescored"] == 0  # the killed run had scored: its kept scores serve
    assert IngestState(layout.ingest_state).deleted() == {vacuum: done.profile.run_id}


def _steward_rows(path):
    with sqlite3.connect(path) as db:
        return (
            db.execute("SELECT doc_id, tier, who, why, at FROM overrides ORDER BY doc_id").fetchall(),
            db.execute("SELECT at, who, action, doc_id, detail FROM audit ORDER BY id").fetchall(),
        )
