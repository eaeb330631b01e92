"""Age with domain memory: exponential decay with the source's half-life (sources.toml).

score = 0.5 ** (age_days / half_life_days): a consumer-IT ticket (half-life ~2 years) is worth a quarter after
four years, a ticket about 30-year plant equipment (half-life ~25 years) still ~0.9.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from curation.models import Document, ScoreResult
from curation.sources import SourceRegistry

UNKNOWN_AGE_SCORE = 0.5  # unknown age is a reason, not a silent default: the policy sends it to review


class AgeScorer:
    name = "age"

    def __init__(self, registry: SourceRegistry, *, today: date, stale_below: float = 0.25) -> None:
        self.registry = registry
        self.today = today
        self.stale_below = stale_below  # score under which a document is stale for its domain

    def score(self, doc: Document) -> ScoreResult:
        half_life = self.registry.half_life_days(doc.source, doc.source_type)
        details: dict[str, object] = {"half_life_days": half_life, "updated_from": doc.updated_from}
        if doc.updated is None:
            return ScoreResult(self.name, UNKNOWN_AGE_SCORE, ["age_unknown"], details)
        age_days = (self.today - doc.updated).days
        details |= {"age_days": age_days, "updated": doc.updated.isoformat()}
        reasons = []
        if doc.updated_from == "file_mtime":
            reasons.append("age_from_file_time")
        if age_days < -1:
            reasons.append("age_future_date")
            age_days = 0
        value = 0.5 ** (max(age_days, 0) / half_life)
        if value < self.stale_below:
            reasons.append("age_stale_for_domain")
        return ScoreResult(self.name, round(value, 4), reasons, details)

    def score_many(self, docs: Sequence[Document]) -> list[ScoreResult]:
        return [self.score(d) for d in docs]
