from pathlib import Path

from curation.models import ScoreResult, Tier
from curation.policy import Override, load_policy

REPO = Path(__file__).resolve().parents[2]


def scores(**reasons_by_scorer) -> dict[str, ScoreResult]:
    base = {"age": 0.9, "trust": 0.9, "relevance": 0.9, "quality": 1.0, "sensitive": 1.0, "duplicate": 1.0}
    return {
        name: ScoreResult(name, value, list(reasons_by_scorer.get(name, []))) for name, value in base.items()
    }


def test_repo_policy_tiers():
    policy = load_policy(REPO / "policy.toml")
    assert policy.decide("a", scores()).tier is Tier.SAFE
    unsafe = policy.decide("b", scores(sensitive=["pii_email"], age=["age_unknown"]))
    assert unsafe.tier is Tier.UNSAFE and unsafe.reasons == ["age_unknown", "pii_email"]
    assert policy.decide("c", scores(age=["age_stale_for_domain"])).tier is Tier.REVIEW


def test_low_trust_and_low_relevance_needs_review_with_a_policy_reason():
    policy = load_policy(REPO / "policy.toml")
    s = scores()
    s["trust"].score, s["relevance"].score = 0.3, 0.1
    decision = policy.decide("d", s)
    assert decision.tier is Tier.REVIEW and "policy_low_trust_low_relevance" in decision.reasons


def test_override_beats_policy_and_is_recorded():
    policy = load_policy(REPO / "policy.toml")
    decision = policy.decide(
        "e", scores(sensitive=["pii_email"]), Override(Tier.SAFE, "ana", "public address")
    )
    assert decision.tier is Tier.SAFE and decision.overridden_by == "ana"
    assert "steward_override_safe" in decision.reasons
