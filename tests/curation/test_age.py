from datetime import date

import pytest

from curation.models import Document
from curation.scorers.age import AgeScorer
from curation.scorers.detect.versions import version_of
from curation.sources import SourceRegistry, SourceSpec, SourceType
from tests.curation.helpers import doc

TODAY = date(2026, 11, 26)


@pytest.fixture
def registry() -> SourceRegistry:
    return SourceRegistry(
        types={
            "support_ticket": SourceType("support_ticket", 0.6, 730.0),
            "asset_ticket": SourceType("asset_ticket", 0.6, 9125.0),
        },
        sources={"it": SourceSpec("it", "support_ticket"), "plant": SourceSpec("plant", "asset_ticket")},
    )


def test_score_halves_at_half_life(registry):
    scorer = AgeScorer(registry, today=TODAY)
    result = scorer.score(doc(source="it", source_type="support_ticket", updated=date(2024, 11, 26)))
    assert result.score == pytest.approx(0.5, abs=0.01)
    assert result.details["age_days"] == 730
    assert result.reasons == []


def test_old_consumer_ticket_is_stale_but_old_plant_ticket_is_not(registry):
    scorer = AgeScorer(registry, today=TODAY)
    fifteen_years = date(2011, 11, 26)
    modem = scorer.score(doc(source="it", source_type="support_ticket", updated=fifteen_years))
    turbine = scorer.score(doc(source="plant", source_type="asset_ticket", updated=fifteen_years))
    assert "age_stale_for_domain" in modem.reasons and modem.score < 0.01
    assert turbine.reasons == [] and turbine.score > 0.6


def test_unknown_age_is_a_reason_not_a_silent_default(registry):
    result = AgeScorer(registry, today=TODAY).score(doc(source="it", updated=None, updated_from="unknown"))
    assert result.reasons == ["age_unknown"]
    assert result.score == 0.5


def test_file_time_is_flagged_and_future_dates_clamped(registry):
    scorer = AgeScorer(registry, today=TODAY)
    mtime = scorer.score(doc(source="it", updated=date(2026, 11, 1), updated_from="file_mtime"))
    future = scorer.score(doc(source="it", updated=date(2030, 1, 1)))
    assert "age_from_file_time" in mtime.reasons
    assert future.reasons == ["age_future_date"] and future.score == 1.0


# --- asset lifetime -------------------------------------------------------------------------------------


@pytest.fixture
def plant_registry() -> SourceRegistry:
    return SourceRegistry(
        types={
            "support_ticket": SourceType("support_ticket", 0.6, 730.0),
            # retired equipment's tickets go stale like consumer IT; in service, they keep their value
            "asset_ticket": SourceType("asset_ticket", 0.6, 730.0, asset_lifetime_days=10950.0),
        },
        sources={"it": SourceSpec("it", "support_ticket"), "plant": SourceSpec("plant", "asset_ticket")},
    )


def test_old_ticket_about_equipment_in_service_keeps_full_value(plant_registry):
    scorer = AgeScorer(plant_registry, today=TODAY)
    fifteen_years = date(2011, 11, 26)
    turbine = scorer.score(doc(source="plant", source_type="asset_ticket", updated=fifteen_years))
    modem = scorer.score(doc(source="it", source_type="support_ticket", updated=fifteen_years))
    assert turbine.score == 1.0 and turbine.reasons == []
    assert (
        turbine.details["asset_in_service"] is True and turbine.details["asset_service_end"] == "2041-11-18"
    )
    assert modem.score < 0.01 and "age_stale_for_domain" in modem.reasons


def test_equipment_past_its_lifetime_decays_from_its_end_of_service(plant_registry):
    scorer = AgeScorer(plant_registry, today=TODAY)
    ticket = doc(source="plant", source_type="asset_ticket", updated=date(2010, 1, 1))
    ticket.meta["asset_installed"] = "1994-11-26"  # 30 years of service ended 2024-11-18: two years ago
    result = scorer.score(ticket)
    assert result.details["asset_in_service"] is False
    assert result.score == pytest.approx(0.5 ** (738 / 730), abs=1e-3)
    assert "age_stale_for_domain" not in result.reasons


# --- superseded versions ----------------------------------------------------------------------------------


def test_older_minor_release_notes_are_superseded_by_the_newest(registry):
    notes = [
        _titled("E.14. Release 15.7", date(2024, 5, 9), "release-15-7.html"),
        _titled("E.1. Release 15.20", date(2026, 11, 12), "release-15-20.html"),
        _titled("E.12. Release 15.9", date(2024, 11, 14), "release-15-9.html"),
        _titled(
            "E.21. Release 15", date(2022, 10, 13), "release-15.html"
        ),  # the major release: its own family
        _titled("26.1. SQL Dump", date(2026, 11, 12), "backup-dump.html"),
    ]
    by_title = dict(
        zip([d.title for d in notes], AgeScorer(registry, today=TODAY).score_many(notes), strict=True)
    )
    newest, major, dump = (
        by_title["E.1. Release 15.20"],
        by_title["E.21. Release 15"],
        by_title["26.1. SQL Dump"],
    )
    assert "age_superseded" not in newest.reasons + major.reasons + dump.reasons
    for title in ("E.14. Release 15.7", "E.12. Release 15.9"):
        old = by_title[title]
        assert "age_superseded" in old.reasons
        assert (
            old.details["superseded_by"] == "release-15-20.html" and old.details["newest_version"] == "15.20"
        )
        alone = AgeScorer(registry, today=TODAY).score(next(d for d in notes if d.title == title))
        assert old.score == pytest.approx(alone.score * 0.5, abs=1e-4)


def test_version_families_from_real_titles_and_paths():
    def family(title: str, path: str = "x.html", source: str = "pg") -> tuple[object, ...] | None:
        found = version_of(_titled(title, None, path, source))
        return None if found is None else (found.family[1:], found.number)

    assert family("E.1. Release 15.20") == (("release {v}", (15,)), (15, 20))
    assert family("E.21. Release 15") == (("release {v}", ()), (15,))
    assert family("Release Notes", "release-15-3.html") == (("release-{v}", (15,)), (15, 3))
    assert family("What's New In Python 3.11") == (("what's new in python {v}", (3,)), (3, 11))
    # a bare number is no version, a section number is not either
    assert family("Top 10 tips") is None and family("3. An Informal Introduction to Python") is None
    # changelog entries name different changes: their subjects keep them apart
    a = version_of(_titled("libdrm 2.4.108-1: New upstream release.", None, "a.txt"))
    b = version_of(_titled("libdrm 2.4.114-1: New upstream release.", None, "b.txt"))
    c = version_of(_titled("libdrm 2.4.114-2: Fix a crash", None, "c.txt"))
    assert a and b and c and a.family == b.family != c.family


def test_equal_versions_are_not_superseded_and_sources_are_separate(registry):
    docs = [
        _titled("Release 15.3", date(2023, 5, 11), "a.html", "pg"),
        _titled("Release 15.3", date(2023, 5, 11), "b.html", "pg"),  # a copy: the duplicate scorer's business
        _titled("Release 15.4", date(2023, 8, 10), "c.html", "mirror"),  # another source
    ]
    assert all("age_superseded" not in r.reasons for r in AgeScorer(registry, today=TODAY).score_many(docs))


def _titled(title: str, updated: date | None, path: str, source: str = "pg") -> Document:
    d = doc(source=source, source_type="product_docs", updated=updated, path=path)
    d.title = title
    return d


def test_tickets_and_standards_are_not_versions_of_each_other(registry):
    tickets = [
        _titled("libdrm 2.4.108-1: New upstream release.", date(2021, 11, 2), "a.txt", "it"),
        _titled("libdrm 2.4.114-1: New upstream release.", date(2022, 11, 3), "b.txt", "it"),
    ]
    for t in tickets:
        t.source_type = "support_ticket"  # a ticket records one event; the next one does not replace it
    assert all(
        "age_superseded" not in r.reasons for r in AgeScorer(registry, today=TODAY).score_many(tickets)
    )
    # ITU-T V.11 and V.42 (FOLDOC entries, file names v-11.txt and v-42.txt) are different standards
    assert version_of(_titled("V.11", None, "kb-foldoc/v-11.txt")) is None
