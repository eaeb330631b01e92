"""The tier now: what the last run decided, with the steward's override on top.

One rule (`Override.applied_to`) and one reader (`current_tiers`). A run writes its decisions into
documents.parquet, the tier policy applying every override it finds (curation.policy); a steward's override
made since then lives only in steward.db until the next run, so the retriever and the steward pages read
both through `current_tiers` (or `TierView`, which re-reads when either file changes).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from curation.layout import WorkLayout
from curation.models import Override, Tier
from curation.steward import StewardDB


@dataclass(slots=True, frozen=True)
class TierNow:
    run_tier: Tier  # what the last run decided (documents.parquet)
    override: Override | None  # the steward's decision, if any (steward.db)

    @property
    def tier(self) -> Tier:
        return Override.applied_to(self.run_tier, self.override)


def layered(run_tiers: Mapping[str, Tier | str], overrides: Mapping[str, Override]) -> dict[str, TierNow]:
    """Every document of the run with its override, if it has one (overrides of unknown documents are kept
    out: there is nothing to serve under them)."""
    return {doc_id: TierNow(Tier(tier), overrides.get(doc_id)) for doc_id, tier in run_tiers.items()}


def read_overrides(layout: WorkLayout) -> dict[str, Override]:
    """The steward's overrides; none when the work folder has no steward DB yet (it is never created here)."""
    return StewardDB(layout.steward_db).overrides() if layout.steward_db.exists() else {}


def current_tiers(layout: WorkLayout) -> dict[str, TierNow]:
    """documents.parquet's tiers with steward.db's overrides on top; empty before the first run."""
    if not layout.documents.exists():
        return {}
    table = pq.read_table(layout.documents, columns=["doc_id", "tier"])
    run_tiers = dict(zip(table["doc_id"].to_pylist(), table["tier"].to_pylist(), strict=True))
    return layered(run_tiers, read_overrides(layout))


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
