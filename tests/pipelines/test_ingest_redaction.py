"""Redaction in the real ingestion run: contact data in otherwise good documents is masked, the documents are
kept and indexed, and no planted value reaches the documents table, the index build or the steward report."""

from __future__ import annotations

import json
import re

import pyarrow.parquet as pq
import pytest

from pipelines import ingest
from pipelines.core.index_files import current_build
from tests.conftest import settings_for

PARAGRAPHS = {
    "vacuum": "VACUUM reclaims storage occupied by dead tuples in PostgreSQL. In normal operation, rows "
    "that are deleted or obsoleted by an update are not physically removed from their table; they remain "
    "until a VACUUM is done. It is therefore necessary to do VACUUM periodically, especially on "
    "frequently-updated tables. Autovacuum runs it for you; a manual VACUUM ANALYZE after a bulk load "
    "refreshes the planner statistics.",
    "files": "Reading and writing files in Python: open() returns a file object, and a with statement "
    "closes the file when the block ends, even if an exception is raised. The mode 'r' reads text, 'w' "
    "truncates and writes it, 'a' appends, and 'b' is for binary data such as images. Call read() for the "
    "whole file, readline() for one line, or loop over the file object to read it line by line without "
    "loading it all.",
    "index": "A B-tree index in PostgreSQL speeds up equality and range queries on the indexed columns. "
    "CREATE INDEX builds it while blocking writes; CREATE INDEX CONCURRENTLY avoids the lock at the cost of "
    "two table scans. The planner uses the index only when it expects the query to read a small fraction of "
    "the table; check with EXPLAIN ANALYZE, and drop indexes no query uses, since each slows down writes.",
}
# Planted personal values: the e-mail twice (once in another case), two phones, a second person's address.
# (The names in the signatures stay: no recognizer finds names, and redaction masks what the scorer found.)
EMAIL, PHONE = "marta.kowalczyk@fastmail.fm", "+49 30 901820"
OTHER_EMAIL, OTHER_PHONE = "jonas.berg@posteo.de", "+33 1 42 68 53 00"
PLANTED = (EMAIL, PHONE, OTHER_EMAIL, OTHER_PHONE, "fastmail", "posteo", "901820", "42 68 53")
CARD = "4556 7375 8689 9855"
LIST_ADDRESS, AUTHOR = "python-list@python.org", "fred.drake@acm.org"

FILES = {
    "tickets-changelogs/cold-cache.txt": f"{PARAGRAPHS['vacuum']}\n\nIf it comes back, write to {EMAIL} or "
    f"call {PHONE}.\n\n-- \nMarta Kowalczyk <{EMAIL.upper()}>\nSupport engineer, phone {PHONE}\n",
    "tickets-changelogs/file-modes.txt": f"{PARAGRAPHS['files']}\n\nThanks,\nJonas Berg <{OTHER_EMAIL}>\n"
    f"Tel. {OTHER_PHONE}\n",
    "tickets-changelogs/refund.txt": f"{PARAGRAPHS['index']}\n\nPlease refund the card {CARD} used for the "
    f"support contract.\nJonas Berg <{OTHER_EMAIL}>\n",
    "product-docs-python/mailing-lists.txt": f"{PARAGRAPHS['files']} Questions go to the mailing list "
    f"{LIST_ADDRESS}; the tutorial was written by Fred L. Drake, Jr. <{AUTHOR}>.\n",
}
REDACTED_PATHS = ("tickets-changelogs/cold-cache.txt", "tickets-changelogs/file-modes.txt")


@pytest.fixture(scope="module")
def done(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("redaction")
    corpus = root / "corpus"
    manifest = []
    for rel, text in FILES.items():
        (corpus / rel).parent.mkdir(parents=True, exist_ok=True)
        (corpus / rel).write_text(text, encoding="utf-8")
        source = rel.split("/")[0]
        manifest.append({"path": rel, "title": rel, "source": source, "updated": "2026-10-01"})
    (corpus / "manifest.jsonl").write_text("".join(json.dumps(m) + "\n" for m in manifest), encoding="utf-8")
    settings = settings_for(root / "work", corpus)
    run = ingest.run(settings, corpus, settings.layout, embedder=embedder, steward_overrides=False)
    rows = {r["path"]: r for r in pq.read_table(settings.layout.documents).to_pylist()}
    return settings, run, rows


def test_documents_with_contact_data_are_redacted_safe_and_indexed(done):
    settings, run, rows = done
    build = current_build(settings.layout.root)
    manifest = json.loads((build / "manifest.json").read_text())
    for path in REDACTED_PATHS:
        row = rows[path]
        assert row["tier"] == "safe", row["reasons"]
        assert {"redacted_pii_email", "redacted_pii_phone"} <= set(row["reasons"])
        assert row["doc_id"] in manifest["document_hashes"]


def test_placeholders_are_typed_and_stable_within_a_document(done):
    _, _, rows = done
    text = rows["tickets-changelogs/cold-cache.txt"]["text"]
    assert "write to <EMAIL_1> or call <PHONE_1>." in text
    assert "Marta Kowalczyk <<EMAIL_1>>\nSupport engineer, phone <PHONE_1>\n" in text
    assert text.startswith(PARAGRAPHS["vacuum"])  # the document's own text is kept whole
    other = rows["tickets-changelogs/file-modes.txt"]["text"]
    assert "Jonas Berg <<EMAIL_1>>\nTel. <PHONE_1>" in other  # numbering starts again per document
    details = json.loads(rows["tickets-changelogs/cold-cache.txt"]["details"])["sensitive"]
    assert details["redacted"] == {"pii_email": 2, "pii_phone": 2}
    assert details["placeholders"] == {"pii_email": 1, "pii_phone": 1}
    # the steward page's spans point at the placeholders in the stored text
    assert {text[s["start"] : s["end"]] for s in details["spans"]} == {"<EMAIL_1>", "<PHONE_1>"}


def test_no_planted_value_is_in_the_index_build_the_table_or_the_report(done):
    settings, run, rows = done
    build = current_build(settings.layout.root)
    files = [p for p in build.rglob("*") if p.is_file()]
    # the FAISS index itself, the chunk table and its lookup copy keyed by FAISS id, the manifest
    assert {p.name for p in files} >= {"index.faiss", "chunks.parquet", "chunks.sqlite", "manifest.json"}
    for path in files:
        data = path.read_bytes()
        if path.suffix == ".parquet":  # compressed pages: read the values, not only the bytes
            data += json.dumps(pq.read_table(path).to_pylist(), default=str).encode()
        for value in PLANTED:
            assert value.lower().encode() not in data.lower(), (value, path.name)
    table_text = "\n".join(r["text"] + r["details"] for r in rows.values()).lower()
    report = "".join(p.read_text(encoding="utf-8") for p in run.run_folder.path.glob("steward_report.*"))
    for value in PLANTED:
        assert value.lower() not in table_text and value.lower() not in report.lower(), value
    chunks = [n.text for n in run.nodes]
    assert any("<EMAIL_1>" in c for c in chunks)  # what is chunked, embedded and cited is the redacted text


def test_a_card_number_still_makes_a_document_unsafe(done):
    settings, _, rows = done
    row = rows["tickets-changelogs/refund.txt"]
    assert row["tier"] == "unsafe" and "pii_credit_card" in row["reasons"]
    manifest = json.loads((current_build(settings.layout.root) / "manifest.json").read_text())
    assert row["doc_id"] not in manifest["document_hashes"]
    assert "<EMAIL_1>" in row["text"]  # the address is masked in the table even though the card excludes it


def test_a_public_source_keeps_the_addresses_it_publishes(done):
    _, _, rows = done
    row = rows["product-docs-python/mailing-lists.txt"]
    assert row["tier"] == "safe" and not [r for r in row["reasons"] if re.match("pii_|redacted_", r)]
    assert LIST_ADDRESS in row["text"] and AUTHOR in row["text"]
    ignored = json.loads(row["details"])["sensitive"]["ignored"]
    assert ignored == {"email_public_source": 1, "email_role_account": 1}


def test_the_steward_report_counts_what_was_redacted(done):
    _, run, _ = done
    assert run.report is not None
    report = json.loads(run.report[0].read_text(encoding="utf-8"))
    assert report["redacted"] == {
        "pii_email": {"documents": 3, "spans": 4, "values": 3},
        "pii_phone": {"documents": 2, "spans": 3, "values": 2},
    }
    assert "Redacted (masked in the text" in run.report[1].read_text(encoding="utf-8")
