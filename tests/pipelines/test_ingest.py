"""The one ingestion run: accounting is checked before anything is published, a dry run writes nothing, and
the evaluation's cache key covers every module a build can import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from curation.connectors import FolderConnector
from curation.layout import WorkLayout
from curation.scorers.quality import QualityScorer
from curation.table import read_documents
from eval import workdirs
from pipelines import ingest, scoring
from pipelines.core.index_files import current_build, read_chunks
from pipelines.core.settings import ScoringSettings
from tests.conftest import REPO_ROOT, settings_for

PAGES = {
    "files.txt": "Reading and writing files in Python: open() returns a file object; use a with statement so "
    "the file is closed. The mode 'r' reads text, 'w' writes it, 'b' is for binary data such as images. "
    "Call read() for the whole file, readline() for one line, or loop over the file object line by line.",
    "vacuum.txt": "VACUUM reclaims storage occupied by dead tuples in PostgreSQL. In normal operation, rows "
    "that are deleted or obsoleted by an update are not physically removed from their table; they remain "
    "until a VACUUM is done. It is therefore necessary to do VACUUM periodically on busy tables.",
    "except.txt": "Python exceptions: a try statement catches an exception raised in its body; an except "
    "clause names the exception class it handles, finally runs whether or not one was raised. Raise your "
    "own with raise ValueError('message') and define new exceptions by subclassing Exception.",
}


@pytest.fixture()
def corpus(tmp_path):
    root = tmp_path / "corpus" / "product-docs-python"
    root.mkdir(parents=True)
    for name, text in PAGES.items():
        (root / name).write_text(text, encoding="utf-8")
    return root.parent


def _settings(tmp_path, corpus):
    return settings_for(tmp_path / "work", corpus)


def test_a_run_writes_tables_index_and_a_summary_that_adds_up(tmp_path, corpus, embedder):
    settings = _settings(tmp_path, corpus)
    done = ingest.run(settings, corpus, settings.layout, embedder=embedder)
    layout = settings.layout
    assert [r.stage for r in done.profile.stages] == list(ingest.STAGE_NAMES)
    summary = json.loads(done.run_folder.summary.read_text())
    assert summary["inputs"] == 3 == summary["documents"] + summary["quarantined"] and summary["accounted"]
    assert summary["warnings"] == []
    assert layout.documents.exists() and layout.quarantine.exists() and current_build(layout.root)
    assert done.run_folder.io_profile.exists() and done.run_folder.steward_report_html.exists()


def test_a_manifest_naming_a_missing_file_is_a_warning_in_the_summary_and_the_report(
    tmp_path, corpus, embedder
):
    lines = [{"path": "product-docs-python/files.txt", "title": "Files"},
             {"path": "product-docs-python/gone-since-2019.txt", "title": "Gone"}]
    (corpus / "manifest.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    settings = _settings(tmp_path, corpus)
    done = ingest.run(settings, corpus, settings.layout, embedder=embedder, write_index=False)
    summary = json.loads(done.run_folder.summary.read_text())
    assert summary["accounted"] and len(summary["warnings"]) == 1
    assert "line 2 'product-docs-python/gone-since-2019.txt'" in summary["warnings"][0]
    report = json.loads(done.run_folder.steward_report_json.read_text())
    assert report["warnings"] == summary["warnings"]
    assert "gone-since-2019.txt" in done.run_folder.steward_report_html.read_text()


def test_a_run_that_loses_a_document_publishes_nothing(tmp_path, corpus, embedder, monkeypatch):
    settings = _settings(tmp_path, corpus)
    layout = settings.layout
    ingest.run(settings, corpus, layout, embedder=embedder)
    served, table_bytes = current_build(layout.root), layout.documents.read_bytes()
    (corpus / "product-docs-python" / "vacuum.txt").write_text("VACUUM, rewritten: " + PAGES["vacuum.txt"])

    real_iter = FolderConnector.__iter__

    def losing_one(self):  # a connector bug: one file read, neither a document nor a quarantine record
        items = list(real_iter(self))
        return iter(items[1:])

    monkeypatch.setattr(FolderConnector, "__iter__", losing_one)
    with pytest.raises(ingest.AccountingError, match="3 inputs, 2 documents"):
        ingest.run(settings, corpus, layout, embedder=embedder)
    assert current_build(layout.root) == served  # the build in service is still the previous run's
    assert layout.documents.read_bytes() == table_bytes  # nor was the documents table replaced
    failed = json.loads(layout.run_summaries()[-1].read_text())
    assert failed["accounted"] is False and "input accounting failed" in failed["error"]
    assert failed["index"] is None and failed["steward_report"] is None


@pytest.mark.parametrize("workers", [1, 2], ids=["in_process", "pooled"])
def test_a_document_a_scorer_raises_on_is_quarantined_and_the_run_publishes_the_rest(
    tmp_path, corpus, embedder, monkeypatch, workers
):
    settings = _settings(tmp_path, corpus)
    settings.scoring = ScoringSettings(workers=workers, pool_min_docs=0)  # pooled: forked workers inherit
    real_score = QualityScorer.score

    def failing_on_vacuum(self, doc):  # a scorer bug that one document's text sets off
        if "VACUUM" in doc.text:
            raise ValueError("cannot weigh this text")
        return real_score(self, doc)

    monkeypatch.setattr(QualityScorer, "score", failing_on_vacuum)
    monkeypatch.setattr(scoring, "available_cores", lambda: 2)  # the pool starts on a 1-core CI machine too
    done = ingest.run(settings, corpus, settings.layout, embedder=embedder)
    summary = json.loads(done.run_folder.summary.read_text())
    assert summary["inputs"] == 3 and summary["documents"] == 2 and summary["quarantined"] == 1
    assert summary["accounted"]
    records = [json.loads(line) for line in settings.layout.quarantine.read_text().splitlines()]
    assert [(r["path"].rsplit("/", 1)[-1], r["reason"]) for r in records] == [("vacuum.txt", "scorer_error")]
    assert "quality scorer raised ValueError: cannot weigh this text" in records[0]["detail"]
    paths = read_documents(settings.layout.documents, ["path"]).column("path").to_pylist()
    assert sorted(p.rsplit("/", 1)[-1] for p in paths) == ["except.txt", "files.txt"]
    build = current_build(settings.layout.root)
    assert build is not None
    texts = read_chunks(build, ["text"]).column("text").to_pylist()
    assert texts and not any("VACUUM" in t for t in texts)  # nothing of it reaches the index


def test_a_run_without_an_index_publishes_its_tables_and_its_incremental_state(tmp_path, corpus, embedder):
    settings = _settings(tmp_path, corpus)
    first = ingest.run(settings, corpus, settings.layout, embedder=embedder, write_index=False)
    assert settings.layout.documents.exists() and current_build(settings.layout.root) is None
    assert [r.stage for r in first.profile.stages] == ["load", "score", "tier", "redact", "report"]
    again = ingest.run(settings, corpus, settings.layout, embedder=embedder, write_index=False)
    n = json.loads(again.run_folder.summary.read_text())["incremental"]
    assert (n["new"], n["unchanged"], n["files_parsed"], n["chunks_embedded"]) == (0, 3, 0, 0)


def test_a_dry_run_writes_nothing(tmp_path, corpus, embedder):
    settings = _settings(tmp_path, corpus)
    done = ingest.run(
        settings,
        corpus,
        settings.layout,
        embedder=embedder,
        write_tables=False,
        write_index=False,
        steward_overrides=False,
        report=False,
    )
    assert [r.stage for r in done.profile.stages] == ["load", "score", "tier", "redact"]
    assert len(done.decisions) == 3 and done.build is None
    assert not (tmp_path / "work").exists()


def test_the_uncurated_baseline_marks_every_document_safe(tmp_path, corpus, embedder):
    settings = _settings(tmp_path, corpus)
    done = ingest.run(settings, corpus, settings.layout, embedder=embedder, curate=False, report=False)
    assert "score" not in [r.stage for r in done.profile.stages]
    assert {d.tier.value for d in done.decisions.values()} == {"safe"}
    assert all(d.reasons == [ingest.UNCURATED_REASON] for d in done.decisions.values())
    assert done.build is not None and done.build.n_chunks >= 3


def test_bad_options_and_a_missing_corpus_fail_at_once(tmp_path):
    settings = _settings(tmp_path, tmp_path)
    with pytest.raises(ValueError, match="report needs write_tables"):
        ingest.run(settings, tmp_path, WorkLayout(tmp_path / "w"), write_tables=False)
    with pytest.raises(FileNotFoundError, match="vetted corpus"):
        ingest.run(settings, tmp_path / "nope", WorkLayout(tmp_path / "w"))


def test_a_build_imports_nothing_outside_the_packages_the_eval_key_hashes():
    code = (
        "import sys, pathlib, pipelines.ingest\n"
        f"repo = pathlib.Path({str(REPO_ROOT)!r})\n"
        "mods = list(sys.modules.values())\n"
        "files = [pathlib.Path(m.__file__) for m in mods if getattr(m, '__file__', None)]\n"
        "mine = {f.relative_to(repo).parts[0] for f in files if f.is_relative_to(repo)}\n"
        "print(sorted(p for p in mine if not p.startswith('.')))  # .venv lives in the repo too\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert set(json.loads(done.stdout.replace("'", '"'))) <= set(workdirs.BUILD_PACKAGES)


def test_the_eval_key_changes_when_any_module_of_a_build_package_does(tmp_path, monkeypatch):
    for package in workdirs.BUILD_PACKAGES:
        (tmp_path / package / "sub").mkdir(parents=True)
        (tmp_path / package / "sub" / "mod.py").write_text("x = 1\n")
    monkeypatch.setattr(workdirs, "_REPO", tmp_path)
    workdirs._code_hash.cache_clear()
    before = workdirs._code_hash()
    (tmp_path / "pipelines" / "sub" / "new_stage.py").write_text("y = 2\n")  # a module nobody listed
    workdirs._code_hash.cache_clear()
    assert workdirs._code_hash() != before
    workdirs._code_hash.cache_clear()
