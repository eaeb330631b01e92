"""Steward decisions as relevance evidence for the next run: what a steward let in is what the company wants,
and what a steward threw out for being off-topic is what it does not.

- on-domain exemplars: documents a steward approved (override safe), and the documents of an approve rule on
  `relevance_off_domain` ("these are ours after all");
- off-domain exemplars: documents a steward rejected (override unsafe) that the run already found weakly
  relevant (`relevance_off_domain`, or relevance under OFF_TOPIC_BELOW), and the documents of a reject rule
  on `relevance_off_domain`. A rejection for another reason (a secret, a superseded page) says nothing about
  the topic: such a document is never made an off-domain exemplar, or every page like it would sink too.

The relevance scorer adds these to its profiles (curation.scorers.relevance), so a handful of decisions moves
the scores of similar documents; `key` enters the relevance score's cache key, so the next run re-scores
relevance (and only relevance) when the decisions change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pyarrow.parquet as pq

from curation.layout import WorkLayout
from curation.models import Tier
from curation.steward import StewardDB

OFF_TOPIC_BELOW = 0.5  # a rejected document under this relevance is taken as off-topic evidence
MAX_EXEMPLARS = 100  # per side, newest decisions first: the profile stays small and recent
OFF_DOMAIN_REASON = "relevance_off_domain"


@dataclass(frozen=True, slots=True)
class Exemplar:
    label: str  # shown as the document's `nearest` exemplar: "steward approved: <title>"
    text: str  # the document's head (title + text), redacted as the table holds it


@dataclass(frozen=True, slots=True)
class StewardExemplars:
    on_domain: tuple[Exemplar, ...] = ()
    off_domain: tuple[Exemplar, ...] = ()

    @property
    def key(self) -> str:
        """A hash of the exemplars: the relevance scores of a run depend on it."""
        parts = [[e.label, e.text] for e in (*self.on_domain, *self.off_domain)]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16] if parts else "none"


def steward_exemplars(layout: WorkLayout, *, chars: int, limit: int = MAX_EXEMPLARS) -> StewardExemplars:
    """The steward's decisions so far as exemplars, from steward.db and the last run's documents table;
    none before the first run or without a steward DB."""
    if not layout.documents.exists() or not layout.steward_db.exists():
        return StewardExemplars()
    db = StewardDB(layout.steward_db)
    overrides = sorted(db.overrides().items(), key=lambda item: -item[1].at)
    rules = [r for r in db.rules() if r.reason == OFF_DOMAIN_REASON and r.decision in ("approve", "reject")]
    if not overrides and not rules:
        return StewardExemplars()
    columns = ["doc_id", "source", "title", "text", "reasons", "score_relevance"]
    rows = {r["doc_id"]: r for r in pq.read_table(layout.documents, columns=columns).to_pylist()}
    on: list[Exemplar] = []
    off: list[Exemplar] = []
    for doc_id, override in overrides:
        row = rows.get(doc_id)
        if row is None:
            continue
        if override.tier is Tier.SAFE:
            on.append(_exemplar("steward approved", row, chars))
        elif override.tier is Tier.UNSAFE and _off_topic(row):
            off.append(_exemplar("steward rejected", row, chars))
    for rule in rules:  # newest first
        side = on if rule.decision == "approve" else off
        verb = "approved" if rule.decision == "approve" else "rejected"
        for row in rows.values():
            if row["source"] == rule.source and OFF_DOMAIN_REASON in (row["reasons"] or []):
                side.append(_exemplar(f"steward rule #{rule.id} {verb}", row, chars))
    return StewardExemplars(tuple(on[:limit]), tuple(off[:limit]))


def _off_topic(row: dict[str, object]) -> bool:
    score = row.get("score_relevance")
    reasons = row.get("reasons") or []
    assert isinstance(reasons, list)
    return OFF_DOMAIN_REASON in reasons or (isinstance(score, float) and score < OFF_TOPIC_BELOW)


def _exemplar(verb: str, row: dict[str, object], chars: int) -> Exemplar:
    title = str(row.get("title") or row["doc_id"])
    return Exemplar(f"{verb}: {title}"[:120], f"{title}\n{str(row.get('text') or '')[:chars]}")
