"""Retrieval over the safe index: LlamaIndex over the FAISS store, then two guards: a similarity floor (no
weak match counts as a vetted source) and a tier check at query time (a document rejected since the build
never reaches a prompt)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from curation.steward import StewardDB
from pipelines.embedding import Embedder
from pipelines.index_store import current_build, load_index, read_manifest


@dataclass(slots=True, frozen=True)
class Hit:
    doc_id: str
    node_id: str
    title: str
    source: str
    path: str
    score: float
    text: str


class TierLookup:
    """The current tier of every document: the documents table, with steward overrides on top. Reloaded when
    either file changes, so an override made in the app applies to the next question."""

    def __init__(self, work_dir: Path) -> None:
        self.table_path = work_dir / "documents.parquet"
        self.db_path = work_dir / "steward.db"
        self._stamp: tuple[float, float] | None = None
        self._tiers: dict[str, str] = {}

    def _current_stamp(self) -> tuple[float, float]:
        def mtime(p: Path) -> float:
            return p.stat().st_mtime if p.exists() else 0.0

        wal = self.db_path.with_name(self.db_path.name + "-wal")
        return mtime(self.table_path), max(mtime(self.db_path), mtime(wal))

    def tier(self, doc_id: str) -> str:
        stamp = self._current_stamp()
        if stamp != self._stamp:
            table = pq.read_table(self.table_path, columns=["doc_id", "tier"])
            tiers = dict(zip(table["doc_id"].to_pylist(), table["tier"].to_pylist(), strict=True))
            if self.db_path.exists():
                tiers |= {d: o.tier.value for d, o in StewardDB(self.db_path).overrides().items()}
            self._tiers, self._stamp = tiers, stamp
        return self._tiers.get(doc_id, "unknown")


class SafeRetriever:
    def __init__(self, work_dir: Path, embedder: Embedder, *, top_k: int, min_similarity: float) -> None:
        build = current_build(work_dir)
        if build is None:
            raise FileNotFoundError(f"no index under {work_dir / 'index'}: run `vetted ingest` first")
        self.build = build
        self.manifest = read_manifest(build)
        self.index = load_index(build, embedder.llama_embedding)
        self.tiers = TierLookup(work_dir)
        self.top_k = top_k
        self.min_similarity = min_similarity

    def retrieve(self, question: str) -> list[Hit]:
        # Ask for more than top_k: some hits may fall to the floor or the tier check.
        found = self.index.as_retriever(similarity_top_k=self.top_k * 3).retrieve(question)
        hits = []
        for item in found:
            meta = item.node.metadata
            if (item.score or 0.0) < self.min_similarity or self.tiers.tier(meta["doc_id"]) != "safe":
                continue
            hits.append(
                Hit(
                    doc_id=meta["doc_id"],
                    node_id=item.node.node_id,
                    title=meta.get("title", ""),
                    source=meta.get("source", ""),
                    path=meta.get("path", ""),
                    score=float(item.score or 0.0),
                    text=item.node.get_content(),
                )
            )
        return hits[: self.top_k]
