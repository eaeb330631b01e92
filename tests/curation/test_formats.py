"""Every format the connectors read, on real Debian documentation built by pipelines.fixtures.formats:
part metadata, FILE#PART children, a quarantine reason per bad file, manifest warnings, and the planted
confidential files tiered unsafe by the real sensitive-data scorer and policy."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from curation.connectors import FolderConnector, Limits, location
from curation.models import Document, QuarantineRecord, Tier
from curation.policy import load_policy
from curation.scorers.sensitive import SensitiveDataScorer
from curation.sources import load_registry
from pipelines.fixtures.formats import LONG_PDF_PAGES, build_formats

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("formats")
    return root, build_formats(root, seed=7)


@pytest.fixture(scope="module")
def curated(corpus):
    root, _ = corpus
    connector = FolderConnector(root, load_registry(REPO / "sources.toml"))
    items = list(connector)
    docs = {i.path: i for i in items if isinstance(i, Document)}
    bad = {i.path: i for i in items if isinstance(i, QuarantineRecord)}
    return connector, docs, bad


def test_pdf_keeps_its_pages(curated):
    _, docs, _ = curated
    pdf = docs["formats/libtasn1.pdf"]
    starts = json.loads(pdf.meta["page_starts"])
    assert pdf.meta["pages"] == str(len(starts)) and int(pdf.meta["pages"]) > 20
    assert pdf.text.startswith("Libtasn1") and pdf.updated_from == "file_metadata"
    assert location(pdf.meta, 0) == "page 1" and location(pdf.meta, starts[11] + 5) == "page 12"


def test_office_files_keep_slides_sheets_and_headings(curated):
    _, docs, _ = curated
    deck = docs["formats/postgres-numeric.pptx"]
    starts = json.loads(deck.meta["slide_starts"])
    assert deck.meta["slides"] == "4" and deck.text[starts[1] :].startswith("Slide 2\n")
    assert location(deck.meta, starts[2]) == "slide 3" and "Integer Types" in deck.text
    sheet = docs["formats/postgres-numeric.xlsx"]
    assert json.loads(sheet.meta["sheets"]) == ["Numeric Types"]
    assert sheet.text.startswith("Sheet: Numeric Types\ncolumns: Name; Storage Size; Description; Range\n")
    assert "row 2: Name=smallint; Storage Size=2 bytes;" in sheet.text
    assert location(sheet.meta, 10) == "sheet Numeric Types"
    word = docs["formats/tutorial-controlflow.docx"]
    assert word.title == "More Control Flow Tools" and "\n\n## " in word.text
    runbook = docs["confidential/runbook.docx"]
    assert runbook.text.startswith("INTERNAL USE ONLY")  # the page header is read, markings live there


def test_csv_rows_name_their_columns(curated):
    _, docs, _ = curated
    releases = docs["formats/debian-releases.csv"]
    assert releases.meta["columns"].startswith("version; codename; series")
    assert "row 2: version=1.1; codename=Buzz; series=buzz" in releases.text


def test_mail_children_are_file_hash_part(curated):
    _, docs, _ = curated
    mail = docs["formats/announcement.eml"]
    assert mail.text.startswith("From: ") and "Subject: Accepted python3.11" in mail.text
    assert mail.meta["attachment_names"] == "shared-mime-info-spec.pdf, debian-releases.csv"
    pdf = docs["formats/announcement.eml#shared-mime-info-spec.pdf"]
    assert pdf.meta["part_of"] == "formats/announcement.eml" and pdf.meta["pages"] == "17"
    assert "shared-mime-info" in pdf.text.lower() and pdf.doc_id != mail.doc_id
    assert docs["formats/announcement.eml#debian-releases.csv"].meta["format"] == "csv"


def test_outlook_msg_reads_like_its_eml(curated):
    _, docs, bad = curated
    mail = docs["formats/python-doc-upload.msg"]
    assert mail.text.startswith("From: ") and "\nSubject: Accepted python3.11 " in mail.text
    assert "\n\npython3.11 (" in mail.text  # the changelog entry is the body
    assert mail.meta["attachment_names"] == "debian-releases.csv" and mail.updated_from == "mail_header"
    csv = docs["formats/python-doc-upload.msg#debian-releases.csv"]
    assert csv.meta["part_of"] == "formats/python-doc-upload.msg" and csv.updated == mail.updated
    assert "row 2: version=1.1; codename=Buzz" in csv.text
    eml, msg = docs["confidential/credentials.eml"], docs["confidential/credentials.msg"]
    assert msg.text.split("\n\n", 1)[1] == eml.text.split("\n\n", 1)[1]  # the same body through both
    assert "OLE" in bad["broken/truncated.msg"].detail
    box = sorted(p for p in docs if p.startswith("formats/python-doc-uploads.mbox#"))
    assert box == [f"formats/python-doc-uploads.mbox#{n}" for n in range(1, 6)]
    assert all(docs[p].updated_from == "mail_header" for p in box)


def test_config_files_are_text_with_their_structure(curated):
    _, docs, _ = curated
    for kind in ("ini", "json", "yaml", "toml"):
        doc = docs[f"formats/ssh-hosts.{kind}"]
        assert (doc.meta["format"], doc.meta["config"]) == (
            kind,
            "valid",
        ) and "ServerAliveInterval" in doc.text
    assert docs["confidential/.env"].meta["format"] == "env"  # a dotfile, read because it is one


def test_every_bad_file_gets_its_reason(curated, corpus):
    _, expected = corpus
    _, _, bad = curated
    assert {p: bad[p].reason for p in expected["quarantined"]} == expected["quarantined"]
    assert "OCR" in bad["broken/scanned.pdf"].detail
    assert f"{LONG_PDF_PAGES} pages > max_pages" in bad["broken/long.pdf"].detail
    assert "1000000 rows" in bad["broken/empty-rows.xlsx"].detail
    assert "max_zip_ratio" in bad["broken/bomb.docx"].detail


def test_accounting_holds_and_every_file_is_seen(curated, corpus):
    _, expected = corpus
    connector, docs, bad = curated
    assert connector.units == len(docs) + len(bad)
    seen = {p.split("#", 1)[0] for p in [*docs, *bad]}
    assert seen == set(expected["files"])


def test_manifest_problems_are_warnings_with_their_lines(curated, corpus):
    _, expected = corpus
    connector, _, _ = curated
    missing, undeclared = connector.warnings
    assert f"line {expected['manifest_missing_line']} 'formats/removed-in-2019.pdf'" in missing
    assert "'crm_export' is not declared in sources.toml" in undeclared and "[types.crm_export]" in undeclared


def test_planted_confidential_files_are_unsafe_and_real_docs_are_not(curated, corpus):
    _, expected = corpus
    _, docs, _ = curated
    scorer, policy = SensitiveDataScorer(), load_policy(REPO / "policy.toml")
    tiers = {p: policy.decide(d.doc_id, {"sensitive": scorer.score(d)}).tier for p, d in docs.items()}
    assert {p: tiers[p] for p in expected["unsafe"]} == dict.fromkeys(expected["unsafe"], Tier.UNSAFE)
    assert tiers["confidential/team.mbox#1"] != Tier.UNSAFE  # only the message holding the token
    clean = [p for p in tiers if p.startswith("formats/")]
    assert len(clean) == 19 and all(tiers[p] != Tier.UNSAFE for p in clean)
    people = {p for p, d in docs.items() if "people_table" in d.meta}  # whole sheets of people
    assert people == {"confidential/customers.csv", "confidential/payroll.xlsx", "confidential/staff.xlsx"}
    staff = scorer.score(docs["confidential/staff.xlsx"]).reasons
    assert [r for r in staff if policy.action(r) == "unsafe"] == ["pii_people_table"]  # for being a list


def test_limits_and_timeout_are_parameters(corpus, tmp_path):
    root, _ = corpus
    for name in ("libtasn1.pdf", "debian-releases.csv"):
        (tmp_path / name).write_bytes((root / "formats" / name).read_bytes())
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0 a Word 97 document")
    (tmp_path / "old.msg").write_bytes(b"\xd0\xcf\x11\xe0 an Outlook message, cut short")
    registry = load_registry(REPO / "sources.toml")
    small = FolderConnector(tmp_path, registry, limits=Limits(max_pages=10, max_rows=5))
    assert {i.path: i.reason for i in small} == {
        "libtasn1.pdf": "too_large",
        "debian-releases.csv": "too_large",
        "old.doc": "unsupported_format",
        "old.msg": "corrupt_file",
    }
    assert "(.doc x1)" in small.warnings[-1]
    hurried = FolderConnector(tmp_path, registry, file_timeout_s=0.001)
    assert next(i for i in hurried if i.path == "libtasn1.pdf").reason == "timeout"  # the alarm, or a check
    with ThreadPoolExecutor(1) as pool:  # off the main thread there is no alarm: the parser's own checks
        in_thread = pool.submit(
            lambda: list(FolderConnector(tmp_path, registry, file_timeout_s=0.001))
        ).result()
    pdf = next(i for i in in_thread if i.path == "libtasn1.pdf")
    assert (
        isinstance(pdf, QuarantineRecord) and pdf.reason == "timeout" and "still reading page" in pdf.detail
    )


def test_builder_bytes_repeat(corpus, tmp_path):
    root, expected = corpus
    build_formats(tmp_path, seed=7)
    random_salts = {"broken/encrypted.pdf", "broken/encrypted.docx"}
    for rel in expected["files"]:
        if rel not in random_salts:
            assert (tmp_path / rel).read_bytes() == (root / rel).read_bytes(), rel


def test_the_run_reads_its_bounds_from_settings_and_keeps_the_warnings(corpus):
    from pipelines.core.settings import CurationSettings
    from pipelines.stages import load_documents

    root, expected = corpus
    loaded = load_documents(root, load_registry(REPO / "sources.toml"), CurationSettings(max_pages=10))
    assert loaded.accounted
    pdf = next(q for q in loaded.quarantined if q.path == "formats/libtasn1.pdf")
    assert pdf.reason == "too_large" and "max_pages" in pdf.detail
    assert len(loaded.warnings) == 2 and "formats/removed-in-2019.pdf" in loaded.warnings[0]
    with pytest.raises(ValueError, match="file_timeout_s"):
        CurationSettings(file_timeout_s=0)


def test_chunks_say_which_page_or_slide_they_start_on(curated):
    from types import SimpleNamespace

    from pipelines.core.settings import Settings
    from pipelines.stages import chunk_documents

    _, docs, _ = curated
    pdf, deck = docs["formats/libtasn1.pdf"], docs["formats/postgres-numeric.pptx"]
    words = SimpleNamespace(tokenizer_fn=lambda: str.split)  # word tokens: the chunker needs no model here
    nodes = chunk_documents([pdf, deck], words, Settings())  # type: ignore[arg-type]
    starts = json.loads(pdf.meta["page_starts"])
    pdf_nodes = [n for n in nodes if n.metadata["doc_id"] == pdf.doc_id]
    pages = [int(n.metadata["location"].removeprefix("page ")) for n in pdf_nodes]
    assert pages[0] == 1 and pages == sorted(pages) and pages[-1] >= len(starts) - 1
    for node, page in zip(pdf_nodes, pages, strict=True):  # the chunk's first line is on the page it names
        first = node.text.strip().split("\n", 1)[0][:40]
        end = starts[page] if page < len(starts) else len(pdf.text)
        assert first in pdf.text[starts[page - 1] : end + len(first)]
    assert {n.metadata["location"] for n in nodes if n.metadata["doc_id"] == deck.doc_id} <= {
        f"slide {i}" for i in range(1, 5)
    }
    assert "location" in nodes[0].excluded_embed_metadata_keys


def test_the_steward_report_shows_the_folders_warnings():
    import pyarrow as pa

    from curation.report import build_report, render_html

    table = pa.table({c: pa.array([], pa.string()) for c in (
        "doc_id", "title", "source", "path", "tier", "overridden_by")} | {
        "updated": pa.array([], pa.date32()), "reasons": pa.array([], pa.list_(pa.string())),
        **{f"score_{s}": pa.array([], pa.float64()) for s in ("age", "relevance", "trust", "quality")},
    })
    warning = "manifest.jsonl line 3 'gone.pdf': no such file <b>"
    report = build_report("run-1", table, [], [warning])
    assert report["warnings"] == [warning]
    page = render_html(report)
    assert "Warnings (1)" in page and "no such file &lt;b&gt;" in page
    assert "Warnings" not in render_html(build_report("run-2", table, [], []))
