"""Vetted source: the trust prior of the document's source type (sources.toml)."""

from __future__ import annotations

from collections.abc import Sequence

from curation.models import Document, ScoreResult
from curation.sources import SourceRegistry


class SourceTrustScorer:
    name = "trust"

    def __init__(self, registry: SourceRegistry, *, low_below: float = 0.5) -> None:
        self.registry = registry
        self.low_below = low_below

    def score(self, doc: Document) -> ScoreResult:
        value = self.registry.trust(doc.source, doc.source_type)
        reasons = []
        if not self.registry.is_known(doc.source, doc.source_type):
            reasons.append("trust_unknown_source")
        if value < self.low_below:
            reasons.append("trust_low_source")
        kind = self.registry.source_type(doc.source, doc.source_type).name
        return ScoreResult(self.name, value, reasons, {"source_type": kind})

    def score_many(self, docs: Sequence[Document]) -> list[ScoreResult]:
        return [self.score(d) for d in docs]
