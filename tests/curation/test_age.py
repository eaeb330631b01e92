from datetime import date

import pytest

from curation.scorers.age import AgeScorer
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
