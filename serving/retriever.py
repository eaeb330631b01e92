"""Retrieval over the safe index: the question embedded by the model that embedded the chunks, FAISS over the
build (mmapped), then only the hit rows read from the build's chunk table (pipelines.core.index_reader's
OpenBuild), then two guards: a similarity floor (no weak match counts as a vetted source) and a tier check
at query time (a document rejected since the build never reaches a prompt). Each query stats index/CURRENT
and reloads when a new build was swapped in (a run, or a steward's override), so an approved document is
found from the next question on."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curation.layout import WorkLayout
from curation.models import Tier
from curation.tiers import TierView
from pipelines.core.embedding import Embedder
from pipelines.core.index_files import current_build, pointer_stamp
from pipelines.core.index_reader import OpenBuild

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
    def __init__(
        self,
        work_dir: Path,
        embedder: Embedder,
        *,
        top_k: int,
        min_similarity: float,
        search_threads: int = 1,  # IndexSettings.search_threads
    ) -> None:
        self.work_dir = work_dir
        self.embedder = embedder
        self.tiers = TierView(WorkLayout(work_dir))
        self.top_k = top_k
        self.min_similarity = min_similarity
        self.search_threads = search_threads
        self._reload_lock = threading.Lock()
        self._stamp = pointer_stamp(work_dir)
        self.opened = self._open()

    @property
    def build(self) -> Path:
        return self.opened.path

    @property
    def manifest(self) -> dict[str, Any]:
        return self.opened.manifest

    def _open(self) -> OpenBuild:
        build = current_build(self.work_dir)
        if build is None:
            raise FileNotFoundError(f"no index under {self.work_dir / 'index'}: run `vetted ingest` first")
        return OpenBuild(build, search_threads=self.search_threads)

    def refresh(self) -> bool:
        """Load the build index/CURRENT names if it changed since the last look; True when it did."""
        if pointer_stamp(self.work_dir) == self._stamp:
            return False
        with self._reload_lock:
            stamp = pointer_stamp(self.work_dir)  # before reading the name: a later swap is seen next time
            if stamp == self._stamp:
                return False
            try:
                opened = self._open()
            except (FileNotFoundError, ValueError, RuntimeError) as exc:  # pruned mid-read: try next query
                log.warning("index reload failed, still serving %s: %s", self.build.name, exc)
                return False
            changed = opened.path != self.build
            # the old build's file handles close with it (mmapped pages stay valid while a search holds it)
            self.opened, self._stamp = opened, stamp
            if changed:
                log.info("serving index build %s (%d chunks)", opened.path.name, opened.manifest["n_chunks"])
            return changed

    def retrieve(self, question: str) -> list[Hit]:
        self.refresh()
        # encode, not embed: a question is not worth a row in the chunk embedding cache
        query = self.embedder.encode([question])
        # Ask for more than top_k: some hits may fall to the floor or the tier check.
        found = self.opened.search(query, self.top_k * 3)[0]
        tiers_now = self.tiers.tiers()  # one look at the tier files per question, not one per hit
        hits = []
        for score, row in found:
            now = tiers_now.get(row["doc_id"])  # None: a document no run has seen
            if score < self.min_similarity or now is None or now.tier is not Tier.SAFE:
                continue
            hits.append(
                Hit(
                    doc_id=row["doc_id"],
                    node_id=row["node_id"],
                    title=row["title"] or "",
                    source=row["source"] or "",
                    path=row["path"] or "",
                    score=score,
                    text=row["text"],
                    location=row["location"],
                    updated=self.tiers.updated(row["doc_id"]),
                )
            )
            if len(hits) == self.top_k:  # the rest would be cut: no tier look-ups for them
                break
        return hits
