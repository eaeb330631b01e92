"""A small real work folder for the steward tests: five documents scored by hand, tiered by the real policy,
written by the real documents table, and their safe chunks embedded and indexed by the real index store."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from curation.models import Document, ScoreResult, Span, mask_value
from curation.policy import TierPolicy
from curation.table import SCORE_NAMES, documents_table, write_documents
from pipelines.core.index_store import write_build
from pipelines.core.settings import Settings, load_settings
from pipelines.scoring import Scores
from pipelines.stages import Tiered, chunk_documents, embed_chunks, tier_documents

EMAIL = "jane.doe@acme-corp.com"  # the raw value the steward page must never show
HR_TEXT = (
    "Employee record for the payroll export. Contact the employee at " + EMAIL + " about the March bonus. "
    "Salary band and home address follow in the attached sheet. " * 3
)
TEXTS = {
    "py": "Python lists are mutable sequences; tuples are immutable. Use a list when items change and a "
    "tuple for fixed records such as coordinates. List comprehensions build lists from iterables. " * 3,
    "pg": "VACUUM reclaims storage occupied by dead tuples in PostgreSQL. Routine vacuuming keeps tables "
    "from bloating and updates the visibility map; VACUUM FULL rewrites the whole table. " * 3,
    "net": "A network router forwards packets between networks using a routing table. Static routes are "
    "entered by hand; dynamic routing protocols such as OSPF learn routes from neighbours. " * 3,
    "hr": HR_TEXT,
    "old": "Release 0.9 of the legacy billing tool fixes a crash when printing invoices on dot-matrix "
    "printers and drops support for the old serial port driver. " * 3,
}
SOURCES = {
    "py": "product-docs-python",
    "pg": "product-docs-postgres",
    "net": "kb-foldoc",
    "hr": "confidential",
}


def documents() -> list[Document]:
    return [
        Document(
            doc_id=doc_id,
            source=SOURCES.get(doc_id, "tickets-changelogs"),
            source_type="product_docs",
            path=f"{SOURCES.get(doc_id, 'tickets-changelogs')}/{doc_id}.txt",
            title=f"{doc_id} page",
            text=text,
            updated=date(2024, 5, 1) if doc_id != "net" else None,
            updated_from="manifest" if doc_id != "net" else "unknown",
        )
        for doc_id, text in TEXTS.items()
    ]


def scores_for(doc: Document) -> dict[str, ScoreResult]:
    """Hand-set scores: `net` has an unknown age (review), `old` is stale (review), `hr` holds an e-mail."""
    scores = {name: ScoreResult(name, 0.9) for name in SCORE_NAMES}
    if doc.doc_id == "net":
        scores["age"] = ScoreResult("age", 0.1, ["age_unknown"])
    if doc.doc_id == "old":
        scores["age"] = ScoreResult("age", 0.05, ["age_stale_for_domain"])
    if doc.doc_id == "hr":
        start = doc.text.index(EMAIL)
        span = Span("pii_email", start, start + len(EMAIL), mask_value(EMAIL), 1.0)
        details: dict[str, object] = {"spans": [span], "counts": {"pii_email": 1}, "ignored": {}}
        scores["sensitive"] = ScoreResult("sensitive", 0.0, ["pii_email"], details)
    return scores


def make_work_dir(work_dir: Path, embedder) -> tuple[Settings, list[Document], Scores]:
    """documents.parquet, steward.db's folder and a first index build (safe documents only) in work_dir."""
    settings = load_settings(None, {"paths.work_dir": str(work_dir), "curation.today": "2026-11-26"})
    docs = documents()
    scores: Scores = {d.doc_id: scores_for(d) for d in docs}
    tiered = tier_documents(docs, scores, TierPolicy(), {})
    write_documents(work_dir / "documents.parquet", documents_table(docs, scores, tiered.decisions))
    safe = [d for d in docs if tiered.decisions[d.doc_id].tier.value == "safe"]
    nodes = embed_chunks(chunk_documents(safe, embedder, settings), embedder)
    write_build(
        work_dir,
        nodes,
        dimension=embedder.dimension,
        model="minilm",
        doc_hashes={d.doc_id: d.content_hash for d in safe},
        settings={},
    )
    return settings, docs, scores


def retier(docs: list[Document], scores: Scores, overrides) -> Tiered:
    """What the next run's tier stage decides (pipelines.flows.tier_task calls the same function)."""
    return tier_documents(docs, scores, TierPolicy(), overrides)
