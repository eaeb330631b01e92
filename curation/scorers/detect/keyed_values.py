"""Values that only their label makes sensitive: identity-document numbers and HR / compensation records.

A passport number (533380006, X1234567), a driving licence (MORGA753116SM9IJ) or a German ID card
(L01X00T47) has no checksum presidio could test and looks like any order or build number; presidio's own
passport and licence recognizers accept any 8-12 digits and lean on context to be right. What makes it
personal data is the words before it, so here a match is the label followed closely by the value:
"passport number is 533380006", "Driver's licence no.: D1234-56789", "Reisepass-Nr. C01X00T47".
Likewise an amount is a salary only after "salary" or "base pay", a grade is a pay band only after "pay
band", and "performance review" is an HR record only with the rating it gives.

Labels are matched case-insensitively as whole words; every pattern opens with a literal word, found in the
lower-cased text first (detect.needles: one pass for every head word), and the `re` match is tried only where
a label occurs. Reasons:
- pii_identity_document (passport, driving licence, ID card / national identity number): unsafe;
- confidential_hr_record (salary or pay, pay band / grade, employee number, performance rating): review.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from curation.scorers.detect.example_rules import Hit, HitSet
from curation.scorers.detect.needles import Found, Needles

_GAP = (
    r"[,-]?[ \t]{0,3}(?:\(?(?:no|nr|num|number|#|id|code)\)?\.?[ \t]{0,3})?(?:[:=#]|is|was|reads)?[ \t]{0,3}"
    r"(?:\([ \t]?)?"  # "copy of the licence (D1234-567)"
)
# A document number: 6-20 letters and digits, one a digit at least (a German licence: W8XRZQLHHUN),
# optionally grouped by - or space. After its label, a word in capitals with no digit is no number.
_DOC_NUMBER = (
    r"(?P<value>(?=[A-Z0-9][A-Z0-9 -]{4,}[A-Z0-9])(?=[A-Z0-9 -]{0,20}\d)"
    r"[A-Z0-9]{1,9}(?:[ -]?[A-Z0-9]{2,9}){0,3})(?![A-Za-z0-9])"
)
_CURRENCY = r"(?:[$€£¥₹]|(?:USD|EUR|GBP|CHF|INR|JPY|AUD|CAD)[ \t]?)"
_AMOUNT = (
    # thousands grouped by , . space or the Swiss ' (CHF 84'000)
    rf"(?P<value>{_CURRENCY}[ \t]?\d{{1,3}}(?:[,. '’]\d{{3}})*(?:[.,]\d\d)?(?:[ \t]?[kK]\b)?"
    r"|\d{1,3}(?:[,. '’]\d{3})+(?:[.,]\d\d)?[ \t]?(?:USD|EUR|GBP|CHF|INR|JPY|AUD|CAD|euros?|dollars|pounds)\b"
    r"|\d{2,3}[ \t]?[kK](?:[ \t]?(?:USD|EUR|GBP|euros?|dollars|pounds|a year|per year|p\.?a\.?))?\b"
    r"|\d{1,3}(?:[,. ]\d{3})+\b(?![.,]\d))"  # grouped thousands after the label: "salary 85,000"
)


@dataclass(slots=True, frozen=True)
class KeyedRule:
    reason: str
    words: tuple[str, ...]  # lower case; every match starts with one of them (the anchors)
    regex: re.Pattern[str]
    heads: tuple[str, ...]  # the words' first words, the needles looked for ("driver's" also as "drivers")


def _rule(reason: str, words: tuple[str, ...], value: str, gap: str = _GAP) -> KeyedRule:
    label = "|".join(re.escape(w).replace(r"\ ", r"[ \t-]?") for w in sorted(words, key=len, reverse=True))
    heads = tuple(sorted({word.split(" ")[0].split("'")[0] for word in words}))
    # The label and its filler words in any case, the value as written: (?-i:...) keeps [A-Z] capitals.
    return KeyedRule(reason, words, re.compile(rf"(?i)\b(?:{label})\b{gap}(?-i:{value})"), heads)


_IDENTITY_WORDS = (
    "passport", "passport number", "passport no", "travel document", "reisepass", "passeport",
    "pasaporte", "driver's license", "driver's licence", "drivers license", "drivers licence",
    "driving license", "driving licence", "driver license", "driver licence", "licence number",
    "license number", "führerschein", "permis de conduire", "id card", "identity card", "national id",
    "national identity number", "national identification number", "personalausweis", "carte d'identité",
    "carte nationale d'identité", "dni", "aadhaar", "my number card",
    # German compounds: the number word is glued on
    "reisepassnummer", "passnummer", "führerscheinnummer", "ausweisnummer", "personalausweisnummer",
)  # fmt: skip
_WHAT = r"(?:[ \t]+(?:number|no\.?|nr\.?|#))?(?:[ \t]+(?:of|for)[ \t]+\w+(?:[ \t]+\w+)?)?"

KEYED_RULES: tuple[KeyedRule, ...] = (
    _rule("pii_identity_document", _IDENTITY_WORDS, _DOC_NUMBER, _WHAT + _GAP),
    # salary and pay: an amount right after the word ("salary of $85,000", "base pay: EUR 62.500")
    _rule(
        "confidential_hr_record",
        (
            "salary",
            "base salary",
            "base pay",
            "annual pay",
            "compensation",
            "pay rise",
            "pay raise",
            "bonus",
            "gehalt",
            "salaire",
            "ctc",
        ),  # fmt: skip
        _AMOUNT,
        # up to 48 characters of one clause between: "salary goes up to $85,000", "bonus for Q3 is 4k",
        # "Salary review - Jeremy Walker: current 81k"; the amount itself must look like one
        r"[^\n.;]{0,48}?",
    ),
    # pay band / grade: "pay band 7", "salary band: B3", "pay grade L5"
    _rule(
        "confidential_hr_record",
        ("pay band", "salary band", "pay grade", "salary grade", "pay scale"),
        r"(?P<value>[A-Z]{0,3}-?\d{1,2}[a-z]?\b)",
        r"[ \t]{0,3}(?:is|of|:|=)?[ \t]{0,3}",
    ),
    # employee number: "Employee ID: E-48213", "staff number 004821", "personnel no. 55120"
    _rule(
        "confidential_hr_record",
        (
            "employee",
            "employee number",
            "employee id",
            "staff number",
            "staff id",
            "personnel number",
            "personalnummer",
            "matricule",
        ),  # fmt: skip
        r"(?P<value>(?!(?:19|20)\d\d\b)(?=[A-Z]{0,4}-?\d)[A-Z]{0,4}-?\d{3,10}\b)",  # not a year
        r"[ \t]{0,3}(?:\(?(?:no|nr|num|number|#|id)\)?\.?[ \t]{0,3})?(?:[:=#]|is)?[ \t]{0,3}",
    ),
    # a performance review with its verdict: "performance review ... rating: 2/5", "meets expectations"
    _rule(
        "confidential_hr_record",
        ("performance review", "performance rating", "performance appraisal", "annual review", "appraisal"),
        r"(?P<value>[^\n]{0,80}?(?:\b[1-5](?:\.\d)?[ \t]?(?:/|out of|of)[ \t]?5\b"
        r"|\b(?:does not meet|did not meet|meets|met|partially meets|exceeds|exceeded|below|above)"
        r" expectations\b"
        r"|\brating[ \t]*[:=]?[ \t]*[1-5](?:\.\d)?(?:[ \t]?/[ \t]?5)?\b))",
        "",
    ),
    _rule(
        "confidential_hr_record",
        ("performance improvement plan",),
        r"(?P<value>)",
        "",
    ),
)
_LEADING = frozenset(" \t:-–—,")
KEYED_REASONS = tuple(dict.fromkeys(rule.reason for rule in KEYED_RULES))
# Every head word, for the sensitive scorer's one Aho-Corasick pass (detect.needles): where each stands in
# the lower-cased text, found once for all rules (41 heads; one str.find each cost ~1.4 us per 2 KB).
NEEDLE_WORDS = tuple(sorted({head for rule in KEYED_RULES for head in rule.heads}))
_NEEDLES = Needles(NEEDLE_WORDS)


def find_keyed_values(text: str, lowered: str, claimed: HitSet, found: Found | None = None) -> list[Hit]:
    """Labelled identity-document numbers and HR values that no hit in `claimed` overlaps. `found`: where
    the NEEDLE_WORDS stand in `lowered` (the scorer's shared pass), else found here."""
    hits = []
    same_offsets = len(lowered) == len(text)  # lower() kept every offset (it nearly always does)
    if same_offsets and found is None:
        found = _NEEDLES.find(lowered)
    for rule in KEYED_RULES:
        matches: Iterable[re.Match[str] | None]
        if found is not None and same_offsets:
            matches = (rule.regex.match(text, i) for i in label_starts(text, rule.heads, found))
        else:
            matches = rule.regex.finditer(text)
        for match in matches:
            if match is None:
                continue
            lo, hi = match.span("value")
            if hi == lo:  # a label that is itself the record ("performance improvement plan")
                lo, hi = match.span()
            while lo < hi and text[lo] in _LEADING:  # ": rating 2/5" spans from "rating"
                lo += 1
            hit = Hit(rule.reason, lo, hi)
            if not claimed.overlaps(lo, hi) and claimed.add(hit):
                hits.append(hit)
    return hits


def label_starts(text: str, heads: tuple[str, ...], found: Found) -> list[int]:
    """Where a label can begin: one of its head words standing as a whole word (no letter or digit either
    side). Heads are letters only, so a whole-word occurrence never starts inside another of the same head."""
    starts: set[int] = set()
    n = len(text)
    for head in heads:
        size = len(head)
        for at in found.get(head, ()):
            end = at + size
            if (at == 0 or not text[at - 1].isalnum()) and (end == n or not text[end].isalnum()):
                starts.add(at)
    return sorted(starts)
