"""Steward API bodies (pydantic at the edge), layered by purpose as in FastAPI's full-stack template: what a
steward sends (`OverrideIn`), what each read answers (`SummaryOut`, `DocumentsPage`, `DocumentOut`,
`OverrideRow`, `AuditEntry`) and what a decision answers (`OverrideOut`).

serving.steward_service returns plain dicts and the routes validate them into these models, so a field the
service stops sending fails here (a 500 and a failing test) instead of leaving a hole in the page:
serving/pages/steward.js reads these names. Times are ISO 8601 strings in UTC; offsets count characters.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from curation.models import Tier

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
IsoTime = Annotated[str, Field(description="UTC time, ISO 8601 to the second: 2026-01-31T09:00:00+00:00")]
Counts = dict[str, int]  # a value (tier, source, reason, span kind) -> how many


# --- overrides --------------------------------------------------------------------------------------------


class OverrideIn(BaseModel):
    doc_id: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    tier: Literal["safe", "unsafe"]  # approve or reject
    why: Reason  # required: an override without a reason is refused (422)


class OverrideBase(BaseModel):
    """A steward's decision on one document, as steward.db keeps it."""

    doc_id: str
    tier: Tier
    who: str = Field(
        description="the steward's account; with the shared legacy token, the name given (X-Steward-Name)"
    )
    why: str
    at: IsoTime


class OverrideOut(OverrideBase):
    """What POST /overrides did: the decision stored, and how the index followed it."""

    index_change: Literal["added", "removed", "none"]  # "none": the index already agreed
    chunks: int = Field(description="chunks added to or removed from the index")
    build_id: str | None = Field(description="the index build in use afterwards; null when there is none")


class OverrideRow(OverrideBase):
    """One line of the overrides list (and of its CSV export), with the document it names. The document's
    fields are "" when it has left documents.parquet since the override."""

    title: str
    path: str
    source: str
    run_tier: str = Field(description='the tier the last run gave, before the override; "" as above')


# --- audit ------------------------------------------------------------------------------------------------


class AuditEntry(BaseModel):
    at: IsoTime
    who: str
    action: str = Field(description="override_safe, override_unsafe, index_added, index_removed, ...")
    doc_id: str | None
    detail: str


# --- documents --------------------------------------------------------------------------------------------


class DocumentRow(BaseModel):
    """One row of the documents table: the tier now (the override on top of the run's), no text."""

    doc_id: str
    title: str
    source: str
    source_type: str
    path: str
    updated: date | None = Field(description="the date the content carries (ISO date); null when unknown")
    updated_from: str = Field(description='where that date came from ("unknown" when nowhere)')
    chars: int = Field(description="length of the text in characters")
    tier: Tier
    run_tier: Tier = Field(description="what the last run decided, before any override")
    reasons: list[str]
    # keyed by curation.table.SCORE_NAMES (the one list of scorers); null where a scorer gave no score
    scores: dict[str, float | None]
    override: OverrideBase | None
    rule: int | None = Field(None, description="the reject rule that makes it unsafe now, made since the run")


class Facets(BaseModel):
    """The values each filter offers, counted over every document (not only this page's matches)."""

    tiers: Counts
    sources: Counts
    reasons: Counts


class DocumentsPage(BaseModel):
    total: int = Field(description="documents that match the filters (rows holds one page of them)")
    offset: int
    limit: int
    rows: list[DocumentRow]
    facets: Facets


class SpanOut(BaseModel):
    """A personal-data or secret span the sensitive scorer recorded; the value is masked, never raw."""

    kind: str
    start: int = Field(description="character offset into the document's text")
    end: int = Field(description="character offset, exclusive")
    masked: str
    score: float | None


class PlainText(BaseModel):
    text: str


class MaskedText(BaseModel):
    text: str = Field(description="the masked value, never the raw one")
    kind: str


# A piece of shown text: plain, or a masked span with its kind. Tried in this order, so a piece with a kind is
# masked and one without is plain; a plain piece goes out with no "kind" key, as the page expects.
TextPiece = Annotated[MaskedText | PlainText, Field(union_mode="left_to_right")]


class DocumentOut(DocumentRow):
    """One document for the drill-down: its row, its masked text and the scorers' details."""

    content_hash: str
    indexed: bool = Field(description="whether the current index build holds this document")
    spans: list[SpanOut]
    span_counts: Counts = Field(description="findings per kind, every one (spans may be cut at max_spans)")
    spans_dropped: int = Field(description="findings past the scorer's max_spans, not kept as spans")
    excerpt: list[TextPiece] = Field(description="the start of the text, masked")
    excerpt_truncated: bool
    span_contexts: list[list[TextPiece]] = Field(description="masked text around spans past the excerpt")
    # Per scorer, what it recorded besides its score (the sensitive scorer's spans are taken out above).
    # Each scorer writes its own shape and may add keys, so this stays open on purpose.
    details: dict[str, Any]


# --- summary ----------------------------------------------------------------------------------------------


class TierCounts(BaseModel):
    safe: int
    review: int
    unsafe: int


class RunTiers(TierCounts):
    run_id: str


class RunIndex(BaseModel):
    """The index build a run published."""

    build_id: str
    path: str
    chunks: int


class RunSummary(BaseModel):
    """A run's runs/<run>/summary.json, as the ingestion run wrote it: older runs wrote fewer fields and later
    ones may add some, so every field but run_id may be missing and unknown ones pass through (the summary
    route leaves a missing field out rather than sending null)."""

    model_config = ConfigDict(extra="allow")

    run_id: str
    inputs: int | None = Field(default=None, description="input units seen: documents + quarantined")
    documents: int | None = None
    quarantined: int | None = None
    accounted: bool | None = Field(default=None, description="inputs == documents + quarantined")
    tiers: Counts | None = None
    index: RunIndex | None = None  # null when the run published no build
    steward_report: str | None = Field(default=None, description="path of the run's HTML steward report")
    io_profile: str | None = Field(default=None, description="path of the run's I/O profile JSON")
    error: str | None = Field(default=None, description="why the run stopped, when it failed")


class IndexInfo(BaseModel):
    """The current index build's manifest; every field null before the first build."""

    build_id: str | None
    n_chunks: int | None
    n_documents: int | None
    derived_from: str | None = Field(description="the build an override rebuilt this one from; null if full")


class AgeBySource(BaseModel):
    bins: list[str] = Field(description='age bin labels, years since the content date, then "unknown"')
    sources: dict[str, list[int]] = Field(description="per source, documents in each bin (order of bins)")


class SummaryOut(BaseModel):
    """Everything the charts need: tiers over runs and now, score and age distributions, top reasons."""

    documents: int
    latest_run: RunSummary | None
    tiers_now: TierCounts
    overrides: int = Field(description="documents whose tier now is a steward's override")
    tiers_over_runs: list[RunTiers] = Field(description="oldest run first")
    score_histograms: dict[str, list[int]] = Field(description="per score, documents in each tenth of 0..1")
    age_by_source: AgeBySource
    top_reasons: list[tuple[str, int]] = Field(description="[reason, documents], most frequent first")
    index: IndexInfo


class FeedbackSource(BaseModel):
    """A source the answer was given, with the exact chunks shown: what a steward may demote."""

    n: int
    doc_id: str
    title: str
    path: str
    source: str
    score: float
    cited_in_answer: bool
    location: str | None = None
    chunk_ids: list[str]
    excerpt: str


class FeedbackItem(BaseModel):
    """A thumbs-down from staff, waiting for a steward."""

    answer_id: str
    owner: str = Field(description="the account that asked")
    question: str
    answer: str
    comment: str
    created: str
    citations: list[FeedbackSource]


class ResolveIn(BaseModel):
    resolution: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
