from pathlib import Path

import pytest

from curation.models import Override, ScoreResult, Tier
from curation.policy import DEFAULT_ACTIONS, TierPolicy, load_policy

REPO = Path(__file__).resolve().parents[2]


def scores(**reasons_by_scorer) -> dict[str, ScoreResult]:
    base = {"age": 0.9, "trust": 0.9, "relevance": 0.9, "quality": 1.0, "sensitive": 1.0, "duplicate": 1.0}
    return {
        name: ScoreResult(name, value, list(reasons_by_scorer.get(name, []))) for name, value in base.items()
    }


def test_repo_policy_tiers():
    policy = load_policy(REPO / "policy.toml")
    assert policy.decide("a", scores()).tier is Tier.SAFE
    unsafe = policy.decide("b", scores(sensitive=["pii_iban"], age=["age_unknown"]))
    assert unsafe.tier is Tier.UNSAFE and unsafe.reasons == ["age_unknown", "pii_iban"]
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


# --- actions: unsafe, redact, review -------------------------------------------------------------------


def test_contact_data_is_redacted_and_the_document_tiered_on_everything_else():
    policy = load_policy(REPO / "policy.toml")
    kept = policy.decide("f", scores(sensitive=["pii_email", "pii_phone"]))
    assert kept.tier is Tier.SAFE and kept.redact == ["pii_email", "pii_phone"]
    assert kept.reasons == ["pii_email", "pii_phone", "redacted_pii_email", "redacted_pii_phone"]
    stale = policy.decide("g", scores(sensitive=["pii_ip_address"], age=["age_stale_for_domain"]))
    assert stale.tier is Tier.REVIEW and stale.redact == ["pii_ip_address"]


@pytest.mark.parametrize(
    "reason",
    ["pii_credit_card", "pii_iban", "pii_national_id", "pii_too_many_findings", "secret_aws_key",
     "secret_private_key", "secret_connection_string", "confidential_marking"],
)  # fmt: skip
def test_cards_ids_secrets_and_markings_stay_unsafe_even_beside_a_redacted_address(reason):
    policy = load_policy(REPO / "policy.toml")
    decision = policy.decide("h", scores(sensitive=["pii_email", reason]))
    assert decision.tier is Tier.UNSAFE and decision.redact == ["pii_email"]


def test_a_review_action_sends_to_review_without_redacting():
    policy = TierPolicy(actions={"pii_phone": "review"})
    decision = policy.decide("i", scores(sensitive=["pii_phone"]))
    assert decision.tier is Tier.REVIEW and decision.redact == [] and decision.reasons == ["pii_phone"]
    # a policy built in code redacts nothing unless told (it may tier text no redact stage will mask)
    assert TierPolicy().decide("j", scores(sensitive=["pii_email"])).tier is Tier.UNSAFE


def test_a_policy_file_without_actions_gets_the_default_redactions(tmp_path):
    (tmp_path / "policy.toml").write_text("[review]\nmin_age = 0.25\n", encoding="utf-8")
    assert dict(load_policy(tmp_path / "policy.toml").actions) == dict(DEFAULT_ACTIONS)


def test_a_redaction_the_stored_text_lacks_waits_in_review():
    policy = load_policy(REPO / "policy.toml")
    pending = policy.decide("k", scores(sensitive=["pii_email"]), redacted=set())
    assert pending.tier is Tier.REVIEW and "policy_redaction_needs_ingest" in pending.reasons
    done = policy.decide("k", scores(sensitive=["pii_email"]), redacted={"pii_email"})
    assert done.tier is Tier.SAFE


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        ('pii_email = "mask"', "must be one of ['unsafe', 'redact', 'review']"),
        ('age_unknown = "redact"', "not a reason with an unsafe prefix"),
        ('"PII Email" = "redact"', "not a reason with an unsafe prefix"),
    ],
)
def test_bad_actions_fail_with_a_message_that_says_what_to_write(tmp_path, actions, message):
    path = tmp_path / "policy.toml"
    path.write_text(f"[actions]\n{actions}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=f"{path}.*") as err:
        load_policy(path)
    assert message in str(err.value)
