"""Relevance: the contrast between the domain profile and the off-domain profiles, on the real MiniLM model
(helpdesk tickets pass, quotation pages about food are flagged) and on a toy embedding (the rule itself)."""

from __future__ import annotations

import numpy as np
import pytest

from curation.models import Document
from curation.scorers.relevance import DEFAULT_OFF_DOMAIN_EXEMPLARS, RelevanceScorer
from pipelines.core.settings import CurationSettings, DomainSettings
from pipelines.scoring import relevance_scorer

# Synthetic IT helpdesk tickets (written for this test): what a company's support queue holds.
TICKETS = [
    ("VPN drops every 20 minutes", "The VPN client disconnects every 20 minutes when working from "
     "home; reconnecting works for a while. Resolution: updated the client and disabled Wi-Fi power saving."),
    ("Print queue stuck", "Jobs pile up on the third-floor printer and nothing prints. Restarted the print "
     "spooler service on the print server and cleared the stuck job."),
    ("Outlook search returns nothing", "Search in Outlook finds no mail older than last week. Rebuilt the "
     "Windows search index on the laptop; search works again."),
    ("Build agent disk full", "CI builds fail with 'No space left on device' on build-agent-07. Removed old "
     "Docker images and workspace caches and added a nightly cleanup job."),
    ("Login fails after password reset", "The user changed the password but the laptop still rejects it. "
     "Cached credentials: connected to the office network, locked and unlocked the session to sync."),
    ("Shared drive missing", "The S: drive no longer appears after login. The group policy logon script "
     "failed; re-added the user to the file share's security group."),
    ("Wi-Fi certificate expired", "Staff devices cannot join the corporate Wi-Fi since morning: the RADIUS "
     "server certificate expired. Renewed the certificate and pushed it to the devices through MDM."),
    ("Database connection pool exhausted", "The order service logs 'too many connections' from PostgreSQL at "
     "peak hours. Raised max_connections and put PgBouncer in front of the database."),
]  # fmt: skip
OFF_DOMAIN = [
    ("Quotations about food", "Bread is the staff of life.\n\nAn apple a day keeps the doctor away.\n\n"
     "The way to a man's heart is through his stomach.\n\nThere is no sincerer love than the love of "
     "food. -- Shaw"),
    ("Sunday lemon cake", "Whisk three eggs with the sugar until pale, fold in the flour and the zest of two "
     "lemons, and bake for forty minutes. Serve with cream and a glass of dessert wine."),
    ("The cup final", "The home team won the final two goals to one after a late penalty; the captain lifted "
     "the cup as the fans sang in the rain."),
]  # fmt: skip


def _doc(title: str, text: str) -> Document:
    return Document(title.lower().replace(" ", "-"), "helpdesk", "ticket", f"{title}.txt", title, text)


@pytest.fixture(scope="module")
def scorer(embedder) -> RelevanceScorer:
    return relevance_scorer(embedder.embed, DomainSettings(), CurationSettings())


def test_helpdesk_tickets_are_not_flagged_off_domain(scorer):
    results = scorer.score_many([_doc(t, x) for t, x in TICKETS])
    flagged = [(t, r.score, r.details) for (t, _), r in zip(TICKETS, results, strict=True) if r.reasons]
    assert flagged == []
    assert all(r.score >= 0.25 for r in results)


def test_food_quotations_and_sports_are_flagged_off_domain(scorer):
    results = scorer.score_many([_doc(t, x) for t, x in OFF_DOMAIN])
    assert [r.reasons for r in results] == [["relevance_off_domain"]] * len(OFF_DOMAIN)
    assert results[0].details["nearest_off_domain"] == "Food and cooking"


def test_details_name_the_nearest_domain_exemplar(scorer):
    (ticket, pg) = scorer.score_many([_doc(*TICKETS[0]), _doc(*TICKETS[7])])
    assert ticket.details["nearest"] == "IT support ticket"
    assert pg.details["nearest"] in {"IT support ticket", "PostgreSQL database administration"}
    for r in (ticket, pg):
        assert r.details["margin"] == pytest.approx(r.details["cosine"] - r.details["off_cosine"], abs=2e-4)


def _toy_embed(texts: list[str]) -> np.ndarray:
    """Each text is a unit vector at the angle it names ("deg:30"); the profiles are on the axes."""
    out = []
    for t in texts:
        deg = float(t.rsplit("deg:", 1)[1].split()[0]) if "deg:" in t else 0.0
        out.append([np.cos(np.radians(deg)), np.sin(np.radians(deg))])
    return np.array(out, dtype="float32")


def test_the_rule_is_the_margin_mapped_from_low_to_high():
    # domain profile at 0 degrees, off-domain profile at 90: a text at angle a has margin cos(a) - sin(a)
    toy = RelevanceScorer(_toy_embed, description="deg:0", exemplars=(), off_domain_exemplars=["deg:90"],
                          low=-0.1, high=0.1)  # fmt: skip
    angles = (10, 45, 46, 50, 80)
    results = toy.score_many([Document(str(a), "kb", "kb", f"{a}.txt", "", f"deg:{a}") for a in angles])
    margins = [np.cos(np.radians(a)) - np.sin(np.radians(a)) for a in angles]
    assert [r.score for r in results] == pytest.approx([1.0, 0.5, 0.3766, 0.0, 0.0], abs=1e-3)
    assert [r.details["margin"] for r in results] == pytest.approx(margins, abs=1e-3)
    assert [bool(r.reasons) for r in results] == [False, False, False, True, True]  # flagged under 0.25
    assert toy.stats.reasons == {"relevance_off_domain": 2}


def test_off_domain_exemplars_are_required_and_default_to_the_settings():
    with pytest.raises(ValueError, match="off-domain exemplar"):
        RelevanceScorer(_toy_embed, description="deg:0", off_domain_exemplars=())
    assert tuple(DomainSettings().off_domain_exemplars) == DEFAULT_OFF_DOMAIN_EXEMPLARS
