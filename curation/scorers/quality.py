"""Quality: length, repetition and garbage rules after Gopher (Rae et al. 2021, appendix A) and datatrove's
GopherQualityFilter, reduced to the signals that matter for retrieval text, plus language, mojibake and
boilerplate (C4's line filters, Raffel et al. 2020: cookie and terms-of-use lines, "lorem ipsum").

Reasons: `quality_too_short`, `quality_encoding_garbage` (U+FFFD and control characters, or UTF-8 read as
cp1252/Latin-1: "Ã©", "â€™"), `quality_repetitive_lines`, `quality_repetitive_words`, `quality_few_words`,
`quality_non_english`, `quality_boilerplate`. Every rule is a regex or set pass over the text, so the scorer
runs at thousands of 2 KB documents per second (eval/bench/scorers_2kb.py).
"""

from __future__ import annotations

import re
from collections import Counter

from curation.models import Document, ScoreResult
from curation.scorers.base import Scorer
from curation.scorers.detect.language import LanguageGuess, guess_language

SAMPLE_CHARS = 1_000_000  # rules are statistics: a 1 MB sample decides as well as 50 MB

_WORD = re.compile(r"\w+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\ufffd]")  # \t \n \f \r are layout, the rest is breakage
_CONTROL_BYTES = bytes([*range(0x09), 0x0B, *range(0x0E, 0x20)])  # _CONTROL's ASCII part, as UTF-8 bytes
# \w+ tokens without a regex step per character (~50 us a 2 KB page): in the UTF-8 bytes every ASCII
# character that is not [A-Za-z0-9_] becomes a space (bytes.translate, C speed), then str.split() cuts the
# runs. Every character split() cuts at is white space, which \w never matches; what is left to fix is the
# few pieces holding a non-ASCII character (é is \w, ’ is not), each cut by the regex itself.
_NON_WORD_TO_SPACE = bytes(
    b if b >= 0x80 or chr(b).isalnum() or b == ord("_") else ord(" ") for b in range(256)
)
# UTF-8 read as cp1252 or Latin-1: a lead byte (Â Ã Ä Å = C2-C5) before a continuation byte (80-BF, shown as
# a C1 control, a Latin-1 sign or cp1252's punctuation), or "â€" (E2 80: the curly quotes and dashes).
_CP1252_80_9F = "\u20ac\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u017d\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u017e\u0178"  # noqa: E501
_MOJIBAKE = re.compile(f"[\u00c2-\u00c5][\u0080-\u00bf{_CP1252_80_9F}]|\u00e2\u20ac|\u00e2\u0080")
# Web-page chrome (C4's line filters, narrowed): phrases that are never the content of an IT document.
# Not "javascript", "cookie" or "subscribe": those are topics here (http.cookies, logical replication).
# Each phrase is counted only when its first word is among the document's words (a dict lookup, not a scan).
BOILERPLATE_PHRASES = (
    "lorem ipsum", "all rights reserved", "cookie policy", "cookie settings", "accept cookies",
    "uses cookies", "privacy policy", "privacy notice", "terms of use", "terms of service",
    "terms and conditions", "click here", "unsubscribe", "enable javascript", "skip to content",
    "back to top", "follow us on", "powered by", "newsletter",
)  # fmt: skip
_PHRASES_BY_WORD: dict[str, tuple[str, ...]] = {}
for _phrase in BOILERPLATE_PHRASES:
    _first = _phrase.split()[0]
    _PHRASES_BY_WORD[_first] = (*_PHRASES_BY_WORD.get(_first, ()), _phrase)
_MOJIBAKE_LEADS = ("\u00c2", "\u00c3", "\u00c4", "\u00c5", "\u00e2")


class QualityScorer(Scorer):
    name = "quality"
    reason_prefixes = ("quality_",)

    def __init__(
        self,
        *,
        min_words: int = 20,  # shorter texts rarely answer a question on their own
        max_dup_line_share: float = 0.3,  # Gopher: duplicate-line fraction
        max_top_word_share: float = 0.2,  # one word dominating = boilerplate or keyword stuffing
        max_garbage_share: float = 0.02,  # U+FFFD and control chars: broken encoding
        min_mojibake: int = 3,  # "Ã©" sequences that make a text mis-decoded; one may be quoted on purpose
        min_alpha_word_share: float = 0.5,  # Gopher: 80% of words with a letter; code-heavy docs need slack
        max_boilerplate_share: float = 0.3,  # boilerplate phrases per line; C4 drops such lines one by one
    ) -> None:
        self.min_words = min_words
        self.max_dup_line_share = max_dup_line_share
        self.max_top_word_share = max_top_word_share
        self.max_garbage_share = max_garbage_share
        self.min_mojibake = min_mojibake
        self.min_alpha_word_share = min_alpha_word_share
        self.max_boilerplate_share = max_boilerplate_share

    def score(self, doc: Document) -> ScoreResult:
        text = doc.text[:SAMPLE_CHARS]
        lowered = text.lower()
        encoded = lowered.encode("utf-8", "surrogatepass")  # a lone surrogate (a surrogateescape read) too
        words = words_of(encoded)
        reasons: list[str] = []
        details: dict[str, object] = {"words": len(words)}
        if len(words) < self.min_words:
            reasons.append("quality_too_short")
        if self._garbled(text, lowered, encoded, details):
            reasons.append("quality_encoding_garbage")
        lines = list(filter(None, map(str.strip, text.splitlines())))
        if len(lines) >= 5:
            dup_share = 1 - len(set(lines)) / len(lines)
            details["dup_line_share"] = round(dup_share, 3)
            if dup_share > self.max_dup_line_share:
                reasons.append("quality_repetitive_lines")
        counts = Counter(words)
        # tokens with a letter (Gopher's "alphabetic words"); digit-only ones are numbers, ids, dates
        n_alpha = len(words) - sum(map(counts.__getitem__, filter(str.isdigit, counts)))
        if len(words) >= 50:
            top_share = max(counts.values()) / len(words)
            if top_share > self.max_top_word_share:
                reasons.append("quality_repetitive_words")
            if n_alpha / len(words) < self.min_alpha_word_share:
                reasons.append("quality_few_words")
        language = guess_language(text, counts, n_alpha)
        if language.code not in ("en", "und"):
            reasons.append("quality_non_english")
            details |= _language_details(language)
        if self._boilerplate(lowered, counts, lines, details):
            reasons.append("quality_boilerplate")
        value = max(0.0, 1.0 - 0.4 * len(reasons))
        return ScoreResult(self.name, value, reasons, details)

    def _garbled(self, text: str, lowered: str, encoded: bytes, details: dict[str, object]) -> bool:
        # _CONTROL's matches, counted without a regex: lower() maps no character to or from a control
        # character or U+FFFD, and in UTF-8 an ASCII byte is always that character
        broken = len(encoded) - len(encoded.translate(None, _CONTROL_BYTES)) + lowered.count("\ufffd")
        # pure ASCII text cannot hold mojibake (its lead bytes read as Â Ã Ä Å â); one C-speed check skips it
        suspect = not text.isascii() and any(map(text.__contains__, _MOJIBAKE_LEADS))
        mojibake = len(_MOJIBAKE.findall(text)) if suspect else 0
        if mojibake:
            details["mojibake"] = mojibake
        return broken / max(1, len(text)) > self.max_garbage_share or mojibake >= self.min_mojibake

    def _boilerplate(
        self, lowered: str, counts: Counter[str], lines: list[str], details: dict[str, object]
    ) -> bool:
        phrases = [p for word in counts.keys() & _PHRASES_BY_WORD.keys() for p in _PHRASES_BY_WORD[word]]
        hits = sum(map(lowered.count, phrases))
        if not hits:
            return False
        details["boilerplate_hits"] = hits
        per_line = hits / max(1, len(lines))
        return "lorem ipsum" in lowered or (hits >= 3 and per_line > self.max_boilerplate_share)


def words_of(encoded: bytes) -> list[str]:
    """`_WORD.findall` of the text whose UTF-8 (surrogatepass) bytes are `encoded`, in order."""
    pieces = encoded.translate(_NON_WORD_TO_SPACE).decode("utf-8", "surrogatepass").split()
    if encoded.isascii():
        return pieces
    ascii_piece = list(map(str.isascii, pieces))
    if all(ascii_piece):
        return pieces
    words: list[str] = []
    at = 0
    while True:  # a C-speed search for each piece to cut, not a Python step per piece
        try:
            bad = ascii_piece.index(False, at)
        except ValueError:
            return words + pieces[at:]
        words += pieces[at:bad]
        words += _WORD.findall(pieces[bad])
        at = bad + 1


def _language_details(language: LanguageGuess) -> dict[str, object]:
    return {"language": language.code, "language_evidence": language.evidence}
