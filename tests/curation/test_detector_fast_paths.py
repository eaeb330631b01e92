r"""The sensitive scorer's shortcuts find exactly what the plain scans they replace find.

Each reference below is the code as it stood before the shortcut (issue 15): markings by the two regexes'
`finditer` over the whole text, label starts by one str.find loop per rule, GitLab's trigger as one regex,
every trigger by a substring test, quality's words by `\w+` and its broken characters by a regex, presidio's
prefilter's digit runs, clusters and IBAN trigger by their regexes over the text (not its shape).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curation.scorers import quality
from curation.scorers import sensitive as sensitive_module
from curation.scorers.detect import language
from curation.scorers.detect import pii_prefilter as pf
from curation.scorers.detect import secrets_patterns as sp
from curation.scorers.detect.example_rules import HitSet
from curation.scorers.detect.keyed_values import KEYED_RULES, label_starts
from curation.scorers.detect.needles import Needles, find_by_scans
from curation.scorers.detect.pii_recognizers import build_recognizers
from curation.scorers.detect.secret_plugins import VENDOR_RULES, _judge, find_vendor_secrets

_PIECES = [
    "attorney-client privileged", "Privileged & Confidential", "CONFIDENTIAL and proprietary",
    "data classification: restricted", "Classification:  secret", "contains customer identifiers",
    "Do not paste into chat", "do not share it with anyone", "DO NOT DISTRIBUTE", "INTERNAL USE ONLY",
    "passport number is 533380006", "Driver's licence no.: D1234-56789", "salary of $85,000",
    "pay band: B3", "Employee ID: E-48213", "performance review rating: 2/5", "id card", "my number card",
    "glpat-xxxxxxxxxxxxxxxxxxxx", "GR1348941abc", "global", "\u0131", "\u017f", "\u0130", "\u212a",
    "ſtaff", "prıvileged", "Prıvileged & Confidential", "clasſification:",
    "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5", "AC7f3a9c1e5b2d8f4a6c0e9b3d7f1a5c2e",
    "AKIA", "ghp_", "xoxb-", "sk_live_", "AC", "SK", "SG.", "-us1", "AccountKey=", "-----BEGIN", "eyJ",
    "password = ", "api_key", "token", "Ã©", "\ufffd", "\x01", "\x1f", "\u212a", "Ωμέγα", "日本語", "\udcff",
    " ", "\n", "\t", "\xa0", "\u2009", "_", "-", "é", "’", "1", "²", "x",
]  # fmt: skip
_TEXTS = st.lists(st.sampled_from(_PIECES), max_size=12).map("".join)
_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _corpus_texts(corpus: Path) -> list[str]:
    files = sorted(p for p in corpus.rglob("*") if p.suffix in (".txt", ".html", ".md"))
    return [p.read_text(encoding="utf-8", errors="replace") for p in files]


def _markings_reference(text: str) -> list[tuple[int, int]]:
    kept = HitSet()
    for triggers, haystack, regex in (
        (sp._MARKING_TRIGGERS, text, sp._MARKINGS_UPPER),
        (sp._ANY_CASE_TRIGGERS, text.lower(), sp._MARKINGS_ANY_CASE),
    ):
        if any(t in haystack for t in triggers):
            for m in regex.finditer(text):
                kept.add(sp.Hit("confidential_marking", m.start(), m.end()))
    return [(h.start, h.end) for h in kept.hits]


def _label_starts_reference(text: str, lowered: str, words: tuple[str, ...]) -> list[int]:
    starts = set()
    for head in {word.split(" ")[0].split("'")[0] for word in words}:
        at = lowered.find(head)
        while at != -1:
            end = at + len(head)
            if (at == 0 or not text[at - 1].isalnum()) and (end == len(text) or not text[end].isalnum()):
                starts.add(at)
            at = lowered.find(head, end)
    return sorted(starts)


def _same(text: str) -> None:
    lowered = text.lower()
    found = sensitive_module._NEEDLES.find(lowered)
    assert found == find_by_scans(sensitive_module._NEEDLES.words, lowered), text  # the automaton = the scans
    assert [(h.start, h.end) for h in sp.find_markings(text, lowered)] == _markings_reference(text), text
    assert [(h.start, h.end) for h in sp.find_markings(text, lowered, found)] == _markings_reference(text)
    for rule in KEYED_RULES:
        expected = _label_starts_reference(text, lowered, rule.words)
        assert label_starts(text, rule.heads, found) == expected, (rule.reason, text)
    gitlab = next(r for r in VENDOR_RULES if r.reason == "secret_gitlab_token")
    expected_gitlab = re.search(r"gl[a-z]{2,5}-|GR1348941", lowered if gitlab.lowered else text) is not None
    assert gitlab.may_match(text, lowered) == expected_gitlab, text
    for rule in VENDOR_RULES:  # gated by the needle pass, each rule finds what its substring tests let find
        plain, gated, ignored = HitSet(), HitSet(), [Counter(), Counter()]
        for claimed, needles, counts in ((plain, None, ignored[0]), (gated, found, ignored[1])):
            if rule.may_match(text, lowered, needles):
                for regex in rule.regexes():
                    for m in regex.finditer(text):
                        hit = _judge(rule, m, text, counts)
                        if hit is not None:
                            claimed.add(hit)
        assert gated.hits == plain.hits and ignored[0] == ignored[1], (rule.reason, text)
    vendor = [find_vendor_secrets(text, lowered, HitSet(), Counter(), f) for f in (None, found)]
    assert vendor[0] == vendor[1], text
    for pattern in sp.SECRET_PATTERNS:
        with_needles = [m.span() for m in pattern.finditer(text, lowered, found)]
        assert with_needles == [m.span() for m in pattern.finditer(text, lowered)], (pattern.reason, text)
    encoded = lowered.encode("utf-8", "surrogatepass")
    assert quality.words_of(encoded) == quality._WORD.findall(lowered), text
    broken = len(encoded) - len(encoded.translate(None, quality._CONTROL_BYTES)) + lowered.count("\ufffd")
    assert broken == len(quality._CONTROL.findall(text)), text
    assert language._may_hold_other_letters(text) or not language._OTHER_LETTER.findall(text), text


@_SETTINGS
@given(_TEXTS)
def test_shortcuts_equal_the_plain_scans_on_random_text(text: str) -> None:
    _same(text)


def test_shortcuts_equal_the_plain_scans_on_the_corpus(test_corpus: Path) -> None:
    texts = _corpus_texts(test_corpus)
    assert len(texts) > 50
    for text in texts:
        _same(text)


def test_folded_letters_fall_back_to_the_whole_regex() -> None:
    # (?i) reads "prıvileged & confidential" as a marking, str.find in the lower-cased text would not see
    # the word; "do not " is what lets the any-case regex run at all
    text = "Prıvileged & Confidential: the board minutes, do not print"
    assert [(h.start, h.end) for h in sp.find_markings(text)] == [(0, 25)] == _markings_reference(text)


def test_the_needle_pass_falls_back_to_scans_on_a_lone_surrogate() -> None:
    needles = Needles(["id", "pass", "passnummer", "reisepassnummer"])
    text = "reisepassnummer \udcff id"  # the binding cannot encode the surrogate: the scans answer
    assert needles.find(text) == find_by_scans(needles.words, text) == {
        "reisepassnummer": [0], "passnummer": [5], "pass": [5], "id": [18]
    }  # fmt: skip
    assert Needles(["id"]).find("führerschein id") == {"id": [13]}  # character offsets, not bytes


# Digits, separators and capitals in and out of the classes the prefilter's shape stands for: Arabic-Indic
# and astral digits are \d, "²" is not; NBSP, thin space, U+001C and the ideographic space are \s; the
# Kelvin sign and dotted İ are not [A-Z]
_SHAPE_PIECES = [
    "0", "7", "42", "536-22-8346", "DE89", "3704 0044", "GB82 WEST", "(555) 123-4567", "+49", "1.2.3",
    "2024-11-21", "AB", "Q", "a", " ", "\n", "\t", "-", ".", "+", "/", "(", ")", ":", "_", "x",
    "\u0663", "\U0001d7d9", "\u00b2", "\u00a0", "\u2009", "\x1c", "\u3000", "\u212a", "\u0130", "\u017f",
    "\udcff", "\u03a9", "\u2019", "\ufffd", "\U0001f600",
]  # fmt: skip


def _clusters_reference(text: str) -> list[tuple[int, int, int, int]]:
    found = []
    for broad in pf._BROAD_RUN.finditer(text):
        for m in pf._DIGIT_CLUSTER.finditer(text, *broad.span()):
            runs = list(map(len, pf._DIGIT_RUN.findall(m.group())))
            found.append((m.start(), m.end(), sum(runs), max(runs)))
    return found


def _same_shape(text: str) -> None:
    facts = pf.TextFacts(text)
    assert len(facts.shape()) == len(text), text
    assert facts.broad_runs() == [m.span() for m in pf._BROAD_RUN.finditer(text)], text
    assert facts.clusters() == _clusters_reference(text), text
    iban = pf.pattern_regions(on_shape=(pf._IBAN_START_SHAPE,))
    assert iban(facts) == pf.pattern_regions((pf._IBAN_START, False))(pf.TextFacts(text)), text


@_SETTINGS
@given(st.lists(st.sampled_from(_SHAPE_PIECES), max_size=40).map("".join))
def test_the_shape_scans_equal_the_regexes_on_random_text(text: str) -> None:
    _same_shape(text)


def test_the_shape_scans_equal_the_regexes_on_the_corpus(test_corpus: Path) -> None:
    for text in _corpus_texts(test_corpus):
        _same_shape(text)


def test_the_shape_table_is_the_regexes_classes() -> None:
    table = pf._shape_table()
    for cp in (*range(0x300), 0x663, 0x1D7D9, 0xA0, 0x2009, 0x3000, 0x212A, 0x130, 0xDCFF, 0x10FFFF):
        c = chr(cp)
        expected = next((shape for pattern, shape in pf._SHAPE_CLASSES if re.fullmatch(pattern, c)), "_")
        assert chr(table[cp]) == expected, hex(cp)


_ID_PIECES = [
    *_SHAPE_PIECES, "536-22-8346", "912-70-1234", "AB 12 34 56 C", "QQ123456C", "12345678Z", "X1234567L",
    "S1234567D", "131052-308T", "811228-9874", "900101-1234567", "44051401359", "046 454 286", "123 456 782",
    "2123 45670 1", "4111 1111 1111 1111", "5500005555555559", "192.168.0.1", "fe80::1", "2001:db8::ff00:42",
]  # fmt: skip
_PLAIN_RECOGNIZERS = [
    r for r in build_recognizers() if pf.Prefiltered(r, None).plain
]  # built once: presidio's recognizers cost ~0.3 s


@_SETTINGS
@given(st.lists(st.sampled_from(_ID_PIECES), max_size=12).map(" ".join))
def test_a_region_no_pattern_matches_is_one_presidio_finds_nothing_in(text: str) -> None:
    for recognizer in _PLAIN_RECOGNIZERS:
        found = recognizer.analyze(text, recognizer.supported_entities)  # compiles its patterns too
        assert pf.may_match(recognizer, text) or found == [], (type(recognizer).__name__, text)


def test_only_presidios_own_analyze_is_skipped() -> None:
    names = {type(r).__name__ for r in build_recognizers()} - {type(r).__name__ for r in _PLAIN_RECOGNIZERS}
    assert names == {"OfflineEmailRecognizer", "ShapedPhoneRecognizer", "IbanRecognizer"}
    ssn = next(r for r in _PLAIN_RECOGNIZERS if type(r).__name__ == "UsSsnRecognizer")
    ssn.analyze("536-22-8346", ssn.supported_entities)
    assert pf.may_match(ssn, "SSN 536-22-8346") and not pf.may_match(ssn, "Released 2024-11-21")
