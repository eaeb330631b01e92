"""A build opened for queries (serving's retriever, the tests): the FAISS index and the chunk rows of the
hits. pipelines.core.index_store writes the files; pipelines.core.index_files reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss
import numpy as np

from pipelines.core.index_files import ROWS_FILE, check_format, read_faiss, read_manifest
from pipelines.core.index_rows import RowLookup


class OpenBuild:
    """A build opened for queries: the FAISS index and the rows of chunks.sqlite, read per hit. Opening
    reads the manifest and the index, never the chunk text: seconds at a million chunks.

    An IVF is mmapped (its lists are most of the file, and a query touches nprobe of them); a flat index,
    at most index.flat_max_vectors (~77 MB at 50k x 384), is read whole: one query on the mmapped copy took
    1.8 ms against 1.5 ms in memory at 20k vectors here (eval.bench.scale's build), and reading it costs
    well under a second. `search_threads`: OpenMP threads per search (IndexSettings.search_threads).
    """

    def __init__(self, build: Path, *, search_threads: int = 1) -> None:
        self.path = build
        self.manifest = check_format(build, read_manifest(build))
        mmap = self.manifest["index"]["kind"] == "ivf"
        self.index = read_faiss(build, mmap=mmap, manifest=self.manifest)
        self.rows = RowLookup(build / ROWS_FILE)
        self.search_threads = search_threads

    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[float, dict[str, Any]]]]:
        """Per query, up to k (cosine, chunk row) pairs, best first."""
        # OpenMP's thread count is per calling thread (its nthreads ICV), so this sets it for the thread
        # that serves this question, not for the process's index builds
        faiss.omp_set_num_threads(self.search_threads)
        scores, ids = self.index.search(np.asarray(queries, dtype="float32"), k)
        rows = self.rows.rows(sorted({int(i) for i in ids.ravel() if i >= 0}))
        return [
            [(float(s), rows[int(i)]) for s, i in zip(srow, irow, strict=True) if int(i) in rows]
            for srow, irow in zip(scores, ids, strict=True)
        ]
