"""The small records every stage passes along: documents, score results, tiers, quarantine records."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class Tier(StrEnum):
    SAFE = "safe"
    REVIEW = "review"
    UNSAFE = "unsafe"


@dataclass(slots=True)
class Document:
    """One document version as read by a connector.

    `updated` is the date the content itself carries (changelog entry, release note, manifest);
    `updated_from` says where it came from ("content", "manifest", "ticket_timestamp", "file_mtime" or
    "unknown"); `meta` holds connector facts the scorers read (a ticket's status, resolution, reviewer).
    """

    doc_id: str
    source: str
    source_type: str
    path: str
    title: str
    text: str
    updated: date | None = None
    updated_from: str = "unknown"
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        return content_hash(self.text)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(slots=True, frozen=True)
class Span:
    """A sensitive span: where it is and what kind, with the value masked (never the raw value)."""

    kind: str
    start: int
    end: int
    masked: str
    score: float = 1.0


@dataclass(slots=True)
class ScoreResult:
    """What one scorer says of one document: a 0..1 score (1 = good) and stable snake_case reasons."""

    name: str
    score: float
    reasons: list[str] = field(default_factory=list)
    details: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class Decision:
    """The tier of one document, every reason behind it, and what to redact before anything reads it."""

    doc_id: str
    tier: Tier
    reasons: list[str]
    overridden_by: str | None = None
    redact: list[str] = field(default_factory=list)  # reasons whose spans are masked (policy action "redact")


@dataclass(slots=True, frozen=True)
class Override:
    """A steward's decision on one document: it beats the run's tier now and on every later run."""

    tier: Tier
    who: str
    why: str
    at: float = 0.0  # epoch seconds

    @staticmethod
    def applied_to(tier: Tier, override: Override | None) -> Tier:
        """The one rule of "the tier now": an override, where there is one, beats what the run decided."""
        return override.tier if override is not None else tier


@dataclass(slots=True, frozen=True)
class QuarantineRecord:
    """A file that could not become a document, and why (reason is a stable snake_case string)."""

    path: str
    source: str
    reason: str
    detail: str = ""


def mask_value(value: str) -> str:
    """Keep the first and last character and the length's shape, hide the rest: 'j***@***.com'-style."""
    if len(value) <= 4:
        return "*" * len(value)
    return value[0] + "*" * (len(value) - 2) + value[-1]
