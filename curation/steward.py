"""The steward database (`steward.db`, SQLite): overrides and group rules with who, when and why, and an
audit log.

Overrides are kept per document id, so they stick across runs: the policy applies them on every run. Group
rules decide one reason for one source at once (curation.policy.GroupRule); the next run applies the active
ones; a rule is retired, never deleted, so the audit trail keeps what it decided.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from curation.models import Override, Tier
from curation.policy import GroupRule, check_rule

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
CREATE TABLE IF NOT EXISTS rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('approve', 'reject', 'redact')),
    who TEXT NOT NULL,
    at REAL NOT NULL,
    why TEXT NOT NULL CHECK (length(trim(why)) > 0),
    active INTEGER NOT NULL DEFAULT 1,
    retired_by TEXT,
    retired_at REAL,
    retired_why TEXT
);
-- one active rule per (source, reason): a second would make the outcome depend on which one is read first
CREATE UNIQUE INDEX IF NOT EXISTS rules_one_active ON rules (source, reason) WHERE active = 1;
"""
_RULE_COLUMNS = "id, source, reason, decision, who, why, at, active"


class RuleConflict(ValueError):
    """An active rule already decides this (source, reason): retire it first."""


class UnknownRule(LookupError):
    """No rule with this id (or none active, for retire)."""


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

    # --- group rules ------------------------------------------------------------------------------------

    def add_rule(self, *, source: str, reason: str, decision: str, who: str, why: str) -> GroupRule:
        """Store an active rule and audit it (action `rule_<decision>`).

        Raises:
            ValueError: an empty source or why, or a reason or decision a rule cannot take (check_rule).
            RuleConflict: an active rule on the same source and reason exists.
        """
        check_rule(reason, decision)
        if not source.strip() or not why.strip():
            raise ValueError("a rule needs a source and a reason (why)")
        now = time.time()
        with self._connect() as db:
            found = db.execute(
                "SELECT id FROM rules WHERE source = ? AND reason = ? AND active = 1", (source, reason)
            ).fetchone()
            if found:
                raise RuleConflict(f"rule #{found[0]} already decides {reason} in {source}: retire it first")
            cursor = db.execute(
                "INSERT INTO rules (source, reason, decision, who, at, why) VALUES (?, ?, ?, ?, ?, ?)",
                (source, reason, decision, who, now, why),
            )
            rule_id = int(cursor.lastrowid or 0)
            db.execute(
                "INSERT INTO audit (at, who, action, doc_id, detail) VALUES (?, ?, ?, NULL, ?)",
                (now, who, f"rule_{decision}", f"rule #{rule_id}: {decision} {reason} in {source}: {why}"),
            )
        return GroupRule(rule_id, source, reason, decision, who, why, now)

    def retire_rule(self, rule_id: int, *, who: str, why: str) -> GroupRule:
        """Deactivate an active rule (the next run no longer applies it) and audit it (`rule_retired`).

        Raises:
            ValueError: an empty why.
            UnknownRule: no active rule with this id.
        """
        if not why.strip():
            raise ValueError("retiring a rule needs a reason (why)")
        now = time.time()
        with self._connect() as db:
            found = db.execute(
                f"SELECT {_RULE_COLUMNS} FROM rules WHERE id = ? AND active = 1", (rule_id,)
            ).fetchone()
            if found is None:
                raise UnknownRule(f"no active rule #{rule_id}")
            db.execute(
                "UPDATE rules SET active = 0, retired_by = ?, retired_at = ?, retired_why = ? WHERE id = ?",
                (who, now, why, rule_id),
            )
            rule = _rule(found)
            db.execute(
                "INSERT INTO audit (at, who, action, doc_id, detail) VALUES (?, ?, 'rule_retired', NULL, ?)",
                (now, who, f"rule #{rule_id} ({rule.decision} {rule.reason} in {rule.source}): {why}"),
            )
        return replace(rule, active=False)

    def rules(self, *, active_only: bool = True) -> list[GroupRule]:
        """The rules, newest first; only the active ones unless `active_only` is False."""
        where = "WHERE active = 1 " if active_only else ""
        with self._connect() as db:
            rows = db.execute(f"SELECT {_RULE_COLUMNS} FROM rules {where}ORDER BY id DESC").fetchall()
        return [_rule(r) for r in rows]

    def rule_rows(self) -> list[dict[str, Any]]:
        """Every rule with who, why and when it was made and retired (epoch seconds), newest first."""
        names = (*_RULE_COLUMNS.split(", "), "retired_by", "retired_at", "retired_why")
        with self._connect() as db:
            rows = db.execute(f"SELECT {', '.join(names)} FROM rules ORDER BY id DESC").fetchall()
        return [{**dict(zip(names, r, strict=True)), "active": bool(r[7])} for r in rows]


def _rule(row: tuple[Any, ...]) -> GroupRule:
    rule_id, source, reason, decision, who, why, at, active = row
    return GroupRule(int(rule_id), source, reason, decision, who, why, float(at), bool(active))
