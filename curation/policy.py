"""The tier policy (`policy.toml`): combines scores and reasons into safe / review / unsafe. It never reads
the text: changing the policy re-tiers documents without re-scoring them."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from curation.models import Decision, Override, ScoreResult, Tier

DEFAULT_UNSAFE_PREFIXES = ("pii_", "secret_", "confidential_")  # personal data, secrets, markings


@dataclass(slots=True)
class TierPolicy:
    unsafe_prefixes: tuple[str, ...] = DEFAULT_UNSAFE_PREFIXES
    review_reasons: frozenset[str] = field(default_factory=frozenset)
    min_age: float = 0.25
    min_quality: float = 0.5
    low_trust_below: float = 0.5
    low_relevance_below: float = 0.35

    def decide(
        self, doc_id: str, scores: dict[str, ScoreResult], override: Override | None = None
    ) -> Decision:
        reasons = sorted({r for s in scores.values() for r in s.reasons})
        tier = Tier.SAFE
        if any(r.startswith(self.unsafe_prefixes) for r in reasons):
            tier = Tier.UNSAFE
        else:
            policy_reasons = self._policy_reasons(scores)
            if policy_reasons or any(r in self.review_reasons for r in reasons):
                tier = Tier.REVIEW
                reasons += policy_reasons
        if override is None:
            return Decision(doc_id, tier, reasons)
        note = f"steward_override_{override.tier.value}"
        return Decision(
            doc_id, Override.applied_to(tier, override), [*reasons, note], overridden_by=override.who
        )

    def _policy_reasons(self, scores: dict[str, ScoreResult]) -> list[str]:
        """Review reasons that come from policy thresholds rather than from a scorer's own flags."""
        out = []
        if "age" in scores and scores["age"].score < self.min_age:
            out.append("policy_age_below_min")
        if "quality" in scores and scores["quality"].score < self.min_quality:
            out.append("policy_quality_below_min")
        trust, relevance = scores.get("trust"), scores.get("relevance")
        if (
            trust
            and relevance
            and trust.score < self.low_trust_below
            and relevance.score < self.low_relevance_below
        ):
            out.append("policy_low_trust_low_relevance")
        return out


def load_policy(path: Path) -> TierPolicy:
    if not path.exists():
        raise FileNotFoundError(f"tier policy {path} not found: copy policy.toml from the repo")
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    review = raw.get("review", {})
    return TierPolicy(
        unsafe_prefixes=tuple(raw.get("unsafe", {}).get("reason_prefixes", DEFAULT_UNSAFE_PREFIXES)),
        review_reasons=frozenset(review.get("reasons", [])),
        min_age=float(review.get("min_age", 0.25)),
        min_quality=float(review.get("min_quality", 0.5)),
        low_trust_below=float(review.get("low_trust_below", 0.5)),
        low_relevance_below=float(review.get("low_relevance_below", 0.35)),
    )
