"""Personal data through presidio-analyzer's pattern recognizers, with no spaCy model to download.

Two passes, so long documents are scanned whole and still fast:
1. Every recognizer runs over the text in windows of `window_chars` with no NLP at all, and within a window
   only over the regions its patterns could match (pii_prefilter: digit runs for IDs and cards, "DE89"
   for IBANs). A hit that already reaches `min_score` (a validated e-mail, a Luhn-checked card, an IBAN
   with a good checksum) is kept as is.
2. A hit that can only pass with a context word ("phone", "nhs", "ssn" in the five words before it) is
   re-analysed in a small snippet around it with presidio's lemma context enhancer over `spacy.blank("en")`.
spaCy tokenises ~1 MB/s and presidio's context lookup walks every token per hit, so tokenising whole 50 MB
documents would take minutes; the snippets hold a few hundred characters per borderline hit.
Windows also bound what presidio itself cannot take whole: phonenumbers stops after 65,535 candidates per
call, and a regex that runs past presidio's 60 s timeout is skipped with only a log line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import spacy
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from spacy.tokens import Doc

from curation.scorers.detect.example_rules import (
    Hit,
    card_ignore_reason,
    email_ignore_reason,
    ip_ignore_reason,
    number_embedded,
    preceding,
)
from curation.scorers.detect.pii_prefilter import PrefilteredAnalyzer
from curation.scorers.detect.pii_recognizers import (
    CONTEXT_CHARS,
    CONTEXT_REQUIRED,
    ENTITY_REASONS,
    LANGUAGE,
    build_recognizers,
    phone_shaped,
)

CONTEXT_BOOST = 0.35  # presidio's context_similarity_factor: what one context word adds to a score
WINDOW_LEAD_CHARS = 64  # text before a window so \b and look-behinds see the real preceding characters
WINDOW_OVERLAP_CHARS = 512  # longer than any entity (an e-mail is at most 320 chars) so none is cut
MAX_SNIPPET_CHARS = 20_000  # merged pass-2 snippets stay far below spaCy's 1,000,000-char limit


@dataclass(slots=True, frozen=True)
class _Candidate:
    entity: str
    start: int
    end: int
    score: float


class BlankSpacyNlpEngine(SpacyNlpEngine):
    """presidio's spaCy engine over `spacy.blank("en")`: a tokenizer, no model download.

    A blank pipeline has no lemmatizer, so lemmas are the lower-cased tokens; presidio's context enhancer
    compares lemmas with its context words and would otherwise never find one.
    """

    def __init__(self) -> None:
        super().__init__(models=[{"lang_code": LANGUAGE, "model_name": "blank"}])

    def load(self) -> None:
        self.nlp = {LANGUAGE: spacy.blank(LANGUAGE)}  # type: ignore[assignment]  # presidio types it None

    def is_stopword(self, word: str, language: str) -> bool:
        # presidio drops stop words before matching context words, and spaCy's list holds "call": the
        # context lists are ours and hold no filler, so nothing needs dropping
        return False

    def _doc_to_nlp_artifact(self, doc: Doc, language: str) -> NlpArtifacts:
        return NlpArtifacts(
            entities=[],
            tokens=doc,
            tokens_indices=[token.idx for token in doc],
            lemmas=[token.lower_ for token in doc],
            nlp_engine=self,
            language=language,
        )


class PresidioScanner:
    """Pass 1 (prefiltered recognizers) and the context engine over one set of recognizers: build once
    (~0.3 s), share across documents."""

    def __init__(
        self,
        *,
        min_score: float,
        window_chars: int,
        extra_email_domains: frozenset[str] = frozenset(),
        allowed_emails: frozenset[str] = frozenset(),
    ) -> None:
        recognizers = build_recognizers()
        registry = RecognizerRegistry(recognizers=recognizers, supported_languages=[LANGUAGE])
        self.min_score = min_score
        self.window_chars = window_chars
        self.extra_email_domains = extra_email_domains
        self.allowed_emails = allowed_emails
        self._entities = sorted(ENTITY_REASONS)
        self._fast = PrefilteredAnalyzer(recognizers, self._entities)
        self._with_context = AnalyzerEngine(
            registry=registry,
            nlp_engine=BlankSpacyNlpEngine(),
            # whole words: presidio's default substring mode hears "cell" in "cancellation"
            context_aware_enhancer=LemmaContextAwareEnhancer(
                context_similarity_factor=CONTEXT_BOOST, context_matching_mode="whole_word"
            ),
            supported_languages=[LANGUAGE],
        )

    def scan(self, text: str, ignored: Counter[str]) -> list[Hit]:
        """Personal data in `text`; matches the allow-list rules drop are counted in `ignored`."""
        candidates = list(self._candidates(text))
        sure = [c for c in candidates if c.score >= self.min_score and c.entity not in CONTEXT_REQUIRED]
        borderline = [c for c in candidates if c.score < self.min_score or c.entity in CONTEXT_REQUIRED]
        hits = []
        for c in sure + self._confirm_with_context(text, borderline):
            why = self._ignore_reason(text, c)
            if why is None:
                hits.append(Hit(ENTITY_REASONS[c.entity], c.start, c.end, round(c.score, 2)))
            else:
                ignored[why] += 1
        return hits

    def _candidates(self, text: str) -> Iterator[_Candidate]:
        floor = max(0.01, self.min_score - CONTEXT_BOOST)  # below this not even a context word can help
        for core in range(0, len(text), self.window_chars):
            lo = max(0, core - WINDOW_LEAD_CHARS)
            chunk = text[lo : core + self.window_chars + WINDOW_OVERLAP_CHARS]
            for r in self._fast.analyze(chunk, score_threshold=floor):
                # each match belongs to the one window whose core holds its start, so none is counted twice
                if core <= lo + r.start < core + self.window_chars:
                    yield _Candidate(r.entity_type, lo + r.start, lo + r.end, r.score)

    def _confirm_with_context(self, text: str, borderline: list[_Candidate]) -> list[_Candidate]:
        confirmed = []
        for lo, hi, group in _snippets(sorted(borderline, key=lambda c: c.start), len(text)):
            wanted = {(c.entity, c.start, c.end) for c in group}
            results = self._with_context.analyze(
                text[lo:hi],
                LANGUAGE,
                entities=sorted({c.entity for c in group}),
                score_threshold=self.min_score,
                return_decision_process=True,
            )
            for r in results:
                key = (r.entity_type, lo + r.start, lo + r.end)
                context_word = getattr(r.analysis_explanation, "supportive_context_word", "")
                if key in wanted and (r.entity_type not in CONTEXT_REQUIRED or context_word):
                    confirmed.append(_Candidate(*key, r.score))
        return confirmed

    def _ignore_reason(self, text: str, c: _Candidate) -> str | None:
        value = text[c.start : c.end]
        if c.entity == "EMAIL_ADDRESS":
            return email_ignore_reason(
                value, preceding(text, c.start), self.extra_email_domains, self.allowed_emails
            )
        if c.entity == "IP_ADDRESS":
            return ip_ignore_reason(value, preceding(text, c.start), text[c.end : c.end + 2])
        glued = c.start > 0 and text[c.start - 1].isalnum()
        if c.entity == "PHONE_NUMBER" and value.startswith("+") and glued:
            return "number_embedded"  # "kmod (30+20221128-1)": a Debian version with a date, not +2 022...
        if number_embedded(text, c.start, c.end) and not (c.entity == "PHONE_NUMBER" and phone_shaped(value)):
            return "number_embedded"
        return card_ignore_reason(value) if c.entity == "CREDIT_CARD" else None


def _snippets(borderline: list[_Candidate], n: int) -> Iterator[tuple[int, int, list[_Candidate]]]:
    """Merge the context windows of sorted borderline hits into snippets of at most MAX_SNIPPET_CHARS."""
    group: list[_Candidate] = []
    lo = hi = 0
    for c in borderline:
        c_lo, c_hi = max(0, c.start - CONTEXT_CHARS), min(n, c.end + 16)
        if group and c_lo <= hi and c_hi - lo <= MAX_SNIPPET_CHARS:
            hi = max(hi, c_hi)
            group.append(c)
            continue
        if group:
            yield lo, hi, group
        lo, hi, group = c_lo, c_hi, [c]
    if group:
        yield lo, hi, group
