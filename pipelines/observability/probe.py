"""Index load (read vs mmap) and serving queries, cold and warm page cache, as profiled stages.

probe_index: for each load mode and cache state, two stages over the build's raw FAISS index:
`index_load_<mode>_<cache>` opens it, `index_query_<mode>_<cache>` runs single-vector searches one at a time,
as serving does. mode `read` reads the whole file at load; mode `mmap` maps the vectors, so the load is cheap
and the first searches pay the reads as major page faults (they never show in rchar). Queries are random unit
vectors: a flat search scans every vector whatever the query, so content does not change its I/O.

probe_retriever: the real serving path, load and questions, cold and warm. Cold means our build folder and
tables were evicted first (pipelines.observability.page_cache), and each load stage notes how much of them
really left the cache. Serving is a higher layer, so the retriever comes from the caller (`vetted io probe`
passes serving's SafeRetriever: FAISS, chunk rows, tier table); the probe owns only what is measured and when.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from pipelines.core.embedding import Embedder, embedder_for
from pipelines.core.index_files import current_build, read_faiss
from pipelines.core.settings import Settings
from pipelines.observability.page_cache import evict, eviction_summary
from pipelines.observability.profiler import RunProfile

MODES = ("read", "mmap")
CACHES = ("cold", "warm")
DEFAULT_QUESTIONS = (
    "How do I create a virtual environment in Python?",
    "What does VACUUM do in PostgreSQL?",
    "What is a race condition?",
    "How do I configure replication between two database servers?",
    "Why does pip fail to install a package behind a proxy?",
)


class Retriever(Protocol):
    def retrieve(self, question: str) -> Sequence[object]: ...


def _evict_note(paths: Sequence[Path], cache: str) -> dict[str, float | int | str]:
    """Evict `paths` for a cold stage; the note says how much really left the cache, and why not."""
    if cache != "cold":
        return {"cache": cache}
    summary = eviction_summary(evict(paths))
    note: dict[str, float | int | str] = {"cache": cache, "evicted_share": round(summary.evicted_share, 4)}
    if summary.notes:
        note["eviction_note"] = "; ".join(summary.notes)
    return note


def _page_in_search_code() -> None:
    """One search on a tiny index first: the first search pages in FAISS's own code (one major fault can read
    megabytes with a large read_ahead_kb), which would otherwise be charged to the first query stage."""
    import faiss

    tiny = faiss.IndexFlatIP(8)
    tiny.add(np.ones((4, 8), dtype="float32"))
    tiny.search(np.ones((1, 8), dtype="float32"), 2)


def probe_index(profile: RunProfile, build: Path, *, queries: int = 64, k: int = 5, seed: int = 0) -> None:
    """Four load/query stage pairs (read/mmap x cold/warm) over one build, added to `profile`."""
    _page_in_search_code()
    for mode in MODES:
        for cache in CACHES:
            note = _evict_note([build], cache)
            with profile.stage(f"index_load_{mode}_{cache}") as st:
                index = read_faiss(build, mmap=mode == "mmap")
                st.items(items_in=1, items_out=index.ntotal)
                st.note(mode=mode, **note)
            vectors = np.random.default_rng(seed).standard_normal((queries, index.d)).astype("float32")
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            with profile.stage(f"index_query_{mode}_{cache}") as st:
                for vector in vectors:
                    index.search(vector[None, :], k)
                st.items(items_in=queries, items_out=queries)
                st.note(mode=mode, cache=cache, k=k)
            del index


def probe_retriever(
    profile: RunProfile,
    settings: Settings,
    open_retriever: Callable[[Embedder], Retriever],
    *,
    questions: Sequence[str] = DEFAULT_QUESTIONS,
) -> None:
    """The serving path, cold then warm: `open_retriever(embedder)` is the load stage, one `retrieve` per
    question the query stage. The embedder is built and its model loaded before any stage (not index I/O)."""
    work = settings.work_dir
    build = current_build(work)
    if build is None:
        raise FileNotFoundError(f"no index under {work / 'index'}: run `vetted ingest` first")
    embedder = embedder_for(settings)  # as serving builds it, embedding cache included
    embedder.embed(["load the model before any stage starts"])  # model load is not index I/O
    layout = settings.layout
    state = (layout.documents, layout.steward_db, layout.embedding_cache)
    tables = [p for p in state if p.exists()]
    for cache in CACHES:
        note = _evict_note([build, *tables], cache)
        with profile.stage(f"serve_load_{cache}") as st:
            retriever = open_retriever(embedder)
            st.items(items_in=1, items_out=1)
            st.note(**note)
        with profile.stage(f"serve_query_{cache}") as st:
            hits = sum(len(retriever.retrieve(q)) for q in questions)
            st.items(items_in=len(questions), items_out=hits)
            st.note(cache=cache)
