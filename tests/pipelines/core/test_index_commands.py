"""`vetted index show|history` through the real command line, on a work folder whose index a run built and a
steward override changed; a work folder without an index says so and exits non-zero."""

from __future__ import annotations

import json

import pytest

from pipelines.cli.main import main
from pipelines.core.index_files import current_build, read_history, read_manifest
from pipelines.core.index_store import remove_documents
from tests.serving.steward_workdir import documents, make_work_dir


@pytest.fixture
def work(tmp_path, embedder):
    settings, _, _ = make_work_dir(tmp_path, embedder)
    return settings


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_show_names_the_build_in_service_and_its_documents(work, capsys):
    code, out, _ = run_cli(capsys, "--work-dir", str(work.work_dir), "index", "show", "--json")
    shown = json.loads(out)
    build = current_build(work.work_dir)
    assert code == 0 and shown["build_id"] == build.name
    chunks = sum(d["chunks"] for d in shown["documents"])
    assert shown["n_chunks"] == read_manifest(build)["n_chunks"] == chunks
    hashes = {d.doc_id: d.content_hash for d in documents()}
    shown_hashes = {d["doc_id"]: d["content_hash"] for d in shown["documents"]}
    assert shown_hashes == {k: hashes[k] for k in ("py", "pg")}
    assert all(d["path"] and d["chunks"] > 0 for d in shown["documents"])
    code, text, _ = run_cli(capsys, "--work-dir", str(work.work_dir), "index", "show")
    assert code == 0 and text.startswith(f"build {build.name}: ") and hashes["pg"][:12] in text


def test_history_says_which_build_came_from_a_run_and_which_from_an_override(work, capsys):
    first = current_build(work.work_dir).name
    remove_documents(work.work_dir, ["pg"])
    second = current_build(work.work_dir).name
    code, out, _ = run_cli(capsys, "--work-dir", str(work.work_dir), "index", "history", "--json")
    history = json.loads(out)
    assert code == 0 and history == read_history(work.work_dir)
    assert [h["build_id"] for h in history] == [first, second]
    assert [h["why"] for h in history] == ["run", "override"]
    assert history[1]["derived_from"] == first and history[1]["change"] == {"removed": ["pg"], "added": []}
    assert history[1]["n_documents"] == history[0]["n_documents"] - 1 and history[1]["bytes"] > 0
    code, text, _ = run_cli(capsys, "--work-dir", str(work.work_dir), "index", "history")
    assert code == 0 and "override (removed 1, added 0)" in text.splitlines()[1]


def test_history_survives_pruning_and_skips_a_torn_line(work):
    for _ in range(4):  # keep_builds=3: the first builds leave the disk, their lines stay
        remove_documents(work.work_dir, ["pg"])
    with open(work.work_dir / "index" / "history.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"build_id": "torn')
    history = read_history(work.work_dir)
    assert len(history) == 5 and len([p for p in (work.work_dir / "index").iterdir() if p.is_dir()]) == 3


def test_a_work_folder_without_an_index_is_a_clear_error(tmp_path, capsys):
    for command in ("show", "history"):
        with pytest.raises(SystemExit, match="no index under .*run `vetted ingest` first"):
            main(["--work-dir", str(tmp_path / "empty"), "index", command])
    with pytest.raises(SystemExit):  # argparse: a subcommand is required
        main(["--work-dir", str(tmp_path), "index"])
    assert "show" in capsys.readouterr().err
