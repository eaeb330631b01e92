import json
from datetime import date

from curation.connectors import FolderConnector
from curation.models import Document, QuarantineRecord
from curation.sources import SourceRegistry


def run(tmp_path, **kwargs):
    connector = FolderConnector(tmp_path, SourceRegistry(), **kwargs)
    items = list(connector)
    docs = [i for i in items if isinstance(i, Document)]
    bad = {i.path: i.reason for i in items if isinstance(i, QuarantineRecord)}
    return connector, docs, bad


def test_every_file_is_a_document_or_a_quarantine_record(tmp_path):
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "ok.md").write_text("# Title\n\nSome text.\n", encoding="utf-8")
    (tmp_path / "kb" / "page.html").write_text(
        "<html><head><title>Page</title></head><body><nav>menu</nav><p>Hello <b>world</b></p>"
        "<pre><span>x</span> <span>=</span> <span>1</span></pre></body></html>",
        encoding="utf-8",
    )
    (tmp_path / "kb" / "empty.txt").write_bytes(b"")
    (tmp_path / "kb" / "junk.txt").write_bytes(b"\x00\x01\x02" * 100)
    (tmp_path / "kb" / "latin.txt").write_bytes(
        "Café au lait, crème brûlée, à bientôt. ".encode("latin-1") * 20
    )
    (tmp_path / "kb" / "blank.html").write_text("<html><body><script>x()</script></body></html>")
    (tmp_path / "kb" / "sheet.xlsx").write_bytes(b"PK\x03\x04 not really")
    connector, docs, bad = run(tmp_path)
    assert connector.units == 7 == len(docs) + len(bad)
    assert bad == {
        "kb/empty.txt": "empty_file",
        "kb/junk.txt": "binary_content",
        "kb/latin.txt": "not_utf8",
        "kb/blank.html": "no_text_content",
        "kb/sheet.xlsx": "corrupt_file",  # a ZIP header and nothing more: a truncated package
    }
    page = next(d for d in docs if d.path == "kb/page.html")
    assert page.title == "Page" and "menu" not in page.text
    assert "Hello world" in page.text and "x = 1" in page.text  # inline code tokens stay on one line


def test_legacy_encoding_can_be_accepted(tmp_path):
    (tmp_path / "latin.txt").write_bytes("Café au lait, crème brûlée, à bientôt. ".encode("latin-1") * 20)
    _, docs, bad = run(tmp_path, legacy_encoding="cp1252")
    assert not bad and "crème brûlée" in docs[0].text


def test_manifest_dates_then_content_dates_then_file_time(tmp_path):
    (tmp_path / "a.txt").write_text("plain text without a date " * 5)
    (tmp_path / "b.txt").write_text(
        "hello\n\n -- Jane Doe <jane@example.org>  Mon, 12 Feb 2024 10:00:00 +0100\n"
    )
    (tmp_path / "c.txt").write_text("anything " * 5)
    (tmp_path / "manifest.jsonl").write_text(
        json.dumps(
            {
                "path": "c.txt",
                "title": "C",
                "source": "tickets",
                "source_type": "support_ticket",
                "updated": "2019-05-04",
            }
        )
        + "\n"
    )
    _, docs, _ = run(tmp_path)
    by_path = {d.path: d for d in docs}
    assert by_path["a.txt"].updated_from == "file_mtime"
    assert (by_path["b.txt"].updated, by_path["b.txt"].updated_from) == (date(2024, 2, 12), "content")
    assert (by_path["c.txt"].updated, by_path["c.txt"].source) == (date(2019, 5, 4), "tickets")


def test_jsonl_tickets_quarantine_bad_lines_alone(tmp_path):
    lines = [
        json.dumps({"id": "T1", "title": "Printer", "text": "Printer jams", "created": "2025-01-02"}),
        "{not json",
        json.dumps({"id": "T3", "text": ""}),
    ]
    (tmp_path / "tickets.jsonl").write_text("\n".join(lines) + "\n")
    connector, docs, bad = run(tmp_path)
    assert [d.title for d in docs] == ["Printer"] and docs[0].updated == date(2025, 1, 2)
    assert bad == {"tickets.jsonl#L2": "bad_ticket_line", "tickets.jsonl#L3": "bad_ticket_line"}
    assert connector.units == 3


def test_an_outlook_message_attached_to_a_mail_is_read_and_a_damaged_one_is_a_failed_child(tmp_path):
    from email.message import EmailMessage

    from pipelines.fixtures.formats.outlook import msg_bytes
    from pipelines.fixtures.formats.real_text import changelog_mails

    upload = changelog_mails(1)[0]
    upload.add_attachment(b"host,port\ndb1,5432\ndb2,5433\n", "text", "csv", filename="hosts.csv")
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = "ops@corp.example.net", "team@corp.example.net", "fwd"
    outer.set_content("Both uploads, one copy came through damaged.\n")
    data = msg_bytes(upload)
    outer.add_attachment(data, "application", "vnd.ms-outlook", filename="upload.msg")
    outer.add_attachment(data[: len(data) // 3], "application", "vnd.ms-outlook", filename="cut.msg")
    (tmp_path / "fwd.eml").write_bytes(outer.as_bytes())
    connector, docs, bad = run(tmp_path)
    paths = {d.path: d for d in docs}
    assert set(paths) == {"fwd.eml", "fwd.eml#upload.msg", "fwd.eml#upload.msg#hosts.csv"}
    assert "Subject: Accepted python3.11" in paths["fwd.eml#upload.msg"].text
    assert "row 3: host=db2; port=5433" in paths["fwd.eml#upload.msg#hosts.csv"].text
    assert bad == {"fwd.eml#cut.msg": "corrupt_file"} and connector.units == 4
