"""The tier policy (`policy.toml`): combines scores and reasons into safe / review / unsafe, and says per
flagged reason whether it excludes the document, has its spans redacted, or sends it to review ([actions]).
It never reads the text: changing the policy re-tiers documents without re-scoring them.

A steward's group rule (`GroupRule`, stored in steward.db) decides one reason for one source: `approve` (the
reason no longer holds the document back), `reject` (the document is unsafe) or `redact` (the reason's action
is redact for that source). A per-document override still beats every rule."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from curation.models import Decision, Override, ScoreResult, Tier

DEFAULT_UNSAFE_PREFIXES = ("pii_", "secret_", "confidential_")  # personal data, secrets, markings
# What a flagged reason (one with an unsafe prefix) does to its document; a reason not listed is "unsafe".
ACTIONS = ("unsafe", "redact", "review")
# Contact data is masked and the document kept; cards, IBANs, national IDs, secrets and markings exclude it.
DEFAULT_ACTIONS: Mapping[str, str] = MappingProxyType(
    {"pii_email": "redact", "pii_phone": "redact", "pii_ip_address": "redact"}
)
REDACTED_PREFIX = "redacted_"  # `redacted_pii_email`: the decision's note that those spans are masked
_REASON = re.compile(r"[a-z][a-z0-9_]*")
RULE_DECISIONS = ("approve", "reject", "redact")
RULE_PREFIX = "steward_rule_"  # `steward_rule_3`: the decision's note that group rule #3 applied
# Reasons about the whole document: there is no span to mask, so redact would keep the data as it is.
NOT_REDACTABLE = frozenset({"pii_people_table", "pii_too_many_findings"})
# Notes the policy writes itself; a rule on them would decide nothing (a redaction waits for ingest).
UNDECIDABLE = ("steward_", REDACTED_PREFIX, "policy_redaction_needs_ingest")


@dataclass(slots=True, frozen=True)
class GroupRule:
    """A steward's decision on every document of `source` that carries `reason` (steward.db `rules`)."""

    id: int
    source: str
    reason: str
    decision: str  # one of RULE_DECISIONS
    who: str
    why: str
    at: float = 0.0  # epoch seconds
    active: bool = True

    @property
    def note(self) -> str:
        return f"{RULE_PREFIX}{self.id}"


def redactable(reason: str) -> bool:
    """Personal data with spans the redaction stage can mask (never secrets or markings: they stay unsafe)."""
    return reason.startswith("pii_") and reason not in NOT_REDACTABLE


def check_rule(reason: str, decision: str) -> None:
    """Raise ValueError (with what to do instead) when a rule on `reason` with `decision` cannot apply."""
    if decision not in RULE_DECISIONS:
        raise ValueError(f"a rule decides approve, reject or redact, not {decision!r}")
    if not _REASON.fullmatch(reason) or reason.startswith(UNDECIDABLE):
        raise ValueError(f"{reason!r} is not a reason a rule can decide (a scorer's or a policy_ reason)")
    if decision == "redact" and not redactable(reason):
        raise ValueError(f"{reason} has no spans to mask: approve or reject it instead of redact")


@dataclass(slots=True)
class TierPolicy:
    unsafe_prefixes: tuple[str, ...] = DEFAULT_UNSAFE_PREFIXES
    review_reasons: frozenset[str] = field(default_factory=frozenset)
    min_age: float = 0.25
    min_quality: float = 0.5
    low_trust_below: float = 0.5
    low_relevance_below: float = 0.35
    # flagged reason -> "unsafe" | "redact" | "review"; a flagged reason not listed is "unsafe". Empty here
    # (fail-safe: code that tiers without the ingestion run's redact stage must not mark unredacted text
    # safe); load_policy gives DEFAULT_ACTIONS when policy.toml has no [actions].
    actions: Mapping[str, str] = field(default_factory=dict)
    rules: tuple[GroupRule, ...] = ()  # the steward's active group rules (curation.tiers.read_rules)

    def with_rules(self, rules: Collection[GroupRule]) -> TierPolicy:
        return replace(self, rules=tuple(r for r in rules if r.active))

    def action(self, reason: str, rule: GroupRule | None = None) -> str | None:
        """What a reason does: a rule's decision where one applies; else "unsafe" for a flagged reason unless
        `actions` says otherwise; None for other reasons (and for an approved one: it holds nothing back)."""
        if rule is not None and (rule.decision != "redact" or redactable(reason)):
            return {"approve": None, "reject": "unsafe", "redact": "redact"}[rule.decision]
        if not reason.startswith(self.unsafe_prefixes):
            return None
        return self.actions.get(reason, "unsafe")

    def rules_for(self, source: str | None) -> dict[str, GroupRule]:
        """reason -> the active rule of `source` on it (one per pair: steward.db refuses a second)."""
        return {r.reason: r for r in self.rules if r.source == source} if source is not None else {}

    def blocking(self, reasons: Collection[str]) -> list[str]:
        """The reasons that hold a document out of safe under this policy (without rules): flagged reasons
        whose action is not redact, review reasons, and the policy's own thresholds."""
        return [
            r
            for r in reasons
            if (r.startswith("policy_") and not r.startswith(UNDECIDABLE))
            or r in self.review_reasons
            or self.action(r) in ("unsafe", "review")
        ]

    def decide(
        self,
        doc_id: str,
        scores: dict[str, ScoreResult],
        override: Override | None = None,
        *,
        redacted: Collection[str] | None = None,
        source: str | None = None,
    ) -> Decision:
        """The tier of one document from its scores and reasons, with the reasons to redact.

        Args:
            redacted: the reasons whose spans the stored text already has masked (`vetted retier`, which
                cannot redact: it reads no text). None in the ingestion run, which redacts what this returns.
            source: the document's source, for the group rules (none apply without it).
        """
        reasons = sorted({r for s in scores.values() for r in s.reasons})
        thresholds = self._policy_reasons(scores)
        rules = self.rules_for(source)
        applied = sorted({rules[r].id for r in [*reasons, *thresholds] if r in rules})
        actions = {r: a for r in [*reasons, *thresholds] if (a := self.action(r, rules.get(r))) is not None}
        approved = {r for r, rule in rules.items() if rule.decision == "approve"}
        redact = [r for r in reasons if actions.get(r) == "redact"]
        tier = Tier.SAFE
        if "unsafe" in actions.values():
            tier = Tier.UNSAFE
            reasons += [r for r in thresholds if actions.get(r) == "unsafe"]  # rejected by a rule
        else:
            policy_reasons = [r for r in thresholds if r not in approved]
            if redacted is not None and not set(redact) <= set(redacted):
                policy_reasons.append("policy_redaction_needs_ingest")  # the text still holds those spans
            if (
                policy_reasons
                or "review" in actions.values()
                or any(r in self.review_reasons and r not in approved for r in reasons)
            ):
                tier = Tier.REVIEW
                reasons += policy_reasons
        reasons += [REDACTED_PREFIX + r for r in redact]
        if override is None:  # an override decides alone: no rule is named where it did not apply
            return Decision(doc_id, tier, [*reasons, *(f"{RULE_PREFIX}{i}" for i in applied)], redact=redact)
        note = f"steward_override_{override.tier.value}"
        return Decision(
            doc_id,
            Override.applied_to(tier, override),
            [*reasons, note],
            overridden_by=override.who,
            redact=redact,
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
    unsafe_prefixes = tuple(raw.get("unsafe", {}).get("reason_prefixes", DEFAULT_UNSAFE_PREFIXES))
    return TierPolicy(
        unsafe_prefixes=unsafe_prefixes,
        review_reasons=frozenset(review.get("reasons", [])),
        min_age=float(review.get("min_age", 0.25)),
        min_quality=float(review.get("min_quality", 0.5)),
        low_trust_below=float(review.get("low_trust_below", 0.5)),
        low_relevance_below=float(review.get("low_relevance_below", 0.35)),
        actions=_actions(path, raw.get("actions", DEFAULT_ACTIONS), unsafe_prefixes),
    )


def _actions(path: Path, raw: object, unsafe_prefixes: tuple[str, ...]) -> Mapping[str, str]:
    """[actions] of policy.toml, checked: each key a flagged reason, each value one of ACTIONS."""
    if not isinstance(raw, Mapping):
        raise ValueError(f'{path}: [actions] must be a table of reason = action, e.g. pii_email = "redact"')
    for reason, action in raw.items():
        if not _REASON.fullmatch(reason) or not reason.startswith(unsafe_prefixes):
            raise ValueError(
                f"{path}: [actions] key {reason!r} is not a reason with an unsafe prefix "
                f"{list(unsafe_prefixes)}: actions apply to flagged reasons such as pii_email"
            )
        if action not in ACTIONS:
            raise ValueError(
                f"{path}: [actions] {reason} = {action!r}: the action must be one of {list(ACTIONS)}"
            )
    return MappingProxyType(dict(raw))
