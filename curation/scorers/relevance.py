"""Domain relevance: a zero-shot contrast between the domain profile and a set of off-domain profiles.

A document's head (title + first `chars` characters) is embedded once; its *margin* is its best cosine to the
domain profile (description + exemplars) minus its best cosine to the off-domain profiles (food, sports,
politics, fiction, ...), mapped linearly from [low, high] to relevance [0, 1] and clipped. Below
`off_domain_below` it is flagged `relevance_off_domain`. The details name the nearest domain exemplar
(`nearest`, read by the steward report) and the nearest off-domain profile (`nearest_off_domain`).

Why a contrast and not one cosine. MiniLM's cosines between any two English texts sit in a narrow band, so an
absolute threshold on one cosine separates badly: short IT helpdesk tickets ("VPN drops every 20 minutes")
reach best cosines of only 0.06-0.25 to the five exemplars, barely above a page of food quotations (0.05).
What separates is whether a text is *closer* to the domain than to everyday topics. Measured on
eval/relevance_set (`python -m eval.relevance_set.measure`; tuning split: Python docs, FOLDOC, changelogs vs
fortunes; held-out split: PostgreSQL docs, Linux man pages vs the Devil's Dictionary and other fortunes):

method (threshold chosen on tuning)          tuning: AUC, on flagged, off   held-out: AUC, on flagged, off
old: one cosine in [0.05, 0.45], flag < 0.25  0.975, 7.5%, 93.1%              0.939, 19.4%, 90.0%
  the same, description only (vetted.toml)   0.880, 59.4%, 96.9%             0.883, 60.0%, 98.8%
contrast margin, flag margin < -0.05         0.994, 0.6%, 93.8%              0.989, 0.6%, 95.6%
logistic regression on tuning embeddings     1.000, 0.0%, 100%               0.998, 0.0%, 98.1%

(The old rows used the old five exemplars; `measure --baseline` recomputes the single cosine on today's
exemplars. The classifier row was measured once with scikit-learn's LogisticRegression(C=1), not shipped.)

The old scorer flagged 4 of 8 synthetic helpdesk tickets with the five default exemplars and all 8 with the
description alone (what vetted.toml set); the contrast flags none (tests/curation/test_relevance.py).
The classifier is a little better on held-out data but needs a labelled set per company; the contrast needs
only the settings (a description, exemplars and off-domain profiles), so it is what the scorer runs. A softmax
over the two maxima ranks exactly as the margin does (same AUC), so the plain margin is kept. Most held-out
"off-domain" documents still passed are fortunes that are themselves about computing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from curation.feedback import StewardExemplars
from curation.models import Document, ScoreResult
from curation.scorers.base import Scorer

# texts -> L2-normalised embeddings, shape (n, dim); the pipelines pass the sentence-transformers model in
EmbedFn = Callable[[list[str]], np.ndarray]

# What a company's knowledge base does not want: everyday topics, one profile each. A document nearer one of
# these than to every domain exemplar is off-domain. Written from general knowledge, not from the relevance
# set; adding a topic the corpus really holds (say, a company that sells food) would flag its documents.
DEFAULT_OFF_DOMAIN_EXEMPLARS = (
    "Food and cooking: recipes, meals, restaurants, wine, bread, cheese and eating with family.",
    "Sports: football, baseball, tennis, the game, the team, players, coaches and the final score.",
    "Love, marriage and relationships: men and women, romance, dating, friends and family life.",
    "Politics and government: elections, politicians, laws, the president, congress and war.",
    "Fiction and literature: novels, poems, stories, characters, writers and famous quotations.",
    "Everyday life and humour: jokes, proverbs, wisdom, sayings and witty remarks about people.",
    "Health and medicine: doctors, patients, illness, the hospital and the body.",
    "Religion, philosophy and morals: God, the soul, virtue, sin and the meaning of life.",
    "Animals and pets: dogs, cats, horses, birds and farm animals.",
    "Children, school and education: teachers, students, parents and growing up.",
    "Money and business in general: the boss, salary, bankers, lawyers and the stock market.",
    "Dictionary of everyday words: definitions of common English nouns, verbs and adjectives.",
)


class RelevanceScorer(Scorer):
    name = "relevance"
    reason_prefixes = ("relevance_",)

    def __init__(
        self,
        embed: EmbedFn,
        *,
        description: str,
        exemplars: Sequence[str] = (),
        off_domain_exemplars: Sequence[str] = DEFAULT_OFF_DOMAIN_EXEMPLARS,
        low: float = -0.10,
        high: float = 0.10,
        off_domain_below: float = 0.25,
        chars: int = 1000,
        steward: StewardExemplars | None = None,
    ) -> None:
        """The profiles are embedded once, here.

        Args:
            embed: texts -> L2-normalised vectors.
            description, exemplars: the domain profile; a document's on-domain cosine is its best match.
            off_domain_exemplars: what the company does not want (everyday topics), at least one: a margin
                needs something to contrast with.
            low, high: the margin (on-domain minus off-domain cosine) mapped to relevance 0 and 1.
            off_domain_below: relevance under it is flagged `relevance_off_domain` (0.25 = margin -0.05 by
                default, chosen on the tuning split).
            chars: characters of each document embedded (MiniLM reads ~256 tokens).
            steward: documents stewards approved or threw out as off-topic (curation.feedback), added to
                the two profiles under their own names, so that a decision moves similar documents.
        """
        if high <= low:
            raise ValueError(f"relevance calibration needs high > low, got low={low} high={high}")
        if not off_domain_exemplars:
            raise ValueError(
                "relevance needs at least one off-domain exemplar to contrast with "
                "(domain.off_domain_exemplars); leave the setting out to use the defaults"
            )
        self.embed = embed
        steward = steward or StewardExemplars()
        self.steward_key = steward.key
        names = [exemplar_label(e) for e in exemplars]
        self.profile_names = ["domain description", *names, *(e.label for e in steward.on_domain)]
        self.profile = embed([description, *exemplars, *(e.text for e in steward.on_domain)])
        self.off_names = [
            *(exemplar_label(e) for e in off_domain_exemplars),
            *(e.label for e in steward.off_domain),
        ]
        self.off_profile = embed([*off_domain_exemplars, *(e.text for e in steward.off_domain)])
        self.low, self.high = low, high
        self.off_domain_below = off_domain_below
        self.chars = chars

    def score_batch(self, docs: Sequence[Document]) -> list[ScoreResult]:
        if not docs:
            return []
        vectors = self.embed([f"{d.title}\n{d.text[: self.chars]}" for d in docs])
        on = vectors @ self.profile.T
        off = vectors @ self.off_profile.T
        out = []
        for row, off_row in zip(on, off, strict=True):
            best, worst = int(np.argmax(row)), int(np.argmax(off_row))
            cos, off_cos = float(row[best]), float(off_row[worst])
            margin = cos - off_cos
            details = {
                "cosine": round(cos, 4),
                "nearest": self.profile_names[best],
                "nearest_index": best,
                "off_cosine": round(off_cos, 4),
                "nearest_off_domain": self.off_names[worst],
                "margin": round(margin, 4),
                "steward_key": self.steward_key,  # which steward decisions the profiles held
            }
            value = float(np.clip((margin - self.low) / (self.high - self.low), 0.0, 1.0))
            reasons = ["relevance_off_domain"] if value < self.off_domain_below else []
            out.append(ScoreResult(self.name, round(value, 4), reasons, details))
        return out


def exemplar_label(text: str, max_chars: int = 60) -> str:
    """A short name for an exemplar: its text up to the first colon ("Python programming: modules, ..."
    -> "Python programming"), else its first words."""
    head = text.split(":", 1)[0].strip() if ":" in text[: max_chars + 1] else text.strip()
    return head if len(head) <= max_chars else head[: max_chars - 1].rsplit(" ", 1)[0] + "\u2026"
