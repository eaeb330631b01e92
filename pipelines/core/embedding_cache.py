"""A content-addressed embedding cache (SQLite): the same text under the same model is embedded once.

Scheduled runs over a mostly unchanged corpus then embed only what changed; on a CPU that is the difference
between minutes and seconds. Keys are SHA-1 of the text, scoped by a model id (path + weight size + mtime)
and the backend, so a new model or backend never reads old vectors.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

_BATCH = 500  # SQLite's default limit on host parameters is 999 (older builds)


def text_key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()


def model_id(model_dir: Path) -> str:
    weights = sorted(model_dir.glob("*.safetensors")) or sorted(model_dir.glob("*.bin"))
    stamp = ",".join(f"{w.name}:{w.stat().st_size}:{int(w.stat().st_mtime)}" for w in weights)
    return hashlib.sha1(f"{model_dir.resolve()}|{stamp}".encode()).hexdigest()[:16]


def cache_scope(model_dir: Path, variant: str) -> str:
    """The cache's model column: the model's version and the backend that embeds with it (an int8 vector is
    not a torch vector)."""
    return f"{model_id(model_dir)}:{variant}"


class EmbeddingCache:
    def __init__(self, path: Path, model: str, dimension: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.model, self.dimension = path, model, dimension
        self.hits = self.misses = 0
        with self._db() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, key BLOB NOT NULL, "
                "vec BLOB NOT NULL, PRIMARY KEY (model, key)) WITHOUT ROWID"
            )

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            yield db
            db.commit()
        finally:
            db.close()

    def get_many(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        with self._db() as db:
            for i in range(0, len(unique), _BATCH):
                part = unique[i : i + _BATCH]
                rows = db.execute(
                    f"SELECT key, vec FROM vectors WHERE model = ? AND key IN ({','.join('?' * len(part))})",
                    [self.model, *part],
                ).fetchall()
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype="float32")
        self.hits += sum(1 for k in keys if k in found)
        self.misses += sum(1 for k in keys if k not in found)
        return found

    def put_many(self, items: Iterable[tuple[bytes, np.ndarray]]) -> None:
        rows = [(self.model, key, np.asarray(vec, dtype="float32").tobytes()) for key, vec in items]
        with self._db() as db:
            db.executemany("INSERT OR REPLACE INTO vectors (model, key, vec) VALUES (?, ?, ?)", rows)
