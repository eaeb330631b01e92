"""Ticket exports: dates from their timestamps, and the fields the trust and age scorers read."""

import json
from datetime import date

from curation.connectors import FolderConnector
from curation.dates import parse_timestamp, ticket_date
from curation.models import Document
from curation.sources import SourceRegistry


def test_timestamps_in_the_shapes_ticket_exports_use():
    assert parse_timestamp("2021-05-04") == date(2021, 5, 4)
    assert parse_timestamp("2021-05-04T23:10:00Z") == date(2021, 5, 4)
    assert parse_timestamp("2021-05-04 10:00:00+02:00") == date(2021, 5, 4)
    assert parse_timestamp(1620123456) == parse_timestamp("1620123456") == date(2021, 5, 4)
    assert parse_timestamp(1620123456000) == date(2021, 5, 4)  # milliseconds
    assert [parse_timestamp(v) for v in (None, "", "soon", True, 1e30, [])] == [None] * 6
    # the newest timestamp is when the ticket last said something
    assert ticket_date({"created": "2019-01-02", "closed_at": 1620123456, "updated": "bad"}) == date(
        2021, 5, 4
    )


def test_ticket_rows_become_documents_with_their_dates_and_fields(tmp_path):
    rows = [
        {
            "id": "IT-1",
            "title": "VPN drops hourly",
            "text": "The VPN drops every hour.",
            "created_at": "2020-03-01T08:00:00Z",
            "closed_at": 1620123456,
            "status": "Closed",
            "resolution": "Raised the dead-peer timeout.",
            "reviewer": "Kim Park",
            "assignee": "Ana Lopez",
        },
        {
            "id": "PL-7",
            "title": "Turbine 3 vibration",
            "body": "Bearing noise.",
            "asset_installed": "1998-06-01",
        },
    ]
    (tmp_path / "tickets").mkdir()
    (tmp_path / "tickets" / "export.jsonl").write_text(
        "\n".join(json.dumps(r) for r in rows), encoding="utf-8"
    )
    docs = [d for d in FolderConnector(tmp_path, SourceRegistry()) if isinstance(d, Document)]
    vpn, turbine = docs
    assert vpn.updated == date(2021, 5, 4) and vpn.updated_from == "ticket_timestamp"
    assert vpn.meta["status"] == "Closed" and vpn.meta["reviewer"] == "Kim Park"
    assert vpn.meta["resolution"].startswith("Raised") and vpn.meta["author"] == "Ana Lopez"
    assert turbine.updated is None and turbine.updated_from == "unknown"  # no timestamp: age_unknown
    assert turbine.meta["asset_installed"] == "1998-06-01"


def test_manifest_author_reaches_the_document(tmp_path):
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "a.md").write_text("Some text.\n", encoding="utf-8")
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"path": "kb/a.md", "author": "Ana Lopez"}) + "\n")
    (d,) = [d for d in FolderConnector(tmp_path, SourceRegistry()) if isinstance(d, Document)]
    assert d.meta["author"] == "Ana Lopez"
