"""The data steward's workflow as a plain service (no FastAPI): browse documents, look at one, approve or
reject it with a reason, export the overrides, read the audit log and the run history.

An override applies at once and sticks:
1. steward.db stores it with who, when and why (and the audit log says so);
2. the index gets a new build: a rejected document's chunks leave it, an approved one's are chunked and
   embedded from documents.parquet and enter it (pipelines.core.index_store derives the build and swaps
   CURRENT);
3. the retriever sees the new CURRENT on its next question; its tier check reads the override as well;
4. every later run applies the override in curation.policy and writes it into documents.parquet.
documents.parquet itself is not rewritten on a click: it stays the record of what the last run decided.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from curation.models import Document, Override, Tier
from curation.steward import StewardDB
from curation.table import read_documents
from curation.tiers import rejected_by_rules
from pipelines.core import index_files, index_store
from pipelines.core.embedding import Embedder
from pipelines.core.settings import Settings
from serving import steward_views as views

APPLICABLE_TIERS = (Tier.SAFE, Tier.UNSAFE)  # approve or reject; "review" is the policy's word, not a verdict
CSV_FIELDS = ("doc_id", "title", "path", "source", "tier", "run_tier", "who", "why", "at")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run these (OWASP CSV injection)


class UnknownDocument(LookupError):
    """No document with this id in documents.parquet."""


class IndexUpdateFailed(RuntimeError):
    """The override is stored but the index could not follow; the query-time tier check still applies."""


@dataclass(slots=True)
class OverrideResult:
    doc_id: str
    tier: str
    who: str
    why: str
    at: str
    index_change: str  # "added", "removed" or "none" (the index already agreed)
    chunks: int  # chunks added or removed
    build_id: str | None  # the build in use afterwards


class StewardService:
    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.work_dir = settings.work_dir
        self.embedder = embedder
        self.layout = settings.layout
        self.db = StewardDB(self.layout.steward_db)
        self.write_lock = threading.Lock()  # one override at a time in this process (index_store locks too)
        self._cache_lock = threading.Lock()
        self._cache: tuple[tuple[int, int], pa.Table, list[views.Row]] | None = None

    # --- reading ----------------------------------------------------------------------------------------

    def _table(self) -> tuple[pa.Table, list[views.Row]]:
        """documents.parquet and its rows without text, re-read when a run replaces the file."""
        path = self.layout.documents
        st = path.stat() if path.exists() else None
        stamp = (st.st_ino, st.st_mtime_ns) if st else (0, 0)
        with self._cache_lock:
            if self._cache is None or self._cache[0] != stamp:
                table = read_documents(path)
                self._cache = (stamp, table, table.select(views.LIST_COLUMNS).to_pylist())
            return self._cache[1], self._cache[2]

    def listing(self) -> list[views.Row]:
        """documents.parquet's rows without text, as the last run wrote them (run tiers)."""
        return self._table()[1]

    def _rows(self) -> list[views.Row]:
        return self._layered(self._table()[1])

    def _layered(self, rows: list[views.Row]) -> list[views.Row]:
        """Rows with the tier now: reject rules made since the run and overrides on top (curation.tiers)."""
        rules = self.db.rules()
        triples = ((r["doc_id"], r["source"], r["reasons"] or []) for r in rows)
        return views.effective(rows, self._overrides(), rejected_by_rules(triples, rules) if rules else None)

    def _overrides(self) -> dict[str, Override]:
        return self.db.overrides()

    def documents(
        self,
        *,
        tier: str | None = None,
        source: str | None = None,
        reason: str | None = None,
        q: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> dict[str, Any]:
        """The filtered documents table (one page of it) and the values each filter offers."""
        rows = self._rows()
        doc_ids = self._search(q.strip()) if q and q.strip() else None
        matched = views.filter_rows(rows, tier=tier, source=source, reason=reason, doc_ids=doc_ids)
        return {
            "total": len(matched),
            "offset": offset,
            "limit": limit,
            "rows": [views.list_row(r) for r in matched[offset : offset + limit]],
            "facets": views.facets(rows),
        }

    def _search(self, q: str) -> set[str]:
        """Documents whose title, path or text holds `q` (case-insensitive substring, in Arrow's kernels)."""
        table = self._table()[0]
        hit = pc.match_substring(table["text"], q, ignore_case=True)
        for column in ("title", "path"):
            hit = pc.or_(hit, pc.match_substring(table[column], q, ignore_case=True))
        return set(table.filter(pc.fill_null(hit, False))["doc_id"].to_pylist())

    def _record(self, doc_id: str) -> tuple[views.Row, str, str | None]:
        """One document's listing row (tier layered), its text and its details JSON."""
        table = self._table()[0]
        found = table.filter(pc.equal(table["doc_id"], doc_id)).to_pylist()
        if not found:
            raise UnknownDocument(doc_id)
        record = found[0]
        row = self._layered([{k: record[k] for k in views.LIST_COLUMNS}])[0]
        return row, record["text"], record["details"]

    def document(self, doc_id: str) -> dict[str, Any]:
        row, text, details = self._record(doc_id)
        return views.document_view(row, text, details, indexed=doc_id in self.indexed_hashes())

    def indexed_hashes(self) -> dict[str, str]:
        build = index_files.current_build(self.work_dir)
        return index_files.read_manifest(build)["document_hashes"] if build else {}

    def summary(self) -> dict[str, Any]:
        """Everything the charts need: tiers over runs and now, score and age distributions, top reasons."""
        rows = self._rows()
        runs = self.run_summaries()
        build = index_files.current_build(self.work_dir)
        manifest = index_files.read_manifest(build) if build else {}
        return {
            "documents": len(rows),
            "latest_run": runs[-1] if runs else None,
            "tiers_now": views.tier_counts(rows),
            "overrides": sum(1 for r in rows if r["override"]),
            "tiers_over_runs": views.tiers_over_runs(runs),
            "score_histograms": views.score_histograms(rows),
            "age_by_source": views.age_by_source(rows, self.settings.curation.as_of()),
            "top_reasons": views.top_reasons(rows),
            "index": {k: manifest.get(k) for k in ("build_id", "n_chunks", "n_documents", "derived_from")},
        }

    def run_summaries(self, last: int = 30) -> list[dict[str, Any]]:
        """runs/*/summary.json, oldest first (run ids sort by start time)."""
        paths = self.layout.run_summaries()[-last:]
        return [json.loads(p.read_text(encoding="utf-8")) for p in paths]

    def overrides(self) -> list[dict[str, Any]]:
        """Every override, newest first, with the document's title and path and the tier its run gave."""
        by_id = {r["doc_id"]: r for r in self._table()[1]}
        out = []
        for o in self.db.override_rows():
            doc = by_id.get(o["doc_id"], {})
            out.append(
                {
                    **o,
                    "at": views.iso_time(o["at"]),
                    "title": doc.get("title", ""),
                    "path": doc.get("path", ""),
                    "source": doc.get("source", ""),
                    "run_tier": doc.get("tier", ""),
                }
            )
        return out

    def overrides_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in self.overrides():
            writer.writerow({k: _csv_cell(row[k]) for k in CSV_FIELDS})
        return buffer.getvalue()

    def audit(self, limit: int = 200) -> list[dict[str, Any]]:
        return [{**a, "at": views.iso_time(a["at"])} for a in self.db.audit(limit)]

    # --- deciding ---------------------------------------------------------------------------------------

    def apply_override(self, *, doc_id: str, tier: Tier, who: str, why: str) -> OverrideResult:
        """Store the steward's decision and make the index agree with it now.

        Raises:
            ValueError: the tier is not safe or unsafe, or the reason is empty.
            UnknownDocument: no such document in documents.parquet.
            IndexUpdateFailed: stored, but the new build failed (logged in the audit trail).
        """
        if tier not in APPLICABLE_TIERS:
            raise ValueError(f"approve (safe) or reject (unsafe), not {tier.value!r}")
        why = why.strip()
        if not why:
            raise ValueError("an override needs a reason (why)")
        row, text, _ = self._record(doc_id)
        with self.write_lock:
            self.db.set_override(doc_id=doc_id, tier=tier, who=who, why=why)
            try:
                change, chunks = self._update_index(row, text, tier)
            except Exception as exc:
                self.db.log(who=who, action="index_update_failed", doc_id=doc_id, detail=repr(exc)[:500])
                raise IndexUpdateFailed(f"override stored; the index update failed: {exc}") from exc
            build = index_files.current_build(self.work_dir)
            if change != "none":
                detail = f"{chunks} chunk(s) {change}; build {build.name if build else '-'}"
                self.db.log(who=who, action=f"index_{change}", doc_id=doc_id, detail=detail)
        at = views.iso_time(time.time())
        return OverrideResult(doc_id, tier.value, who, why, at, change, chunks, build.name if build else None)

    def _update_index(self, row: views.Row, text: str, tier: Tier) -> tuple[str, int]:
        doc_id = row["doc_id"]
        indexed = self.indexed_hashes().get(doc_id)
        if tier is not Tier.SAFE:
            if indexed is None:
                return "none", 0
            build = index_files.current_build(self.work_dir)
            assert build is not None
            chunks = index_files.read_chunks(build, ["doc_id"])
            n = pc.sum(pc.equal(chunks["doc_id"], doc_id)).as_py() or 0
            index_store.remove_documents(self.work_dir, [doc_id])
            return "removed", int(n)
        if indexed == row["content_hash"]:
            return "none", 0
        doc = _document(row, text)
        from pipelines.stages import chunk_documents, embed_chunks  # the scorers come with it: load on use

        nodes = embed_chunks(chunk_documents([doc], self.embedder, self.settings), self.embedder)
        index_store.add_documents(self.work_dir, nodes, {doc_id: doc.content_hash})
        return "added", len(nodes)


def _document(row: views.Row, text: str) -> Document:
    return Document(
        doc_id=row["doc_id"],
        source=row["source"],
        source_type=row["source_type"],
        path=row["path"],
        title=row["title"],
        text=text,
        updated=row["updated"],
        updated_from=row["updated_from"],
    )


def _csv_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
