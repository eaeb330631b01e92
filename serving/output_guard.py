"""The output guard: every answer passes the sensitive scorer before it is returned.

    guard = OutputGuard()                 # builds the sensitive scorer's presidio engines once; reuse it
    guarded = guard.check(text)
    guarded.text      # "write to <EMAIL_1>, key <AWS_KEY_1>"  (curation.redaction's typed placeholders)
    guarded.counts    # {"pii_email": 1, "secret_aws_key": 1, "prompt_system_leak": 0 ...}: what was masked

Two things must never leave in an answer, whatever a source told the model to do (a document that says
"ignore previous instructions" is data, not an instruction): personal data or a secret (the same detector
that keeps such documents out of the safe tier, so one that slipped past curation, or one the model made up,
is masked here too), and the system prompt (a sentence that repeats eight words of it in a row is withheld).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

from curation.models import Document
from curation.redaction import redact
from curation.scorers.sensitive import SensitiveDataScorer
from pipelines.core.prompt import SYSTEM_PROMPT

SYSTEM_LEAK = "prompt_system_leak"
WITHHELD = "[withheld]"
SHINGLE_WORDS = 8  # eight words in a row of the system prompt are a copy, not a coincidence
_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(slots=True)
class Guarded:
    text: str
    counts: dict[str, int] = field(default_factory=dict)  # masked spans / withheld sentences per reason

    @property
    def masked(self) -> int:
        return sum(self.counts.values())


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}


class OutputGuard:
    def __init__(self, system_prompt: str = SYSTEM_PROMPT) -> None:
        self._prompt_shingles = _shingles(system_prompt)

    @cached_property
    def scorer(self) -> SensitiveDataScorer:
        # presidio and spaCy take seconds to load: paid on the first answer, not by every import
        return SensitiveDataScorer()

    def check(self, text: str, numbers: dict[str, dict[str, int]] | None = None) -> Guarded:
        """`text` with system-prompt copies withheld and every personal-data or secret span masked; pass one
        `numbers` dict for the sentences of one answer so that a value keeps its placeholder throughout."""
        counts: Counter[str] = Counter()
        sentences = []
        for sentence in _SENTENCE_END.split(text):
            if self._prompt_shingles & _shingles(sentence):
                counts[SYSTEM_LEAK] += 1
                sentences.append(WITHHELD)
            else:
                sentences.append(sentence)
        text = " ".join(s for s in sentences if s)
        result = self.scorer.score(Document("answer", "answer", "answer", "answer", "answer", text))
        spans = result.details.get("spans", []) if result.details else []
        kinds = {s.kind for s in spans}  # type: ignore[attr-defined]
        redacted = redact(text, spans, kinds, numbers)  # type: ignore[arg-type]
        counts.update(redacted.counts)
        return Guarded(redacted.text, dict(sorted(counts.items())))
