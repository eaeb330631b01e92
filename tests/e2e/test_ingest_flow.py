"""The real ingestion flow (Prefect, FAISS, presidio, sentence-transformers) over the test corpus."""

import json
import re
from pathlib import Path

import pyarrow.parquet as pq

STAGES = ["load", "score", "tier", "redact", "chunk", "embed", "index", "report"]


def _tables(settings):
    docs = pq.read_table(settings.work_dir / "documents.parquet").to_pylist()
    build = Path((settings.work_dir / "index" / "CURRENT").read_text().strip())
    chunks = pq.read_table(settings.work_dir / "index" / build / "chunks.parquet").to_pylist()
    return docs, settings.work_dir / "index" / build, chunks


def test_every_input_is_accounted_for(ingested, test_corpus):
    settings, summary = ingested
    manifest_lines = (test_corpus / "manifest.jsonl").read_text().splitlines()
    assert summary["accounted"] is True
    assert summary["inputs"] == len(manifest_lines) == summary["documents"] + summary["quarantined"]
    quarantine = [json.loads(x) for x in (settings.work_dir / "quarantine.jsonl").read_text().splitlines()]
    assert {q["path"] for q in quarantine} >= {"broken/empty.txt", "broken/quarterly-figures.txt"}
    assert all(q["reason"] for q in quarantine)


def test_planted_confidential_documents_are_unsafe_and_never_indexed(ingested, test_corpus):
    settings, _ = ingested
    docs, build, chunks = _tables(settings)
    canaries = [json.loads(x) for x in (test_corpus / "canaries.jsonl").read_text().splitlines()]
    tier_by_path = {d["path"]: d["tier"] for d in docs}
    assert canaries
    for canary in canaries:
        assert tier_by_path[canary["path"]] == "unsafe", canary
    indexed_text = "\n".join(c["text"] for c in chunks)
    lookup = (build / "chunks.sqlite").read_bytes()  # the rows the retriever reads, stored uncompressed
    for canary in canaries:
        assert canary["canary"] not in indexed_text and canary["canary"].encode() not in lookup


def test_changelog_tickets_are_kept_with_their_maintainers_addresses_redacted(ingested, test_corpus):
    settings, _ = ingested
    docs, build, chunks = _tables(settings)
    tickets = [d for d in docs if d["source"] == "tickets-changelogs"]
    redacted = [d for d in tickets if "redacted_pii_email" in d["reasons"]]
    assert len(redacted) > 40 and all("<EMAIL_1>" in d["text"] for d in redacted)
    # all were unsafe before redaction; now only a reason that excludes (a card, a key) makes one unsafe
    flagged_unsafe = ("pii_credit_card", "pii_iban", "pii_national_id", "secret_", "confidential_")
    unsafe = [d for d in tickets if d["tier"] == "unsafe"]
    assert all(any(r.startswith(flagged_unsafe) for r in d["reasons"]) for d in unsafe)
    assert sum(d["tier"] == "safe" for d in tickets) > 0
    # every address the run masked (in the file, gone from the table's text) is nowhere in the index build
    masked = set()
    for d in redacted:
        original = (test_corpus / d["path"]).read_text(encoding="utf-8")
        masked |= {a for a in re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", original) if a not in d["text"]}
    assert len(masked) > 20
    index_bytes = b"".join(p.read_bytes() for p in build.iterdir() if p.is_file())
    index_bytes += "\n".join(c["text"] for c in chunks).encode()
    assert not [a for a in masked if a.encode() in index_bytes]
    assert not [a for a in masked if any(a in d["text"] for d in docs)]


def test_index_holds_only_safe_chunks(ingested):
    settings, summary = ingested
    docs, build, chunks = _tables(settings)
    tier = {d["doc_id"]: d["tier"] for d in docs}
    assert chunks and {tier[c["doc_id"]] for c in chunks} == {"safe"}
    manifest = json.loads((build / "manifest.json").read_text())
    safe_ids = {d["doc_id"] for d in docs if d["tier"] == "safe"}
    assert set(manifest["document_hashes"]) == safe_ids
    assert manifest["n_chunks"] == len(chunks) == summary["index"]["chunks"]
    assert summary["tiers"]["safe"] > 100 and summary["tiers"]["unsafe"] >= 15


def test_io_profile_lists_every_stage_with_bytes_where_it_touches_disk(ingested):
    settings, summary = ingested
    profile = json.loads(Path(summary["io_profile"]).read_text())
    by_stage = {s["stage"]: s for s in profile["stages"]}
    assert list(by_stage) == STAGES
    assert by_stage["load"]["rchar"] > 1_000_000  # the corpus is read
    # a stage's logical writes cover at least the files it leaves behind
    # the index stage writes the build, then publishes the documents table with it (the redacted text)
    build = Path(summary["index"]["path"])
    table = (settings.work_dir / "documents.parquet").stat().st_size
    build_bytes = sum(f.stat().st_size for f in build.iterdir())
    assert by_stage["index"]["wchar"] >= build_bytes + table and min(build_bytes, table) > 100_000
    assert by_stage["redact"]["wchar"] < table  # masking writes nothing of its own
    assert by_stage["index"]["fsync_count"] > 0
    assert by_stage["report"]["wchar"] > 0
    assert by_stage["embed"]["items_out"] == summary["index"]["chunks"]


def test_steward_report_matches_the_documents_table(ingested):
    settings, summary = ingested
    report = json.loads(Path(summary["steward_report"]).with_suffix(".json").read_text())
    assert report["tiers"] == {k: v for k, v in summary["tiers"].items() if v}
    assert report["quarantined"] == summary["quarantined"]
    unsafe_rows = [r for r in report["attention"] if r["tier"] == "unsafe"]
    assert len(unsafe_rows) == summary["tiers"]["unsafe"]
    assert all(r["reasons"] for r in report["attention"])
    html = Path(summary["steward_report"]).read_text()
    assert "Needs a steward" in html and unsafe_rows[0]["path"] in html
