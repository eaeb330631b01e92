"""`vetted curate --docs DIR`, the dry run, through the real command line: one JSON line per file (quarantined
ones too), the folder's warnings louder than a quarantine line, and a clear error for a missing folder."""

from __future__ import annotations

import json

import pytest

from pipelines.cli.main import main

VACUUM = (
    "VACUUM reclaims storage occupied by dead tuples in PostgreSQL. In normal operation, rows that are "
    "deleted or obsoleted by an update are not physically removed from their table until a VACUUM is done."
)


def test_curate_writes_a_line_per_file_and_warns_about_the_manifest(tmp_path, capsys):
    docs = tmp_path / "docs" / "product-docs-python"
    docs.mkdir(parents=True)
    (docs / "vacuum.txt").write_text(VACUUM, encoding="utf-8")
    (docs / "notes.bin").write_bytes(b"\x00\x01\x02 not a document")
    manifest = [{"path": "product-docs-python/vacuum.txt"}, {"path": "product-docs-python/gone.txt"}]
    (tmp_path / "docs" / "manifest.jsonl").write_text("".join(json.dumps(m) + "\n" for m in manifest))
    out = tmp_path / "curated.jsonl"
    work, folder = str(tmp_path / "work"), str(tmp_path / "docs")
    argv = ["--work-dir", work, "curate", "--docs", folder, "--out", str(out)]
    assert main(argv) == 0
    rows = {r["path"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(rows) == {"product-docs-python/vacuum.txt", "product-docs-python/notes.bin"}
    assert rows["product-docs-python/notes.bin"]["tier"] == "quarantined"
    assert rows["product-docs-python/vacuum.txt"]["tier"] in {"safe", "review", "unsafe"}
    assert set(rows["product-docs-python/vacuum.txt"]["scores"]) >= {"sensitive", "quality", "relevance"}
    err = capsys.readouterr().err
    assert "WARNING: " in err and "line 2 'product-docs-python/gone.txt'" in err
    assert "curated 2 files: " in err
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").rglob("*.parquet"))  # a dry run


def test_curate_on_a_missing_folder_says_so(tmp_path):
    with pytest.raises(SystemExit, match="is not a folder"):
        main(["--work-dir", str(tmp_path), "curate", "--docs", str(tmp_path / "nowhere")])
