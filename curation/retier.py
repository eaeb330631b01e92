"""Re-tier without re-scoring: the scores and scorer reasons stored in documents.parquet, the current
policy.toml and the steward's overrides give every document its tier again. No text is read, no scorer runs.

    .venv/bin/vetted retier               # after editing policy.toml: rewrites tier, reasons, overridden_by
    .venv/bin/vetted retier --dry-run     # only print what would change

The reasons column holds the scorers' reasons and the ones the last decision added (`policy_...`,
`steward_override_...`); the latter are dropped and decided anew. A scorer reason goes back to its scorer by
the prefixes the scorer declares (`curation.scorers.scorer_of_reason`: `age_stale_for_domain` -> age; `pii_`,
`secret_`, `confidential_` -> sensitive). Every row is
kept: an excluded document stays in the table with its reasons, only its tier changes.

Retier cannot redact (it reads no text): a reason the new policy redacts but the stored text still holds
(`details.sensitive.redacted` names what the run masked) sends the document to review with
`policy_redaction_needs_ingest` until `vetted ingest` runs again.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from curation.models import Decision, Override, ScoreResult
from curation.policy import REDACTED_PREFIX, RULE_PREFIX, TierPolicy
from curation.scorers import scorer_of_reason
from curation.table import SCORE_NAMES

# TierPolicy.decide adds these: decided anew, not read
DECISION_PREFIXES = ("policy_", "steward_override_", RULE_PREFIX, REDACTED_PREFIX)
READ_COLUMNS = ["doc_id", "source", "tier", "reasons", *(f"score_{name}" for name in SCORE_NAMES)]


@dataclass(slots=True)
class Retiered:
    table: pa.Table  # the input table with tier, reasons and overridden_by replaced
    decisions: dict[str, Decision]
    changed: list[tuple[str, str, str]] = field(default_factory=list)  # (doc_id, old tier, new tier)
    counts: dict[str, int] = field(default_factory=dict)


def stored_scores(row: dict[str, Any]) -> dict[str, ScoreResult]:
    """One documents-table row back into the ScoreResults the policy reads (scores and scorer reasons)."""
    scores = {
        name: ScoreResult(name, float(row[f"score_{name}"]))
        for name in SCORE_NAMES
        if row.get(f"score_{name}") is not None
    }
    for reason in row.get("reasons") or []:
        if reason.startswith(DECISION_PREFIXES):
            continue
        name = scorer_of_reason(reason) or "unknown_scorer"
        scores.setdefault(name, ScoreResult(name, 1.0)).reasons.append(reason)
    return scores


def stored_redactions(details_json: str | None) -> set[str]:
    """The reasons whose spans the stored text has masked (the run's `details.sensitive.redacted`)."""
    try:
        sensitive = json.loads(details_json or "{}").get("sensitive") or {}
    except (json.JSONDecodeError, AttributeError):
        return set()
    redacted = sensitive.get("redacted") if isinstance(sensitive, Mapping) else None
    return set(redacted) if isinstance(redacted, Mapping) else set()


def retier_table(table: pa.Table, policy: TierPolicy, overrides: dict[str, Override]) -> Retiered:
    """Every row of a documents table decided again by `policy` (with the group rules it carries:
    TierPolicy.with_rules) and `overrides`."""
    rows = table.select(READ_COLUMNS).to_pylist()
    details = table.column("details").to_pylist() if "details" in table.column_names else [None] * len(rows)
    decisions: dict[str, Decision] = {}
    changed = []
    for row, details_json in zip(rows, details, strict=True):
        decision = policy.decide(
            row["doc_id"],
            stored_scores(row),
            overrides.get(row["doc_id"]),
            redacted=stored_redactions(details_json),
            source=row["source"],
        )
        decisions[row["doc_id"]] = decision
        if decision.tier.value != row["tier"]:
            changed.append((row["doc_id"], row["tier"], decision.tier.value))
    ordered = [decisions[row["doc_id"]] for row in rows]
    new_columns = {
        "tier": pa.array([d.tier.value for d in ordered], pa.string()),
        "reasons": pa.array([d.reasons for d in ordered], pa.list_(pa.string())),
        "overridden_by": pa.array([d.overridden_by for d in ordered], pa.string()),
    }
    for name, column in new_columns.items():
        at = table.schema.get_field_index(name)
        table = table.set_column(at, name, column) if at >= 0 else table.append_column(name, column)
    counts = Counter(d.tier.value for d in ordered)
    return Retiered(table, decisions, changed, dict(counts))
