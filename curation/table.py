"""The documents table (`documents.parquet`, one row per document version with every score, tier and
reason) and the quarantine log (`quarantine.jsonl`)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curation.models import Decision, Document, QuarantineRecord, ScoreResult
from curation.scorers import scorer_names

SCORE_NAMES = scorer_names()  # one `score_<name>` column per scorer, in the registry's order


def documents_table(
    docs: Sequence[Document], scores: dict[str, dict[str, ScoreResult]], decisions: dict[str, Decision]
) -> pa.Table:
    columns: dict[str, list[object]] = {
        "doc_id": [d.doc_id for d in docs],
        "source": [d.source for d in docs],
        "source_type": [d.source_type for d in docs],
        "path": [d.path for d in docs],
        "title": [d.title for d in docs],
        "text": [d.text for d in docs],
        "updated": [d.updated for d in docs],
        "updated_from": [d.updated_from for d in docs],
        "content_hash": [d.content_hash for d in docs],
        "chars": [len(d.text) for d in docs],
    }
    for name in SCORE_NAMES:
        columns[f"score_{name}"] = [_score(scores[d.doc_id], name) for d in docs]
    columns["tier"] = [decisions[d.doc_id].tier.value for d in docs]
    columns["reasons"] = [decisions[d.doc_id].reasons for d in docs]
    columns["overridden_by"] = [decisions[d.doc_id].overridden_by for d in docs]
    columns["details"] = [
        json.dumps({n: s.details for n, s in scores[d.doc_id].items()}, default=_json_value) for d in docs
    ]
    return pa.table(columns)


def _json_value(value: object) -> object:
    """Details hold small dataclasses (a sensitive Span) and dates: store them as JSON objects and ISO dates,
    so readers (the steward page) get fields, not a repr to parse."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _score(per_doc: dict[str, ScoreResult], name: str) -> float | None:
    result = per_doc.get(name)
    return None if result is None else float(result.score)


def write_documents(path: Path, table: pa.Table) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)


def read_documents(path: Path, columns: list[str] | None = None) -> pa.Table:
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `vetted ingest` first")
    return pq.read_table(path, columns=columns)


def write_quarantine(path: Path, records: Sequence[QuarantineRecord]) -> None:
    lines = [
        json.dumps({"path": r.path, "source": r.source, "reason": r.reason, "detail": r.detail})
        for r in records
    ]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
