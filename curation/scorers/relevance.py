"""Domain relevance: cosine similarity of a document to the domain profile (description + exemplars),
calibrated linearly from [low, high] to [0, 1] and clipped; the nearest profile entry is named in the details
(`nearest`: the exemplar's label, e.g. "PostgreSQL database administration"), so a steward sees which kind of
wanted document it resembles. Below `off_domain_below` it is flagged `relevance_off_domain`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from curation.models import Document, ScoreResult
from curation.scorers.base import Scorer

# texts -> L2-normalised embeddings, shape (n, dim); the pipelines pass the sentence-transformers model in
EmbedFn = Callable[[list[str]], np.ndarray]


class RelevanceScorer(Scorer):
    name = "relevance"
    reason_prefixes = ("relevance_",)

    def __init__(
        self,
        embed: EmbedFn,
        *,
        description: str,
        exemplars: Sequence[str] = (),
        low: float = 0.05,
        high: float = 0.45,
        off_domain_below: float = 0.25,
        chars: int = 2000,
    ) -> None:
        if high <= low:
            raise ValueError(f"relevance calibration needs high > low, got low={low} high={high}")
        self.embed = embed
        self.profile_names = ["domain description", *(exemplar_label(e) for e in exemplars)]
        self.profile = embed([description, *exemplars])
        self.low, self.high = low, high
        self.off_domain_below = off_domain_below
        self.chars = chars

    def score_batch(self, docs: Sequence[Document]) -> list[ScoreResult]:
        if not docs:
            return []
        vectors = self.embed([f"{d.title}\n{d.text[: self.chars]}" for d in docs])
        sims = vectors @ self.profile.T
        out = []
        for row in sims:
            best = int(np.argmax(row))
            cos = float(row[best])
            value = float(np.clip((cos - self.low) / (self.high - self.low), 0.0, 1.0))
            reasons = ["relevance_off_domain"] if value < self.off_domain_below else []
            details = {"cosine": round(cos, 4), "nearest": self.profile_names[best], "nearest_index": best}
            out.append(ScoreResult(self.name, round(value, 4), reasons, details))
        return out


def exemplar_label(text: str, max_chars: int = 60) -> str:
    """A short name for an exemplar: its text up to the first colon ("Python programming: modules, ..."
    -> "Python programming"), else its first words."""
    head = text.split(":", 1)[0].strip() if ":" in text[: max_chars + 1] else text.strip()
    return head if len(head) <= max_chars else head[: max_chars - 1].rsplit(" ", 1)[0] + "\u2026"
