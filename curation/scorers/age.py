"""Age with domain memory: exponential decay with the source's half-life, held off while the asset a document
is about is still in service, and lowered when a newer version of the same document exists.

    service_end = (asset_installed from the ticket, else the document's date) + asset_lifetime_days
    decay_days  = min(age_days, max(0, today - service_end))     (no asset lifetime: decay_days = age_days)
    score       = 0.5 ** (decay_days / half_life_days)            (x superseded_factor when superseded)

A consumer-IT ticket (half-life ~2 years, no asset lifetime) is worth a quarter after four years; a
15-year-old ticket about plant equipment that lives 30 years still scores 1.0, and decays with the half-life
only once the equipment is past its lifetime. Both numbers come from sources.toml per source type.

Superseded versions are a corpus-level fact (like duplicates): `score_batch` groups documents into version
families (curation.scorers.detect.versions) and marks every older version `age_superseded` with
`superseded_by`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from curation.dates import parse_iso_date
from curation.models import Document, ScoreResult
from curation.scorers.base import Scorer
from curation.scorers.detect.versions import superseded, version_of
from curation.sources import SourceRegistry

UNKNOWN_AGE_SCORE = 0.5  # unknown age is a reason, not a silent default: the policy sends it to review


class AgeScorer(Scorer):
    name = "age"
    reason_prefixes = ("age_",)

    def __init__(
        self,
        registry: SourceRegistry,
        *,
        today: date,
        stale_below: float = 0.25,  # score under which a document is stale for its domain
        superseded_factor: float = 0.5,  # lower = old versions drop out sooner; 1.0 only flags them
        # a ticket or an e-mail records one event: a newer one with the same subject line ("New upstream
        # release", "Team upload") does not replace it, as release notes 15.20 replace 15.3
        unversioned_types: frozenset[str] = frozenset({"support_ticket", "asset_ticket", "email"}),
    ) -> None:
        if not 0.0 <= superseded_factor <= 1.0:
            raise ValueError(f"superseded_factor must be in [0, 1], got {superseded_factor}")
        self.registry = registry
        self.today = today
        self.stale_below = stale_below
        self.superseded_factor = superseded_factor
        self.unversioned_types = unversioned_types

    def score(self, doc: Document) -> ScoreResult:
        """One document on its own: decay and asset lifetime (supersession needs the corpus: score_batch)."""
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
        age_days = max(age_days, 0)
        decay_days = self._decay_days(doc, age_days, details)
        value = 0.5 ** (decay_days / half_life)
        if value < self.stale_below:
            reasons.append("age_stale_for_domain")
        return ScoreResult(self.name, round(value, 4), reasons, details)

    def _decay_days(self, doc: Document, age_days: int, details: dict[str, object]) -> int:
        lifetime = self.registry.asset_lifetime_days(doc.source, doc.source_type)
        if lifetime <= 0 or doc.updated is None:
            return age_days
        installed = parse_iso_date(doc.meta.get("asset_installed")) or doc.updated
        service_end = installed + timedelta(days=lifetime)
        details |= {"asset_lifetime_days": lifetime, "asset_service_end": service_end.isoformat()}
        details["asset_in_service"] = service_end >= self.today
        return min(age_days, max(0, (self.today - service_end).days))

    def score_batch(self, docs: Sequence[Document]) -> list[ScoreResult]:
        results = [self.score(d) for d in docs]
        docs = list(docs)
        for old, newest in superseded(docs, self.unversioned_types).items():
            result = results[old]
            result.score = round(result.score * self.superseded_factor, 4)
            result.reasons.append("age_superseded")
            version, newer = version_of(docs[old]), version_of(docs[newest])
            result.details |= {
                "superseded_by": docs[newest].doc_id,
                "superseded_by_title": docs[newest].title,
                "version": version.text if version else None,
                "newest_version": newer.text if newer else None,
            }
        return results
