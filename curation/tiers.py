"""The tier now: what the last run decided, with the steward's reject rules and overrides on top.

One rule (`TierNow.tier`) and one reader (`current_tiers`). A run writes its decisions into
documents.parquet, the tier policy applying every override and group rule it finds (curation.policy); a
steward's decision made since then lives only in steward.db until the next run, so the retriever and the
steward pages read both through `current_tiers` (or `TierView`, which re-reads when either file changes).

Group rules at query time: a `reject` rule applies at once (every document of its source whose last run
carried its reason is unsafe now: taking something out is always safe to do early). `approve` and `redact`
wait for the next run: only the run can weigh the document's other reasons, mask the spans and index it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from curation.layout import WorkLayout
from curation.models import Override, Tier
from curation.policy import GroupRule
from curation.steward import StewardDB


@dataclass(slots=True, frozen=True)
class TierNow:
    run_tier: Tier  # what the last run decided (documents.parquet)
    override: Override | None  # the steward's decision, if any (steward.db)
    rejected_by: GroupRule | None = None  # a reject rule made since the run that matches the document

    @property
    def tier(self) -> Tier:
        """An override beats a rule; a reject rule beats what the run decided."""
        run = Tier.UNSAFE if self.rejected_by is not None else self.run_tier
        return Override.applied_to(run, self.override)


def layered(
    run_tiers: Mapping[str, Tier | str],
    overrides: Mapping[str, Override],
    rejected: Mapping[str, GroupRule] | None = None,
) -> dict[str, TierNow]:
    """Every document of the run with its override and matching reject rule, if any (overrides of unknown
    documents are kept out: there is nothing to serve under them)."""
    rejected = rejected or {}
    return {
        doc_id: TierNow(Tier(tier), overrides.get(doc_id), rejected.get(doc_id))
        for doc_id, tier in run_tiers.items()
    }


def rejected_by_rules(
    rows: Iterable[tuple[str, str, Iterable[str]]], rules: Iterable[GroupRule]
) -> dict[str, GroupRule]:
    """doc id -> the active reject rule that matches its (source, reasons), for rows (doc id, source,
    reasons) of the last run."""
    rejects = {(r.source, r.reason): r for r in rules if r.active and r.decision == "reject"}
    out: dict[str, GroupRule] = {}
    if not rejects:
        return out
    for doc_id, source, reasons in rows:
        rule = next((rejects[(source, r)] for r in reasons if (source, r) in rejects), None)
        if rule is not None:
            out[doc_id] = rule
    return out


def read_overrides(layout: WorkLayout) -> dict[str, Override]:
    """The steward's overrides; none when the work folder has no steward DB yet (it is never created here)."""
    return StewardDB(layout.steward_db).overrides() if layout.steward_db.exists() else {}


def read_rules(layout: WorkLayout) -> list[GroupRule]:
    """The steward's active group rules, newest first; none without a steward DB (never created here)."""
    return StewardDB(layout.steward_db).rules() if layout.steward_db.exists() else []


def current_tiers(layout: WorkLayout) -> dict[str, TierNow]:
    """documents.parquet's tiers with steward.db's reject rules and overrides on top; empty before the
    first run."""
    if not layout.documents.exists():
        return {}
    rules = read_rules(layout)
    columns = ["doc_id", "tier", "source", "reasons"] if rules else ["doc_id", "tier"]
    table = pq.read_table(layout.documents, columns=columns)
    doc_ids = table["doc_id"].to_pylist()
    run_tiers = dict(zip(doc_ids, table["tier"].to_pylist(), strict=True))
    rejected = {}
    if rules:
        rows = zip(doc_ids, table["source"].to_pylist(), table["reasons"].to_pylist(), strict=True)
        rejected = rejected_by_rules(((d, s, r or []) for d, s, r in rows), rules)
    return layered(run_tiers, read_overrides(layout), rejected)


class TierView:
    """`current_tiers` kept in memory and read again when documents.parquet or steward.db changes, so an
    override made in the app applies to the next question without a read per question."""

    def __init__(self, layout: WorkLayout) -> None:
        self.layout = layout
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._tiers: dict[str, TierNow] = {}
        self._dates_stamp = -1
        self._dates: dict[str, str | None] = {}

    def _files_stamp(self) -> tuple[int, int, int]:
        db = self.layout.steward_db
        return _mtime_ns(self.layout.documents), _mtime_ns(db), _mtime_ns(db.with_name(db.name + "-wal"))

    def tiers(self) -> dict[str, TierNow]:
        stamp = self._files_stamp()
        with self._lock:
            if stamp != self._stamp:
                self._tiers, self._stamp = current_tiers(self.layout), stamp
            return self._tiers

    def tier(self, doc_id: str) -> str:
        """The tier now, or "unknown" for a document no run has seen."""
        now = self.tiers().get(doc_id)
        return now.tier.value if now else "unknown"

    def updated(self, doc_id: str) -> str | None:
        """The date the document's content carries (ISO), for citations; None when it carries none."""
        stamp = _mtime_ns(self.layout.documents)
        with self._lock:
            if stamp != self._dates_stamp:
                self._dates, self._dates_stamp = _dates(self.layout), stamp
            return self._dates.get(doc_id)


def _dates(layout: WorkLayout) -> dict[str, str | None]:
    if not layout.documents.exists():
        return {}
    table = pq.read_table(layout.documents, columns=["doc_id", "updated"])
    return {
        doc: (day.isoformat() if day is not None else None)
        for doc, day in zip(table["doc_id"].to_pylist(), table["updated"].to_pylist(), strict=True)
    }


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0
