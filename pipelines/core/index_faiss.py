"""The FAISS half of an index build: which index a build gets, how it is trained, and how good it is.

After the FAISS wiki's "Guidelines to choose an index": exact search (IndexFlatIP) while a brute-force scan
is fast enough, an inverted file above it (IndexIVFFlat, 4-16 x sqrt(N) lists under 1M vectors; the wiki's
IVF65536_HNSW32 for 1M-10M would need an HNSW quantizer, not built here). Vectors are normalised, so inner
product = cosine for both.

Ids. A build's FAISS ids are its chunks' `faiss_id`s (chunks.parquet, chunks.sqlite); a derived build
(steward override, incremental run) deletes ids with `remove_ids` and adds new ones past the largest used.
Flat is wrapped in IndexIDMap2; IVF keeps the ids itself (an IDMap over IVF would renumber wrongly on delete)
with a hashtable direct map, so `reconstruct(id)` and `remove_ids` both work. HNSW cannot delete at all,
which is why it is not offered: every derived build would have to be rebuilt from scratch.

pipelines.core.index_store owns the files; this module only makes and measures the index object.
"""

from __future__ import annotations

import math
from typing import Any

import faiss
import numpy as np

from pipelines.core.settings import IndexSettings

RECALL_K = 10


def choose_spec(n_vectors: int, settings: IndexSettings) -> dict[str, Any]:
    """The index a build of `n_vectors` gets: {"kind": "flat"} or {"kind": "ivf", "nlist", "nprobe"}.

    Raises:
        ValueError: a setting that cannot give an index for this many vectors (says which to change).
    """
    kind = settings.kind
    if kind == "auto":
        kind = "flat" if n_vectors < settings.flat_max_vectors else "ivf"
    if kind == "flat":
        return {"kind": "flat"}
    if kind != "ivf":
        raise ValueError(f"index.kind must be auto, flat or ivf, got {kind!r}")
    nlist = settings.ivf_nlist or max(1, round(settings.ivf_lists_per_sqrt_n * math.sqrt(n_vectors)))
    if nlist > n_vectors:
        raise ValueError(
            f"index.ivf_nlist = {nlist} lists for {n_vectors} vectors: an IVF needs at least one vector a "
            'list; lower index.ivf_nlist, or use index.kind = "flat" for an index this small'
        )
    return {
        "kind": "ivf",
        "nlist": nlist,
        "nprobe": min(settings.ivf_nprobe, nlist),
        "trained_on": min(n_vectors, nlist * settings.ivf_train_per_list),
        "seed": settings.seed,
        "recall_queries": settings.recall_queries,  # asked for; "queries" says how many were measured
    }


def build_index(vectors: np.ndarray, ids: np.ndarray, spec: dict[str, Any]) -> faiss.Index:
    """A trained index holding `vectors` under `ids` (int64), of the kind `spec` names."""
    dimension = vectors.shape[1]
    index: faiss.Index
    if spec["kind"] == "flat":
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    else:
        index = faiss.index_factory(dimension, f"IVF{spec['nlist']},Flat", faiss.METRIC_INNER_PRODUCT)
        ivf = faiss.extract_index_ivf(index)
        rng = np.random.default_rng(spec["seed"])
        sample = np.sort(rng.choice(len(vectors), spec["trained_on"], replace=False))
        ivf.cp.seed = spec["seed"]  # k-means' own initialisation: the same vectors give the same cells
        index.train(vectors[sample])
        # reconstruct(id) and remove_ids by any id (an Array map cannot delete); faiss's stubs lack DirectMap
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
    if len(vectors):
        index.add_with_ids(vectors, ids)
    tune(index, spec)
    return index


def tune(index: faiss.Index, spec: dict[str, Any]) -> None:
    """Set the search-time parameters the build recorded (nprobe is not stored in the FAISS file)."""
    if spec["kind"] == "ivf":
        faiss.extract_index_ivf(index).nprobe = spec["nprobe"]


def recall_of(
    index: faiss.Index, vectors: np.ndarray, ids: np.ndarray, spec: dict[str, Any]
) -> dict[str, Any]:
    """The recall figures the manifest records for this index: measured for IVF, 1 for exact search."""
    if spec["kind"] == "flat":
        return {"recall_at_10": 1.0, "queries": 0}  # exact search against itself: 1 by construction
    return measure_recall(index, vectors, ids, queries=spec["recall_queries"], seed=spec["seed"])


def measure_recall(
    index: faiss.Index, vectors: np.ndarray, ids: np.ndarray, *, queries: int, seed: int, k: int = RECALL_K
) -> dict[str, Any]:
    """recall@k of `index` against exact search over `vectors` (every vector it holds, `ids[i]` the id of
    row i), on a seeded sample of them used as queries. 1.0 for a flat index by construction."""
    n = len(vectors)
    if n == 0:
        return {"recall_at_10": 1.0, "queries": 0}
    rng = np.random.default_rng(seed + 1)
    rows = np.sort(rng.choice(n, min(n, queries), replace=False))
    k = min(k, n)
    _, exact = faiss.knn(vectors[rows], vectors, k, metric=faiss.METRIC_INNER_PRODUCT)  # row numbers
    _, found = index.search(vectors[rows], k)  # faiss ids
    hits = sum(len(set(ids[e].tolist()) & set(f.tolist())) for e, f in zip(exact, found, strict=True))
    return {"recall_at_10": hits / (len(rows) * k), "queries": int(len(rows))}


def all_vectors(index: faiss.Index, ids: np.ndarray) -> np.ndarray:
    """The stored vectors of `ids`, row for row (IDMap2 and the IVF's hashtable direct map both resolve
    an id)."""
    if len(ids) == 0:
        return np.zeros((0, index.d), "float32")
    return np.asarray(index.reconstruct_batch(np.asarray(ids, dtype=np.int64)), dtype="float32")
