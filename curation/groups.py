"""What needs a steward, grouped so that a steward can finish: the documents held out of safe, by source and
by the reason that holds them, with counts, examples and what each decision on the whole group would do.

A group is (source, reason): "pii_email in tickets-changelogs", "quality_too_short in kb-foldoc". A document
held by two reasons is in two groups. What a decision would change is not guessed: the tier policy itself
decides every document of the group again on its stored scores (curation.retier.stored_scores) with the
candidate rule added, as the next run will (which redacts, so a redact rule is weighed as done). Documents
with a per-document override are left out (a steward has decided them one by one), and so are groups an
active rule already decides (the rules list shows those, to retire).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from curation.models import Tier
from curation.policy import RULE_DECISIONS, GroupRule, TierPolicy, redactable
from curation.retier import stored_scores

EXAMPLES = 3  # documents shown per group
GROUP_COLUMNS = ["doc_id", "source", "title", "path", "tier", "reasons"]  # + the score columns


@dataclass(slots=True)
class Group:
    source: str
    reason: str
    documents: int
    tiers: dict[str, int]  # the group's documents by the tier the last run gave them
    examples: list[dict[str, str]]  # doc_id, title, path of the first few (by path)
    # decision -> the group's documents by tier after the next run under that rule (redact: only where the
    # reason has spans to mask); "safe" of approve is how many documents the decision would let in
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)
    doc_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """What the report and the API show: everything but the member ids."""
        return {k: v for k, v in asdict(self).items() if k != "doc_ids"}


def needs_a_steward(
    rows: Iterable[Mapping[str, Any]],
    policy: TierPolicy,
    *,
    overridden: Iterable[str] = (),
    examples: int = EXAMPLES,
) -> list[Group]:
    """Groups of the documents not safe in `rows` (documents-table rows: GROUP_COLUMNS + score columns),
    largest first; `policy` carries the active rules (TierPolicy.with_rules)."""
    skip = set(overridden)
    decided = {(r.source, r.reason) for r in policy.rules}
    members: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        if row["tier"] == Tier.SAFE.value or row["doc_id"] in skip:
            continue
        for reason in policy.blocking(row["reasons"] or []):
            key = (row["source"], reason)
            if key not in decided:
                members.setdefault(key, []).append(row)
    groups = [_group(source, reason, docs, policy, examples) for (source, reason), docs in members.items()]
    groups.sort(key=lambda g: (-g.documents, g.source, g.reason))
    return groups


def _group(
    source: str, reason: str, docs: Sequence[Mapping[str, Any]], policy: TierPolicy, examples: int
) -> Group:
    ordered = sorted(docs, key=lambda r: (r["path"], r["doc_id"]))
    scores = [stored_scores(dict(r)) for r in ordered]
    outcomes = {}
    for decision in RULE_DECISIONS:
        if decision == "redact" and not redactable(reason):
            continue
        candidate = policy.with_rules([*policy.rules, GroupRule(0, source, reason, decision, "", "")])
        after = Counter(
            candidate.decide(r["doc_id"], s, source=source).tier.value
            for r, s in zip(ordered, scores, strict=True)
        )
        outcomes[decision] = {t.value: after.get(t.value, 0) for t in Tier}
    return Group(
        source=source,
        reason=reason,
        documents=len(ordered),
        tiers=dict(Counter(r["tier"] for r in ordered)),
        examples=[{k: str(r[k]) for k in ("doc_id", "title", "path")} for r in ordered[:examples]],
        outcomes=outcomes,
        doc_ids=[r["doc_id"] for r in ordered],
    )
