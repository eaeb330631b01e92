"""Small builders for curation tests."""

from __future__ import annotations

from datetime import date

from curation.models import Document


def doc(
    text: str = "word " * 40,
    *,
    source: str = "kb",
    source_type: str = "knowledge_base",
    updated: date | None = date(2026, 1, 1),
    updated_from: str = "manifest",
    path: str = "a.txt",
    doc_id: str | None = None,
) -> Document:
    return Document(
        doc_id=doc_id or path,
        source=source,
        source_type=source_type,
        path=path,
        title=path,
        text=text,
        updated=updated,
        updated_from=updated_from,
    )
