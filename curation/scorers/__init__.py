"""Scorers: one module each, named as the scorer. A scorer reads documents and returns a ScoreResult (0..1,
1 = good) with stable snake_case reasons that start with one of its declared prefixes; the tier policy
combines them and never rescans text. What they find with lives in `curation.scorers.detect`.

The registry below is derived from the classes: the documents table's `score_<name>` columns and
`vetted retier`'s reason -> scorer lookup read it, so a new scorer is added here once.
"""

from __future__ import annotations

from curation.scorers.age import AgeScorer
from curation.scorers.base import Scorer, ScorerStats
from curation.scorers.duplicate import DuplicateScorer
from curation.scorers.quality import QualityScorer
from curation.scorers.relevance import RelevanceScorer
from curation.scorers.sensitive import SensitiveDataScorer
from curation.scorers.trust import SourceTrustScorer

__all__ = [
    "SCORER_CLASSES",
    "AgeScorer",
    "DuplicateScorer",
    "QualityScorer",
    "RelevanceScorer",
    "Scorer",
    "ScorerStats",
    "SensitiveDataScorer",
    "SourceTrustScorer",
    "scorer_names",
    "scorer_of_reason",
]

# The fixed order of the documents table's score columns and of the steward pages
SCORER_CLASSES: tuple[type[Scorer], ...] = (
    AgeScorer,
    RelevanceScorer,
    SourceTrustScorer,
    SensitiveDataScorer,
    DuplicateScorer,
    QualityScorer,
)


def scorer_names() -> tuple[str, ...]:
    """Every scorer's name, in SCORER_CLASSES order: ("age", "relevance", "trust", ...)."""
    return tuple(cls.name for cls in SCORER_CLASSES)


def scorer_of_reason(reason: str) -> str | None:
    """The name of the scorer whose declared prefix starts `reason` ("pii_email" -> "sensitive"); None for a
    reason no scorer gives (the policy's `policy_...`, `steward_override_...`)."""
    for cls in SCORER_CLASSES:
        if reason.startswith(cls.reason_prefixes):
            return cls.name
    return None
