"""Where the sensitive detectors' literal words stand in a document: one pass over its lower-cased text.

The detectors gate their regexes on literal words: a label's head ("passport", "salary"), the word a (?i)
pattern must hold ("token" in `auth_token = ...`), an issuer's prefix ("sk_live_", "xox"), a marking
("confidential"). Searched one `str.find` at a time that was ~90 scans of every 2 KB page (~1.4 us each:
most pages hold a curly quote or an accent, and `str.find` is slower on such strings), ~120 us a page.
An Aho-Corasick automaton finds every occurrence of all of them in one pass (~6 us a page).

Why ahocorasick-rs (the `aho-corasick` Rust crate behind Python bindings) and not a hand-written automaton
or pyahocorasick: measured on the 2 KB benchmark pages, the 41 label heads take 5.7 us a page through it,
20.5 us through pyahocorasick's `iter` and 40.7 us as str.find scans; a pure-Python automaton steps once
per character and would be slower than the scans. One big `re` alternation took 92 us.

Offsets are character offsets into the lower-cased text, every occurrence, overlapping ones included
("passnummer" inside "reisepassnummer"), each word's in rising order: what a `str.find` loop over the
lower-cased text gives. A text the automaton cannot take (a lone surrogate from a `surrogateescape` read:
the binding encodes to UTF-8) falls back to those `str.find` loops, with the same result.
"""

from __future__ import annotations

from collections.abc import Iterable

import ahocorasick_rs

Found = dict[str, list[int]]  # word -> every start of it in the lower-cased text, rising; absent: none


class Needles:
    """A fixed set of lower-case words, and `find`, their occurrences in a text."""

    __slots__ = ("_automaton", "words")

    def __init__(self, words: Iterable[str]) -> None:
        self.words = tuple(sorted(set(words)))
        if not all(self.words) or any(w != w.lower() for w in self.words):
            raise ValueError(f"needles must be non-empty and lower case: {self.words}")
        self._automaton = ahocorasick_rs.AhoCorasick(self.words)  # standard match kind: overlapping allowed

    def find(self, lowered: str) -> Found:
        """Every occurrence of every word in `lowered` (a text's `lower()`)."""
        found: Found = {}
        try:
            matches = self._automaton.find_matches_as_indexes(lowered, overlapping=True)
        except UnicodeEncodeError:  # a lone surrogate: the binding cannot make UTF-8 of it
            return find_by_scans(self.words, lowered)
        words = self.words
        for i, start, _ in matches:
            word = words[i]
            at = found.get(word)
            if at is None:
                found[word] = [start]
            else:
                at.append(start)
        return found


def find_by_scans(words: Iterable[str], lowered: str) -> Found:
    """What `Needles.find` returns, by one `str.find` loop per word (the reference, and the fallback)."""
    found: Found = {}
    for word in words:
        at = lowered.find(word)
        while at != -1:
            found.setdefault(word, []).append(at)
            at = lowered.find(word, at + 1)
    return found
