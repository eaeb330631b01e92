"""What the steward page shows, computed from plain rows: the documents table with overrides on top, one
document with its personal-data spans masked, and the chart series. No FastAPI and no file access here.

Tiers are layered on read by curation.tiers, as the retriever's are: documents.parquet keeps what the last
run decided (`run_tier`), steward.db holds the overrides, and a row's `tier` is the tier now. The next run
writes the override into the table itself (curation.policy applies it).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from curation.models import Override, Tier
from curation.policy import GroupRule
from curation.table import SCORE_NAMES
from curation.tiers import TierNow

LIST_COLUMNS = [
    "doc_id", "source", "source_type", "path", "title", "updated", "updated_from", "chars", "content_hash",
    *(f"score_{n}" for n in SCORE_NAMES), "tier", "reasons", "overridden_by",
]  # fmt: skip
EXCERPT_CHARS = 3000  # the start of the text shown in the drill-down
SPAN_CONTEXT_CHARS = 80  # text either side of a span found past the excerpt
MAX_SPAN_CONTEXTS = 20
SCORE_BINS = 10  # 0.0-0.1, ..., 0.9-1.0
AGE_BINS = (("<1y", 365), ("1-2y", 730), ("2-5y", 1826), ("5-10y", 3652), (">10y", None))
TOP_REASONS = 15

Row = dict[str, Any]
Interval = tuple[int, int, str, str]  # start, end, kind, masked value


def iso_time(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds")


def effective(
    rows: Iterable[Row], overrides: Mapping[str, Override], rejected: Mapping[str, GroupRule] | None = None
) -> list[Row]:
    """Each row with its tier now (curation.tiers' rule: an override beats a reject rule made since the run,
    which beats the run) and the override behind it, shown as a row; `rule` names the reject rule."""
    rejected = rejected or {}
    out = []
    for row in rows:
        now = TierNow(Tier(row["tier"]), overrides.get(row["doc_id"]), rejected.get(row["doc_id"]))
        shown = override_row(row["doc_id"], now.override) if now.override else None
        rule = now.rejected_by.id if now.rejected_by else None
        out.append({**row, "run_tier": row["tier"], "tier": now.tier.value, "override": shown, "rule": rule})
    return out


def override_row(doc_id: str, override: Override) -> Row:
    """An override as the page shows it: ISO time, tier as a string."""
    return {
        "doc_id": doc_id,
        "tier": override.tier.value,
        "who": override.who,
        "why": override.why,
        "at": iso_time(override.at),
    }


def filter_rows(
    rows: Sequence[Row],
    *,
    tier: str | None = None,
    source: str | None = None,
    reason: str | None = None,
    doc_ids: set[str] | None = None,
) -> list[Row]:
    """Rows that match every given filter; `doc_ids` is the text search's answer (None = no search)."""
    return [
        r
        for r in rows
        if (not tier or r["tier"] == tier)
        and (not source or r["source"] == source)
        and (not reason or reason in r["reasons"])
        and (doc_ids is None or r["doc_id"] in doc_ids)
    ]


def list_row(row: Row) -> Row:
    """A row as the table shows it: scores by name, dates as ISO strings, no text."""
    return {
        "doc_id": row["doc_id"],
        "title": row["title"],
        "source": row["source"],
        "source_type": row["source_type"],
        "path": row["path"],
        "updated": _iso_date(row["updated"]),
        "updated_from": row["updated_from"],
        "chars": row["chars"],
        "tier": row["tier"],
        "run_tier": row["run_tier"],
        "reasons": list(row["reasons"]),
        "scores": {n: row[f"score_{n}"] for n in SCORE_NAMES},
        "override": row["override"],
        "rule": row.get("rule"),
    }


def facets(rows: Sequence[Row]) -> Row:
    """The values the filters offer, with counts."""
    reasons: Counter[str] = Counter(r for row in rows for r in row["reasons"])
    return {
        "tiers": dict(Counter(r["tier"] for r in rows)),
        "sources": dict(sorted(Counter(r["source"] for r in rows).items())),
        "reasons": dict(sorted(reasons.items())),
    }


def document_view(row: Row, text: str, details_json: str | None, *, indexed: bool) -> Row:
    """One document for the drill-down: scores, reasons, scorer details, and its text with every recorded
    personal-data or secret span replaced by the scorer's masked value (the raw value is never sent)."""
    details = json.loads(details_json or "{}")
    sensitive = details.pop("sensitive", None) or {}
    spans = [s for s in sensitive.get("spans", []) if isinstance(s, dict)]
    # Past the last recorded span, hits the scorer dropped (max_spans) would show raw: stop the text there.
    visible = spans[-1]["end"] if sensitive.get("spans_dropped") and spans else len(text)
    intervals = _merge(spans)
    excerpt_end = min(visible, EXCERPT_CHARS)
    windows = _windows([(s, e) for s, e, _, _ in intervals if s >= excerpt_end], excerpt_end, visible)
    contexts = [masked_segments(text, intervals, s, e) for s, e in windows[:MAX_SPAN_CONTEXTS]]
    return {
        **list_row(row),
        "content_hash": row["content_hash"],
        "indexed": indexed,
        "spans": [{k: s.get(k) for k in ("kind", "start", "end", "masked", "score")} for s in spans],
        "span_counts": sensitive.get("counts", {}),
        "spans_dropped": sensitive.get("spans_dropped", 0),
        "excerpt": masked_segments(text, intervals, 0, excerpt_end),
        "excerpt_truncated": excerpt_end < len(text),
        "span_contexts": contexts,
        "details": details,
    }


def _merge(spans: Sequence[Row]) -> list[Interval]:
    """Overlapping spans as one interval, so no raw character shows between them."""
    merged: list[Interval] = []
    for s in sorted(spans, key=lambda s: (s["start"], s["end"])):
        start, end = int(s["start"]), int(s["end"])
        if merged and start < merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], end), last[2], last[3])
        else:
            merged.append((start, end, str(s["kind"]), str(s["masked"])))
    return merged


def _windows(spans: Sequence[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int]]:
    """Text windows around spans past the excerpt, overlapping ones joined."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        start, end = max(lo, s - SPAN_CONTEXT_CHARS), min(hi, e + SPAN_CONTEXT_CHARS)
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def masked_segments(text: str, intervals: Sequence[Interval], start: int, end: int) -> list[Row]:
    """text[start:end] as plain pieces and masked pieces ({"text", "kind"}); a span cut by the window's
    edge is still shown masked whole, never as a raw fragment."""
    out: list[Row] = []
    pos = start
    for s, e, kind, masked in intervals:
        if e <= pos or s >= end:
            continue
        if s > pos:
            out.append({"text": text[pos:s]})
        out.append({"text": masked, "kind": kind})
        pos = e
    if pos < end:
        out.append({"text": text[pos:end]})
    return out


# --- charts ---------------------------------------------------------------------------------------------


def tier_counts(rows: Sequence[Row]) -> dict[str, int]:
    counts = Counter(r["tier"] for r in rows)
    return {t: counts.get(t, 0) for t in ("safe", "review", "unsafe")}


def tiers_over_runs(summaries: Sequence[Row]) -> list[Row]:
    return [{"run_id": s["run_id"], **{t: s.get("tiers", {}).get(t, 0) for t in ("safe", "review", "unsafe")}}
            for s in summaries]  # fmt: skip


def score_histograms(rows: Sequence[Row]) -> dict[str, list[int]]:
    """Per score, documents in each tenth of 0..1 (a score of exactly 1.0 counts in the top bin)."""
    out = {}
    for name in SCORE_NAMES:
        bins = [0] * SCORE_BINS
        for r in rows:
            value = r[f"score_{name}"]
            if value is not None:
                bins[min(int(value * SCORE_BINS), SCORE_BINS - 1)] += 1
        out[name] = bins
    return out


def age_by_source(rows: Sequence[Row], today: date) -> Row:
    """Per source, documents in each age bin (years since the date the content carries), plus unknown."""
    labels = [label for label, _ in AGE_BINS] + ["unknown"]
    sources: dict[str, list[int]] = {}
    for r in rows:
        bins = sources.setdefault(r["source"], [0] * len(labels))
        updated = r["updated"]
        if updated is None:
            bins[-1] += 1
            continue
        days = (today - updated).days
        bins[next(i for i, (_, limit) in enumerate(AGE_BINS) if limit is None or days < limit)] += 1
    return {"bins": labels, "sources": dict(sorted(sources.items()))}


def top_reasons(rows: Sequence[Row], n: int = TOP_REASONS) -> list[tuple[str, int]]:
    return Counter(r for row in rows for r in row["reasons"]).most_common(n)


def _iso_date(value: date | None) -> str | None:
    return value.isoformat() if value else None
