"""Pass 1 of the presidio scan, run only where a recognizer could match: same results, a tenth of the time.

presidio runs every pattern of every recognizer over the whole text, so a 2 KB page of prose paid ~1.3 ms for
fifteen national-ID, card and IP patterns that cannot match text without long digit runs. Each recognizer
here gets only the regions of the text that hold what its patterns cannot do without:
- digit-based IDs and cards: at least NEEDS[entity] digits joined by single separators ("536-22-8346",
  "AB 12 34 56 C"; none of their patterns allows more than one character between two digits),
- IBANs: two capitals and two digits ("DE89", the country code and check digits every IBAN opens with),
- IP addresses: a dotted quad of digits, or two colons at most four hex digits apart (every IPv6 form has
  them),
- phone numbers: a run of 7+ digits with up to three of " ().-/" between, padded by the context words'
  reach (the recognizer then parses each digit cluster in it with phonenumbers),
- the e-mail recognizer windows itself around each "@": it gets the text.
A region is the trigger plus REGION_PAD characters each side, so \\b and look-behinds see the real
neighbours; a result that reaches into a region's cut edge could be an artefact of the cut, so the
recognizer then reruns on the whole text. tests/curation/test_pii_prefilter.py checks that the
results equal presidio's own AnalyzerEngine on the labelled set, the corpus and random text.

The engine's other steps for pass 1 are kept: results under the score floor are dropped and
`EntityRecognizer.remove_duplicates` merges contained spans, as `AnalyzerEngine.analyze` does.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np
from presidio_analyzer import EntityRecognizer, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.pattern_recognizer import REGEX_TIMEOUT_SECONDS

from curation.scorers.detect.pii_recognizers import CONTEXT_CHARS

REGION_PAD = 64  # longer than any non-digit stretch of a match (IPv6 with zone: ~50) plus a \b's neighbour
EDGE = 8  # results this close to a cut edge trigger the whole-text rerun
# Past this many regions one whole-text call is cheaper than many small ones (a log full of addresses):
# each call costs presidio ~20 us before it matches anything.
MAX_REGIONS = 16

# What a match of each entity cannot do without, from its patterns: (fewest digits in all, longest run of
# consecutive digits). SSN ddd-dd-dddd = (9, 4); NIF [0-9]?[0-9]{7}[A-Z] = (7, 7); Korean RRN 6(-)7 = (13, 7);
# cards: presidio's 4+3+3+3 = (13, 4), the added 12-19 unbroken digits (12, 12), so (12, 4). The run length
# keeps dates ("2024-11-21": 8 digits, run 4) away from the 7-digit IDs, which would otherwise run on every
# changelog and release note.
NEEDS = {
    "CREDIT_CARD": (12, 4), "US_SSN": (9, 4), "US_ITIN": (9, 4), "UK_NHS": (10, 4), "UK_NINO": (6, 2),
    "ES_NIF": (7, 7), "ES_NIE": (7, 7), "SG_NRIC_FIN": (7, 7), "FI_PERSONAL_IDENTITY_CODE": (9, 6),
    "SE_PERSONNUMMER": (10, 6), "KR_RRN": (13, 7), "PL_PESEL": (11, 11), "CA_SIN": (9, 3), "AU_TFN": (9, 3),
    "AU_MEDICARE": (10, 5),
}  # fmt: skip
CLUSTER_MIN_DIGITS = min(digits for digits, _ in NEEDS.values())
# Digits joined by single separators that those patterns allow between digits (white space, - . + and the
# Finnish century letters), at least CLUSTER_MIN_DIGITS of them; \d as presidio's \d (any Nd). Greedy from a
# cluster's first digit, so each match is one whole cluster; shorter runs are never built.
_DIGIT_CLUSTER = re.compile(rf"\d(?:[\s.+\-A-Z]?\d){{{CLUSTER_MIN_DIGITS - 1},}}")
_DIGIT_RUN = re.compile(r"\d+")
# Broad runs hold every cluster above and every digit run the phone recognizer parses (7+ digits, up to three
# of " ().-/" between): one scan of the text for both, then the narrow patterns run inside the broad runs.
_BROAD_RUN = re.compile(rf"\d(?:[\s().+\-/A-Z]{{0,3}}\d){{{CLUSTER_MIN_DIGITS - 1},}}")
PHONE_LEAD = CONTEXT_CHARS + 8  # the phone recognizer looks this far back for "phone", "tel", "fax"
PHONE_TAIL = 40  # an extension after the digits: " ext. 123456"
# Triggers open with a literal where they can: `re` then skips ahead by that character instead of trying the
# pattern at every position (":" and "." cost ~1 us per 2 KB, a leading \d ~20 us).
_IBAN_START = re.compile(r"[A-Z][A-Z]\d\d")  # the country code and check digits: DE89
_IPV4_TRIGGER = re.compile(r"\.\d{1,3}\.\d{1,3}\.\d")  # a dotted quad after its first number (checked below)
_IPV6_TRIGGER = re.compile(r":[0-9A-Fa-f]{0,4}:")  # an alternation would lose the literal skip: two regexes

# The digit-run and IBAN regexes above open with a character class, so `re` tries them at every position
# (~17 us per 2 KB each). They run instead over the text's shape: one byte per character naming the class
# those regexes test it by (\d -> "0", \s -> " ", [A-Z] -> "A", each of ( ) . + - / itself, the rest "_").
# A regex whose classes are unions of shape classes matches the shape exactly where it matches the text
# (same spans, same greed), and over the shape it opens with the literal "0" or "A", which `re` skips ahead
# to. Building the shape is one table lookup per character in numpy (~5 us per 2 KB).
# The regexes above stay the definition; tests/curation/test_detector_fast_paths.py checks these against them.
_SHAPE_CLASSES = ((r"\d", "0"), (r"\s", " "), (r"[A-Z]", "A"), *((re.escape(c), c) for c in "().+-/"))
_BROAD_RUN_SHAPE = re.compile(rb"0(?:[ ().+\-/A]{0,3}0){%d,}" % (CLUSTER_MIN_DIGITS - 1))  # _BROAD_RUN
_DIGIT_CLUSTER_SHAPE = re.compile(rb"0(?:[ .+\-A]?0){%d,}" % (CLUSTER_MIN_DIGITS - 1))  # _DIGIT_CLUSTER
_DIGIT_RUN_SHAPE = re.compile(rb"0+")  # _DIGIT_RUN
_IBAN_START_SHAPE = re.compile(rb"AA00")  # _IBAN_START


@cache
def _shape_table() -> np.ndarray:
    """Every code point's shape byte, found by the classes' own regexes over all of Unicode (once, ~50 ms)."""
    table = np.full(sys.maxunicode + 1, ord("_"), dtype=np.uint8)
    for lo, hi in ((0, 0xD800), (0xD800, 0xE000), (0xE000, sys.maxunicode + 1)):  # lone surrogates too
        chars = np.arange(lo, hi, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")
        for pattern, shape in _SHAPE_CLASSES:
            table[[lo + m.start() for m in re.finditer(pattern, chars)]] = ord(shape)
    return table


def shape_of(text: str) -> bytes:
    """The text's shape: one byte per character (code point), its class in the prefilter's regexes."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    return np.take(_shape_table(), codes).tobytes()


Region = tuple[int, int]


class TextFacts:
    """What the region finders share for one text, computed once: its broad digit runs and clusters."""

    __slots__ = ("_broad", "_clusters", "_longest", "_most", "_shape", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._shape: bytes | None = None
        self._broad: list[Region] | None = None
        self._clusters: list[tuple[int, int, int, int]] | None = None
        self._most = self._longest = 0  # the most digits in one cluster, the longest run in any

    def shape(self) -> bytes:
        if self._shape is None:
            self._shape = shape_of(self.text)
        return self._shape

    def broad_runs(self) -> list[Region]:
        if self._broad is None:
            self._broad = [m.span() for m in _BROAD_RUN_SHAPE.finditer(self.shape())]
        return self._broad

    def most_digits(self) -> int:
        self.clusters()
        return self._most

    def longest_run(self) -> int:
        self.clusters()
        return self._longest

    def clusters(self) -> list[tuple[int, int, int, int]]:
        """(start, end, digits, longest run) of every cluster of at least CLUSTER_MIN_DIGITS digits."""
        if self._clusters is None:
            self._clusters = []
            shape = self.shape()
            for lo, hi in self.broad_runs():  # every cluster lies inside one broad run
                for m in _DIGIT_CLUSTER_SHAPE.finditer(shape, lo, hi):
                    runs = list(map(len, _DIGIT_RUN_SHAPE.findall(m.group())))
                    self._clusters.append((m.start(), m.end(), sum(runs), max(runs)))
                    self._most, self._longest = max(self._most, sum(runs)), max(self._longest, max(runs))
        return self._clusters


RegionFinder = Callable[[TextFacts], list[Region]]  # merged, padded regions in text order


def digit_regions(min_digits: int, min_run: int) -> RegionFinder:
    def find(facts: TextFacts) -> list[Region]:
        if facts.most_digits() < min_digits or facts.longest_run() < min_run:
            return []  # most texts: no cluster, or only dates and versions, too short for this entity
        spans = [(s, e) for s, e, n, run in facts.clusters() if n >= min_digits and run >= min_run]
        return _merged(spans, len(facts.text))

    return find


def phone_regions(facts: TextFacts) -> list[Region]:
    """Broad digit runs with the room the phone recognizer reads around them (context words, extensions)."""
    return _merged(facts.broad_runs(), len(facts.text), PHONE_LEAD, PHONE_TAIL)


def pattern_regions(
    *triggers: tuple[re.Pattern[str], bool], on_shape: tuple[re.Pattern[bytes], ...] = ()
) -> RegionFinder:
    """Regions around each trigger match; with digit_before, only matches right after a digit. Triggers
    `on_shape` run over the text's shape."""

    def find(facts: TextFacts) -> list[Region]:
        text = facts.text
        spans = [
            m.span()
            for trigger, digit_before in triggers
            for m in trigger.finditer(text)
            if not digit_before or (m.start() > 0 and text[m.start() - 1].isdigit())
        ]
        spans += [m.span() for trigger in on_shape for m in trigger.finditer(facts.shape())]
        return _merged(sorted(spans), len(text)) if spans else []

    return find


def _merged(spans: list[Region], n: int, lead: int = REGION_PAD, tail: int = REGION_PAD) -> list[Region]:
    out: list[Region] = []
    for start, end in spans:
        lo, hi = max(0, start - lead), min(n, end + tail)
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


@dataclass(slots=True)
class Prefiltered:
    recognizer: EntityRecognizer
    regions: RegionFinder | None  # None: the recognizer gets the whole text (it windows itself)
    # a PatternRecognizer with presidio's own analyze: a region none of its patterns matches is skipped
    plain: bool = field(init=False)

    def __post_init__(self) -> None:
        self.plain = (
            isinstance(self.recognizer, PatternRecognizer)
            and type(self.recognizer).analyze is PatternRecognizer.analyze
        )

    def analyze(
        self, facts: TextFacts, entities: list[str], artifacts: NlpArtifacts
    ) -> list[RecognizerResult]:
        text = facts.text
        if self.regions is None:
            return self.recognizer.analyze(text, entities, artifacts)
        regions = self.regions(facts)
        if not regions:
            return []
        if len(regions) > MAX_REGIONS:
            return self.recognizer.analyze(text, entities, artifacts)
        found = []
        for lo, hi in regions:
            piece = text[lo:hi]
            if self.plain and not may_match(self.recognizer, piece):  # type: ignore[arg-type]
                continue
            for r in self.recognizer.analyze(piece, entities, artifacts):
                if (lo > 0 and r.start < EDGE) or (hi < len(text) and r.end > hi - lo - EDGE):
                    return self.recognizer.analyze(text, entities, artifacts)  # the cut may have made it
                r.start, r.end = r.start + lo, r.end + lo
                found.append(r)
        return found


def may_match(recognizer: PatternRecognizer, text: str) -> bool:
    """False only where presidio's `PatternRecognizer.analyze` would find nothing: none of the patterns
    matches. That analyze times, logs and wraps every pattern (~3 us a region, ~30 us a 2 KB page, two
    thirds of pass 1's national-ID time) though most digit clusters are no ID; one `search` with the
    pattern's own compiled regex answers first. A pattern presidio has not compiled with these flags yet
    is left to presidio (True); so are recognizers with an analyze of their own (`Prefiltered.plain`)."""
    # has-type: with numpy imported here mypy loses presidio's un-annotated `self.patterns` (a list[Pattern])
    for pattern in recognizer.patterns:  # type: ignore[has-type]
        if pattern.compiled_regex is None or pattern.compiled_with_flags != recognizer.global_regex_flags:
            return True  # analyze compiles it (the first call); it then runs as presidio runs it
        try:
            if pattern.compiled_regex.search(text, timeout=REGEX_TIMEOUT_SECONDS) is not None:
                return True
        except TimeoutError:
            return True  # presidio logs and skips the pattern: let it
    return False


def prefilter(recognizer: EntityRecognizer) -> Prefiltered:
    entity = recognizer.supported_entities[0]
    if entity in NEEDS:
        return Prefiltered(recognizer, digit_regions(*NEEDS[entity]))
    if entity == "IBAN_CODE":
        return Prefiltered(recognizer, pattern_regions(on_shape=(_IBAN_START_SHAPE,)))
    if entity == "IP_ADDRESS":
        return Prefiltered(recognizer, pattern_regions((_IPV4_TRIGGER, True), (_IPV6_TRIGGER, False)))
    if entity == "PHONE_NUMBER":
        return Prefiltered(recognizer, phone_regions)
    return Prefiltered(recognizer, None)


class PrefilteredAnalyzer:
    """presidio's pass-1 analysis (no NLP, no context) over each recognizer's regions only."""

    def __init__(self, recognizers: list[EntityRecognizer], entities: list[str]) -> None:
        _shape_table()  # built now, with the scorer (and before a pool forks), not in a document's time
        self._runs = [prefilter(r) for r in recognizers]
        self._entities = entities
        # what presidio's NoOpNlpEngine hands recognizers: no tokens (typed as a spaCy Doc), no lemmas
        self._artifacts = NlpArtifacts(
            entities=[],
            tokens=[],  # type: ignore[arg-type]
            tokens_indices=[],
            lemmas=[],
            nlp_engine=None,
            language="en",
        )

    def analyze(self, text: str, score_threshold: float) -> list[RecognizerResult]:
        facts = TextFacts(text)
        results = []
        for run in self._runs:
            results += [
                r for r in run.analyze(facts, self._entities, self._artifacts) if r.score >= score_threshold
            ]
        return EntityRecognizer.remove_duplicates(results)
