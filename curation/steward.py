"""The steward database (`steward.db`, SQLite): overrides with who, when and why, and an audit log.

Overrides are kept per document id, so they stick across runs: the policy applies them on every run.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from curation.models import Override, Tier

_SCHEMA = """
CREATE TABLE IF NOT EXISTS overrides (
    doc_id TEXT PRIMARY KEY,
    tier TEXT NOT NULL CHECK (tier IN ('safe', 'review', 'unsafe')),
    who TEXT NOT NULL,
    why TEXT NOT NULL CHECK (length(trim(why)) > 0),
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    who TEXT NOT NULL,
    action TEXT NOT NULL,
    doc_id TEXT,
    detail TEXT NOT NULL DEFAULT ''
);
"""


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """One connection to steward.db, committed on success and always closed (every table in it uses this)."""
    db = sqlite3.connect(path, timeout=10)
    try:
        db.execute("PRAGMA journal_mode=WAL")  # readers (the app) never block the writer (a run)
        yield db
        db.commit()
    finally:
        db.close()


class StewardDB:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return connect(self.path)

    def set_override(self, *, doc_id: str, tier: Tier, who: str, why: str) -> None:
        if not why.strip():
            raise ValueError("an override needs a reason (why)")
        now = time.time()
        with self._connect() as db:
            db.execute(
                "INSERT INTO overrides (doc_id, tier, who, why, at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(doc_id) DO UPDATE SET tier=excluded.tier, who=excluded.who, "
                "why=excluded.why, at=excluded.at",
                (doc_id, tier.value, who, why, now),
            )
            db.execute(
                "INSERT INTO audit (at, who, action, doc_id, detail) VALUES (?, ?, ?, ?, ?)",
                (now, who, f"override_{tier.value}", doc_id, why),
            )

    def overrides(self) -> dict[str, Override]:
        with self._connect() as db:
            rows = db.execute("SELECT doc_id, tier, who, why, at FROM overrides").fetchall()
        return {doc_id: Override(Tier(tier), who, why, at) for doc_id, tier, who, why, at in rows}

    def override_rows(self) -> list[dict[str, Any]]:
        """Every override with who, why and when (`at`, epoch seconds), newest first."""
        with self._connect() as db:
            rows = db.execute("SELECT doc_id, tier, who, why, at FROM overrides ORDER BY at DESC").fetchall()
        return [dict(zip(("doc_id", "tier", "who", "why", "at"), r, strict=True)) for r in rows]

    def log(self, *, who: str, action: str, doc_id: str | None = None, detail: str = "") -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO audit (at, who, action, doc_id, detail) VALUES (?, ?, ?, ?, ?)",
                (time.time(), who, action, doc_id, detail),
            )

    def audit(self, limit: int = 200) -> list[dict[str, Any]]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT at, who, action, doc_id, detail FROM audit ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [dict(zip(("at", "who", "action", "doc_id", "detail"), r, strict=True)) for r in rows]
