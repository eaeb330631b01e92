"""A build's chunk rows keyed by FAISS id (`chunks.sqlite`), so a reader fetches only the rows a search hit.

Why SQLite and not the Parquet file: a query needs ~10 rows out of up to millions. SQLite's INTEGER PRIMARY
KEY is the table's own B-tree key, so a lookup is a few page reads and opening is one file open, whatever
the size; Parquet reads whole column chunks of a row group per hit. chunks.parquet stays the table of
record (derived builds, training data, CLI listings read it whole); this file replaces the LlamaIndex
docstore.json, which held the same second copy of the text as one JSON blob loaded whole at open.

A build never changes once committed, so readers open it `immutable=1`: no locks, no journal look-ups.
pipelines.core.index_store owns the file name and calls this module.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa

COLUMNS = ("faiss_id", "node_id", "doc_id", "chunk_no", "title", "source", "path", "location", "text")
_BATCH_ROWS = 50_000  # rows converted from Arrow per executemany: bounds the Python objects held at once


def write_rows(path: Path, table: pa.Table) -> None:
    """chunks.sqlite from a chunk table that has every column of COLUMNS."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode = OFF")  # a partial build folder: a crash discards it whole
        con.execute("PRAGMA synchronous = OFF")  # the index store fsyncs every file before the rename
        con.execute(
            "CREATE TABLE chunks (faiss_id INTEGER PRIMARY KEY, node_id TEXT, doc_id TEXT, chunk_no INTEGER,"
            " title TEXT, source TEXT, path TEXT, location TEXT, text TEXT)"
        )
        insert = f"INSERT INTO chunks VALUES ({', '.join('?' * len(COLUMNS))})"
        for batch in table.select(list(COLUMNS)).to_batches(max_chunksize=_BATCH_ROWS):
            con.executemany(insert, zip(*(col.to_pylist() for col in batch.columns), strict=True))
        con.commit()
    finally:
        con.close()


class RowLookup:
    """chunks.sqlite opened once, read-only; `rows(ids)` is safe from several threads (one connection
    behind a lock: a lookup takes microseconds, far under the search before it)."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: the build predates it; run `vetted ingest` again")
        self.path = path
        self._con = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        self._lock = threading.Lock()

    def rows(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        """faiss id -> its row, for the ids this build holds (others are left out)."""
        if not ids:
            return {}
        marks = ", ".join("?" * len(ids))
        with self._lock:
            found = self._con.execute(f"SELECT * FROM chunks WHERE faiss_id IN ({marks})", ids).fetchall()
        return {row[0]: dict(zip(COLUMNS, row, strict=True)) for row in found}

    def close(self) -> None:
        self._con.close()
