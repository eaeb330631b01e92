"""Retrieval evaluation through the service's own retriever (LlamaIndex over FAISS, tier check at query time).

Ranking metrics need a deeper list than the prompt's top_k, so questions are asked with a deep retriever and
no similarity floor (a floor would turn a low-ranked hit into no hit, mixing two questions into one number);
`answerable` reports the floor separately: the share of questions whose best hit clears
`retrieval.min_similarity`, i.e. that the chatbot would answer rather than decline.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from curation.layout import WorkLayout
from eval.metrics import dedupe_in_order, mean, retrieval_scores
from eval.qa import QAPair
from pipelines.core.embedding import Embedder
from serving.retriever import SafeRetriever

RANK_DEPTH_DOCS = 10  # nDCG@10 and recall@10 need ten documents
# Chunks fetched per question to find ten distinct documents: one long page (the programming FAQ) can hold
# dozens of chunks near the top, so the chunk list must be much deeper than ten.
RANK_DEPTH_CHUNKS = 100
METRICS = ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10")


@dataclass(slots=True)
class RetrievalResult:
    """Per-question rows and their means for one work folder."""

    label: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "summary": self.summary, "questions": self.rows}


def ranking_retriever(work_dir: Path, embedder: Embedder) -> SafeRetriever:
    """The service retriever, asked for a deep list and with the similarity floor off (see module doc)."""
    return SafeRetriever(work_dir, embedder, top_k=RANK_DEPTH_CHUNKS, min_similarity=-1.0)


def evaluate_retrieval(
    label: str,
    work_dir: Path,
    pairs: Sequence[QAPair],
    embedder: Embedder,
    *,
    min_similarity: float,
    tiers: dict[str, str] | None = None,
) -> RetrievalResult:
    """Rank documents for every question and score them against the gold document.

    Args:
        label: the name this result carries in tables ("curated", "uncurated").
        work_dir: a built work folder (index/ and documents.parquet).
        pairs: the questions.
        embedder: the embedding model the index was built with.
        min_similarity: the service's floor, for the `answerable` share.
        tiers: path -> tier as curation decided it; when given, each question records how many of its top
            `top_k`-deep documents curation would have kept out (for the uncurated index).
    """
    retriever = ranking_retriever(work_dir, embedder)
    indexed = {path for path, tier in tiers_by_path(work_dir).items() if tier == "safe"}
    result = RetrievalResult(label)
    started = time.perf_counter()
    for pair in pairs:
        hits = retriever.retrieve(pair.question)
        ranked = dedupe_in_order(h.path for h in hits)[:RANK_DEPTH_DOCS]
        row: dict[str, Any] = {"id": pair.id, "doc": pair.doc, "top_docs": ranked[:5]}
        row["gold_indexed"] = float(pair.doc in indexed)  # a gold document curation kept out cannot be found
        row |= retrieval_scores(ranked, {pair.doc})
        row["best_similarity"] = round(hits[0].score, 4) if hits else None
        row["answerable"] = float(bool(hits) and hits[0].score >= min_similarity)
        if tiers is not None:
            row["rejected_in_top5"] = sum(tiers.get(path, "unknown") != "safe" for path in ranked[:5])
        result.rows.append(row)
    seconds = time.perf_counter() - started
    result.summary = summarize(result.rows, seconds)
    return result


def tiers_by_path(work_dir: Path) -> dict[str, str]:
    """Each document's tier in a work folder's documents table (path -> safe | review | unsafe)."""
    table = pq.read_table(WorkLayout(work_dir).documents, columns=["path", "tier"])
    return dict(zip(table["path"].to_pylist(), table["tier"].to_pylist(), strict=True))


def summarize(rows: Sequence[dict[str, Any]], seconds: float) -> dict[str, Any]:
    summary: dict[str, Any] = {"questions": len(rows)}
    for name in (*METRICS, "gold_indexed", "answerable", "rejected_in_top5"):
        value = mean(r.get(name) for r in rows)
        if value is not None:
            summary[name] = round(value, 4)
    summary["ms_per_question"] = round(1000 * seconds / max(1, len(rows)), 2)
    return summary
