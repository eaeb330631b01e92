"""Conversations, the answers staff were shown, and their feedback, in chat.db (SQLite, WAL).

    store = ChatStore(layout.chat_db)
    conv = store.new_conversation(owner="ana")
    store.history(conv, owner="ana", turns=4)        # [Turn(question, answer), ...] oldest first
    answer_id = store.record(answer, question=q, owner="ana", conversation_id=conv)
    store.feedback(answer_id, owner="ana", rating="down", comment="the VPN page is outdated")
    store.queue()                                    # thumbs-down not yet resolved, with the chunks shown

An answer is recorded with the exact chunks each citation showed (node ids), so a thumbs-down sends the
steward to the source that was used, not to whatever the index holds by then. A conversation belongs to the
account that opened it: anyone else gets "unknown conversation", as for an id that never existed.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from curation.steward import connect
from serving.rag import Answer, Turn

Rating = Literal["up", "down"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    conversation_id TEXT REFERENCES conversations(id),
    owner TEXT NOT NULL,
    question TEXT NOT NULL,
    query TEXT NOT NULL,
    answer TEXT NOT NULL,
    has_safe_context INTEGER NOT NULL,
    citations TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_by_conversation ON answers(conversation_id, seq);
CREATE TABLE IF NOT EXISTS feedback (
    answer_id TEXT PRIMARY KEY REFERENCES answers(id),
    owner TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    resolved_by TEXT,
    resolved_at TEXT,
    resolution TEXT
);
"""


class UnknownConversation(KeyError):
    """No such conversation for this account (never existed, or another account's)."""


class UnknownAnswer(KeyError):
    """No such answer for this account."""


@dataclass(slots=True, frozen=True)
class QueueItem:
    """A thumbs-down waiting for a steward: the question, the answer shown, each source with its chunks."""

    answer_id: str
    owner: str
    question: str
    answer: str
    comment: str
    created: str
    citations: list[dict[str, Any]]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ChatStore:
    def __init__(self, path: Path, clock: Callable[[], str] = _now) -> None:
        self.path, self._clock = path, clock
        path.parent.mkdir(parents=True, exist_ok=True)
        with connect(path) as db:
            db.executescript(_SCHEMA)

    def new_conversation(self, owner: str) -> str:
        conversation_id = "c_" + uuid.uuid4().hex[:16]
        with connect(self.path) as db:
            db.execute("INSERT INTO conversations VALUES (?, ?, ?)", (conversation_id, owner, self._clock()))
        return conversation_id

    def _owned(self, db: sqlite3.Connection, conversation_id: str, owner: str) -> None:
        row = db.execute("SELECT owner FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None or row[0] != owner:
            raise UnknownConversation(conversation_id)

    def history(self, conversation_id: str, *, owner: str, turns: int) -> list[Turn]:
        """The last `turns` turns, oldest first (raises UnknownConversation)."""
        with connect(self.path) as db:
            self._owned(db, conversation_id, owner)
            rows = db.execute(
                "SELECT query, answer FROM answers WHERE conversation_id = ? ORDER BY seq DESC LIMIT ?",
                (conversation_id, turns),
            ).fetchall()
        return [Turn(query, answer) for query, answer in reversed(rows)]

    def record(
        self, answer: Answer, *, question: str, owner: str, conversation_id: str | None = None
    ) -> str:
        """Store an answer as shown, each citation with the chunks it showed; returns its id."""
        answer_id = "a_" + uuid.uuid4().hex[:16]
        citations = [
            {"n": c.n, "doc_id": c.doc_id, "title": c.title, "path": c.path, "source": c.source,
             "score": c.score, "cited_in_answer": c.cited_in_answer, "location": c.location,
             "chunk_ids": c.chunk_ids, "excerpt": c.excerpt[:600]}
            for c in answer.citations
        ]  # fmt: skip
        with connect(self.path) as db:
            if conversation_id is not None:
                self._owned(db, conversation_id, owner)
            (seq,) = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM answers").fetchone()
            db.execute(
                "INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (answer_id, seq, conversation_id, owner, question, answer.query or question, answer.answer,
                 int(answer.has_safe_context), json.dumps(citations), self._clock()),
            )  # fmt: skip
        return answer_id

    def feedback(self, answer_id: str, *, owner: str, rating: Rating, comment: str = "") -> None:
        """Thumbs up or down on one's own answer; a second vote replaces the first (raises UnknownAnswer)."""
        with connect(self.path) as db:
            row = db.execute("SELECT owner FROM answers WHERE id = ?", (answer_id,)).fetchone()
            if row is None or row[0] != owner:
                raise UnknownAnswer(answer_id)
            db.execute(
                "INSERT INTO feedback (answer_id, owner, rating, comment, created) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(answer_id) DO UPDATE SET rating = excluded.rating, comment = excluded.comment, "
                "created = excluded.created, resolved_by = NULL, resolved_at = NULL, resolution = NULL",
                (answer_id, owner, rating, comment, self._clock()),
            )

    def queue(self, limit: int = 200) -> list[QueueItem]:
        """Thumbs-down answers no steward has resolved yet, newest first."""
        with connect(self.path) as db:
            rows = db.execute(
                "SELECT a.id, a.owner, a.question, a.answer, f.comment, f.created, a.citations "
                "FROM feedback f JOIN answers a ON a.id = f.answer_id "
                "WHERE f.rating = 'down' AND f.resolved_at IS NULL ORDER BY a.seq DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            QueueItem(a, o, q, text, c, when, json.loads(cites))
            for a, o, q, text, c, when, cites in rows
        ]

    def resolve(self, answer_id: str, *, who: str, resolution: str) -> None:
        """A steward closes a queue item (after demoting the source, or deciding it was fine)."""
        with connect(self.path) as db:
            done = db.execute(
                "UPDATE feedback SET resolved_by = ?, resolved_at = ?, resolution = ? "
                "WHERE answer_id = ? AND rating = 'down' AND resolved_at IS NULL",
                (who, self._clock(), resolution, answer_id),
            )
            if done.rowcount == 0:
                raise UnknownAnswer(answer_id)

    def counts(self) -> dict[str, int]:
        """Feedback by rating, for /metrics."""
        with connect(self.path) as db:
            return dict(db.execute("SELECT rating, COUNT(*) FROM feedback GROUP BY rating").fetchall())
