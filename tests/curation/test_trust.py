import pytest

from curation.scorers.trust import SourceTrustScorer
from curation.sources import SourceRegistry, SourceSpec, SourceType, TrustSignals
from tests.curation.helpers import doc

# A real Debian changelog entry (python3-defaults): the trailer names its uploader, "Closes:" its bug.
CHANGELOG = """python3-defaults (3.11.2-1) unstable; urgency=medium

  * Python 3.11.2 becomes the default python3 version. Closes: #1021984.

 -- Matthias Klose <doko@debian.org>  Mon, 13 Feb 2023 12:18:05 +0100
"""


@pytest.fixture
def registry() -> SourceRegistry:
    return SourceRegistry(
        types={
            "support_ticket": SourceType("support_ticket", 0.6, 730.0),
            "web": SourceType("web", 0.3, 365.0),
        },
        sources={
            "tickets": SourceSpec(
                "tickets", "support_ticket", authors=frozenset({"doko@debian.org", "ana lopez"})
            ),
            "web": SourceSpec("web", "web"),
        },
        signals=TrustSignals(resolution_note=0.1, named_reviewer=0.1, known_author=0.1),
    )


def _score(registry, text: str, source: str = "tickets", **meta: str):
    d = doc(text, source=source, source_type="support_ticket")
    d.meta.update(meta)
    return SourceTrustScorer(registry).score(d)


def test_prior_alone_without_signals(registry):
    result = _score(registry, "The printer is offline again. " * 5)
    assert result.score == 0.6 and result.reasons == [] and result.details["prior"] == 0.6


def test_changelog_closing_a_bug_by_a_known_uploader(registry):
    result = _score(registry, CHANGELOG)
    assert result.reasons == ["trust_resolution_note", "trust_known_author"]
    assert result.score == pytest.approx(0.8)


def test_closed_ticket_with_resolution_and_named_reviewer(registry):
    result = _score(registry, "VPN drops every hour.", status="Closed", resolution="Raised the DPD timeout.")
    assert result.reasons == ["trust_resolution_note"]
    reviewed = _score(
        registry, "VPN drops every hour.\nResolution: raised the DPD timeout.\nReviewed-by: Kim Park"
    )
    assert reviewed.reasons == ["trust_resolution_note", "trust_named_reviewer"]
    approved = _score(registry, "Change approved by Ana Lopez after the pilot.", author="Ana Lopez")
    assert approved.reasons == ["trust_named_reviewer", "trust_known_author"]


def test_signals_need_their_evidence(registry):
    # an open ticket's resolution field, "reviewed by the team", an unknown author: no signal
    assert _score(registry, "Still broken.", status="open", resolution="n/a").reasons == []
    assert _score(registry, "This was reviewed by the team last week.").reasons == []
    assert _score(registry, "Author: Somebody Else\nText.").reasons == []


def test_low_trust_source_stays_flagged_and_trust_is_capped(registry):
    web = _score(registry, CHANGELOG + "Reviewed-by: Kim Park", source="web")
    assert web.reasons[0] == "trust_low_source" and web.score == pytest.approx(0.5)
    rich = SourceRegistry(registry.types, registry.sources, TrustSignals(0.3, 0.3, 0.3))
    assert _score(rich, CHANGELOG + "Reviewed-by: Kim Park").score == 1.0


def test_repo_sources_toml_declares_signal_weights():
    from pathlib import Path

    from curation.sources import load_registry

    repo = load_registry(Path(__file__).resolve().parents[2] / "sources.toml")
    assert repo.signals.resolution_note > 0 and repo.asset_lifetime_days("x", "asset_ticket") >= 20 * 365
