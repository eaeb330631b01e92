"""Retrieval over the safe index: LlamaIndex over the FAISS store, then two guards: a similarity floor (no
weak match counts as a vetted source) and a tier check at query time (a document rejected since the build
never reaches a prompt). Each query stats index/CURRENT and reloads when a new build was swapped in (a run, or
a steward's override), so an approved document is found from the next question on."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llama_index.core import VectorStoreIndex

from curation.layout import WorkLayout
from curation.tiers import TierView
from pipelines.core.embedding import Embedder
from pipelines.core.index_store import current_build, load_index, pointer_stamp, read_manifest

log = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class Hit:
    doc_id: str
    node_id: str
    title: str
    source: str
    path: str
    score: float
    text: str
    location: str | None = None  # where the chunk starts inside its file: "page 12", "slide 3", "sheet Q3"
    tier: str = "safe"  # the document's tier when it was retrieved (only safe ones are)
    updated: str | None = None  # the date its content carries (ISO), None when it carries none


class SafeRetriever:
    def __init__(self, work_dir: Path, embedder: Embedder, *, top_k: int, min_similarity: float) -> None:
        self.work_dir = work_dir
        self.embedder = embedder
        self.tiers = TierView(WorkLayout(work_dir))
        self.top_k = top_k
        self.min_similarity = min_similarity
        self._reload_lock = threading.Lock()
        self._stamp = pointer_stamp(work_dir)
        self.build, self.manifest, self.index = self._open()

    def _open(self) -> tuple[Path, dict[str, Any], VectorStoreIndex]:
        build = current_build(self.work_dir)
        if build is None:
            raise FileNotFoundError(f"no index under {self.work_dir / 'index'}: run `vetted ingest` first")
        return build, read_manifest(build), load_index(build, self.embedder.llama_embedding)

    def refresh(self) -> bool:
        """Load the build index/CURRENT names if it changed since the last look; True when it did."""
        if pointer_stamp(self.work_dir) == self._stamp:
            return False
        with self._reload_lock:
            stamp = pointer_stamp(self.work_dir)  # before reading the name: a later swap is seen next time
            if stamp == self._stamp:
                return False
            try:
                build, manifest, index = self._open()
            except (FileNotFoundError, ValueError, RuntimeError) as exc:  # pruned mid-read: try next query
                log.warning("index reload failed, still serving %s: %s", self.build.name, exc)
                return False
            changed = build != self.build
            self.build, self.manifest, self.index, self._stamp = build, manifest, index, stamp
            if changed:
                log.info("serving index build %s (%d chunks)", build.name, manifest["n_chunks"])
            return changed

    def retrieve(self, question: str) -> list[Hit]:
        self.refresh()
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
                    location=meta.get("location"),
                    updated=self.tiers.updated(meta["doc_id"]),
                )
            )
        return hits[: self.top_k]
