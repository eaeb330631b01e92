"""Scorers: one module each. A scorer reads documents and returns a ScoreResult (0..1, 1 = good) with
stable snake_case reasons prefixed by its name; the tier policy combines them and never rescans text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from curation.models import Document, ScoreResult


class Scorer(Protocol):
    name: str

    def score_many(self, docs: Sequence[Document]) -> list[ScoreResult]: ...
