"""Vetted source: the trust prior of the document's source type (sources.toml), moved by document signals.

    trust = min(1.0, prior + sum of the signals found)     (weights in sources.toml [trust_signals])

Signals, each a reason of its own:
- `trust_resolution_note`: a ticket closed with a resolution note (its status and resolution fields, or a
  "Resolution:" line), or a Debian changelog entry that closes a bug ("Closes: #NNN", "LP: #NNN"): the entry
  records what was done about a reported problem, as a resolved ticket does.
- `trust_named_reviewer`: "Reviewed-by: Name", "Approved by Name", "Acked-by:", or a ticket's reviewer field.
- `trust_known_author`: the ticket's or manifest's author, a changelog trailer's name or e-mail, or an
  "Author:" line names someone on the source's `authors` list.
Flags that lower trust: `trust_unknown_source`, `trust_low_source` (the prior, before signals).
"""

from __future__ import annotations

import re

from curation.models import Document, ScoreResult
from curation.scorers.base import Scorer
from curation.sources import SourceRegistry

SCAN_CHARS = 100_000  # signals sit in headers and trailers; a 50 MB document is not read whole for them
CLOSED_STATUSES = frozenset({"closed", "resolved", "done", "fixed", "completed", "solved"})

# Searched in the lower-cased text, each opening with a literal: `re` then jumps from one occurrence of it
# to the next (~1 us per 2 KB) where a case-insensitive alternation tries every position (~100 us).
_RESOLUTION_LINES = (  # "Resolution: ...", "Resolved: ...", "Solution: ..." at a line start
    re.compile(r"resol(?:ution|ved)[ \t]*:[ \t]*\S"),
    re.compile(r"solution[ \t]*:[ \t]*\S"),
)
_BUG_CLOSERS = (  # Debian Policy 4.4's bug-closing regex, and Launchpad's
    re.compile(r"closes:\s*(?:bug)?\#?\s?\d+"),
    re.compile(r"lp:\s*\#\d+"),
)
# a git-style trailer ("Reviewed-by: ...") or "Approved by Jane Doe": a capitalised name, not "by the team"
_REVIEWER = re.compile(
    r"(?i:\b(?:reviewed|approved|acked)-by:)[ \t]*\S"
    r"|(?i:\b(?:reviewed|approved|acked) by):?[ \t]+[A-Z][\w'.-]+(?:[ \t]+[A-Z][\w'.-]+)+"
)
# " -- Name <mail>  date" (Debian Policy 4.4) and "Author: Name <mail>"
_AUTHOR = re.compile(
    r"(?m)^ -- (?P<trailer>[^<\n]+?) ?<(?P<mail>[^<>\s]+)>"
    r"|^[ \t]*(?:Author|Written by)[ \t]*:[ \t]*(?P<line>[^\n]+)"
)
_MAIL = re.compile(r"[^<>\s]+@[^<>\s]+")
# A substring test on the lower-cased text (~2 us per 2 KB) rules most documents out before any regex runs.
_RESOLUTION_TRIGGERS = ("resol", "solution", "closes:", "lp:")
_REVIEWER_TRIGGERS = ("reviewed", "approved", "acked")


class SourceTrustScorer(Scorer):
    name = "trust"
    reason_prefixes = ("trust_",)

    def __init__(self, registry: SourceRegistry, *, low_below: float = 0.5) -> None:
        self.registry = registry
        self.low_below = low_below

    def score(self, doc: Document) -> ScoreResult:
        prior = self.registry.trust(doc.source, doc.source_type)
        reasons = []
        if not self.registry.is_known(doc.source, doc.source_type):
            reasons.append("trust_unknown_source")
        if prior < self.low_below:
            reasons.append("trust_low_source")
        head = doc.text[:SCAN_CHARS]
        lowered = head.lower()
        weights = self.registry.signals
        found = {
            "trust_resolution_note": (weights.resolution_note, _has_resolution(doc, lowered)),
            "trust_named_reviewer": (weights.named_reviewer, _has_reviewer(doc, head, lowered)),
            "trust_known_author": (weights.known_author, self._known_author(doc, head)),
        }
        boost = 0.0
        for reason, (weight, present) in found.items():
            if present and weight > 0:
                reasons.append(reason)
                boost += weight
        kind = self.registry.source_type(doc.source, doc.source_type).name
        details = {"source_type": kind, "prior": prior}
        return ScoreResult(self.name, round(min(1.0, prior + boost), 4), reasons, details)

    def _known_author(self, doc: Document, head: str) -> bool:
        authors = self.registry.authors(doc.source)
        if not authors:
            return False
        names = [doc.meta.get("author", "")]
        for match in _AUTHOR.finditer(head):
            names += [match["trailer"] or "", match["mail"] or "", match["line"] or ""]
        for name in filter(None, names):
            lowered = name.strip().lower()
            if lowered in authors or any(m.lower() in authors for m in _MAIL.findall(lowered)):
                return True
            if lowered.split("<", 1)[0].strip() in authors:  # "Jane Doe <jane@x.org>" on an "Author:" line
                return True
        return False


def _has_resolution(doc: Document, lowered: str) -> bool:
    closed = doc.meta.get("status", "").strip().lower() in CLOSED_STATUSES
    if closed and doc.meta.get("resolution", "").strip():
        return True
    if not any(map(lowered.__contains__, _RESOLUTION_TRIGGERS)):
        return False
    if any(closer.search(lowered) for closer in _BUG_CLOSERS):
        return True
    for line in _RESOLUTION_LINES:
        for match in line.finditer(lowered):
            line_start = lowered.rfind("\n", 0, match.start()) + 1
            if not lowered[line_start : match.start()].strip(" \t"):
                return True
    return False


def _has_reviewer(doc: Document, head: str, lowered: str) -> bool:
    if doc.meta.get("reviewer", "").strip():
        return True
    return any(map(lowered.__contains__, _REVIEWER_TRIGGERS)) and _REVIEWER.search(head) is not None
