"""The sensitive scorer's shortcuts find exactly what the plain scans they replace find.

Each reference below is the code as it stood before the shortcut (issue 15): markings by the two regexes'
`finditer` over the whole text, label starts by one str.find loop per rule, GitLab's trigger as one regex.
"""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curation.scorers.detect import secrets_patterns as sp
from curation.scorers.detect.example_rules import HitSet
from curation.scorers.detect.keyed_values import KEYED_RULES, _label_starts
from curation.scorers.detect.secret_plugins import VENDOR_RULES

_PIECES = [
    "attorney-client privileged", "Privileged & Confidential", "CONFIDENTIAL and proprietary",
    "data classification: restricted", "Classification:  secret", "contains customer identifiers",
    "Do not paste into chat", "do not share it with anyone", "DO NOT DISTRIBUTE", "INTERNAL USE ONLY",
    "passport number is 533380006", "Driver's licence no.: D1234-56789", "salary of $85,000",
    "pay band: B3", "Employee ID: E-48213", "performance review rating: 2/5", "id card", "my number card",
    "glpat-xxxxxxxxxxxxxxxxxxxx", "GR1348941abc", "global", "\u0131", "\u017f", "\u0130", "\u212a",
    "ſtaff", "prıvileged", "Prıvileged & Confidential", "clasſification:",
    " ", "\n", "_", "-", "é", "’", "1", "x",
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
    assert [(h.start, h.end) for h in sp.find_markings(text, lowered)] == _markings_reference(text), text
    memo: dict[str, list[int]] = {}
    for rule in KEYED_RULES:
        expected = _label_starts_reference(text, lowered, rule.words)
        assert _label_starts(text, lowered, rule.heads, memo) == expected, (rule.reason, text)
    gitlab = next(r for r in VENDOR_RULES if r.reason == "secret_gitlab_token")
    expected_gitlab = re.search(r"gl[a-z]{2,5}-|GR1348941", lowered if gitlab.lowered else text) is not None
    assert gitlab.may_match(text, lowered) == expected_gitlab, text


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
