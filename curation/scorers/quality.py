"""Quality: length, repetition and garbage rules after Gopher (Rae et al. 2021, appendix A) and datatrove's
GopherQualityFilter, reduced to the signals that matter for retrieval text."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from curation.models import Document, ScoreResult

_WORD = re.compile(r"\w+", re.UNICODE)


class QualityScorer:
    name = "quality"

    def __init__(
        self,
        *,
        min_words: int = 20,  # shorter texts rarely answer a question on their own
        max_dup_line_share: float = 0.3,  # Gopher: duplicate-line fraction
        max_top_word_share: float = 0.2,  # one word dominating = boilerplate or keyword stuffing
        max_garbage_share: float = 0.02,  # U+FFFD and control chars: broken encoding
        min_alpha_word_share: float = 0.5,  # Gopher: 80% of words with a letter; code-heavy docs need slack
    ) -> None:
        self.min_words = min_words
        self.max_dup_line_share = max_dup_line_share
        self.max_top_word_share = max_top_word_share
        self.max_garbage_share = max_garbage_share
        self.min_alpha_word_share = min_alpha_word_share

    def score(self, doc: Document) -> ScoreResult:
        text = doc.text[:1_000_000]  # rules are statistics: a 1 MB sample decides as well as 50 MB
        words = _WORD.findall(text)
        reasons: list[str] = []
        details: dict[str, object] = {"words": len(words)}
        if len(words) < self.min_words:
            reasons.append("quality_too_short")
        garbage = sum(1 for ch in text if ch == "\ufffd" or (ord(ch) < 32 and ch not in "\n\r\t\f"))
        if garbage / max(1, len(text)) > self.max_garbage_share:
            reasons.append("quality_encoding_garbage")
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if len(lines) >= 5:
            dup_share = 1 - len(set(lines)) / len(lines)
            details["dup_line_share"] = round(dup_share, 3)
            if dup_share > self.max_dup_line_share:
                reasons.append("quality_repetitive_lines")
        if len(words) >= 50:
            top_share = Counter(w.lower() for w in words).most_common(1)[0][1] / len(words)
            if top_share > self.max_top_word_share:
                reasons.append("quality_repetitive_words")
            alpha_share = sum(1 for w in words if any(c.isalpha() for c in w)) / len(words)
            if alpha_share < self.min_alpha_word_share:
                reasons.append("quality_few_words")
        value = max(0.0, 1.0 - 0.4 * len(reasons))
        return ScoreResult(self.name, value, reasons, details)

    def score_many(self, docs: Sequence[Document]) -> list[ScoreResult]:
        return [self.score(d) for d in docs]
