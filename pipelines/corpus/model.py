"""The record every corpus source yields, the source-type vocabulary, the missing-source error, sampling."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

T = TypeVar("T")

# The source types the manifest may name; curation's source-trust scorer keys its weights on these.
SOURCE_TYPES = ("product_docs", "knowledge_base", "support_ticket", "hr_records", "internal_notes", "unknown")


class CorpusSourceMissing(RuntimeError):
    """A Debian package or download the corpus is built from is not there; the message says how to get it."""


@dataclass(slots=True, frozen=True)
class CorpusFile:
    """One file of the corpus: where it goes (relative to the corpus root), its manifest fields and its bytes.

    `updated_from` says where `updated` came from: "content" when the date is written in the document itself
    (a release note, a FOLDOC entry, a changelog trailer), "manifest" when it is the package's date.
    """

    path: str
    title: str
    source: str
    source_type: str
    updated: date | None
    updated_from: str
    data: bytes

    def manifest_row(self) -> dict[str, object]:
        return {
            "path": self.path,
            "title": self.title,
            "source": self.source,
            "source_type": self.source_type,
            "updated": self.updated.isoformat() if self.updated else None,
            "updated_from": self.updated_from,
        }


def source_rng(seed: int, source: str) -> random.Random:
    """One generator per source, so changing how many files one source takes never reshuffles another."""
    return random.Random(f"{seed}:{source}")


def seeded_sample(items: Sequence[T], k: int, rng: random.Random) -> list[T]:
    """Up to k items, the same ones for the same sorted input and seed, returned in input order."""
    if k >= len(items):
        return list(items)
    chosen = set(rng.sample(range(len(items)), k))
    return [item for i, item in enumerate(items) if i in chosen]
