"""Version families: which documents are versions of one thing ("E.12. Release 15.9", "E.1. Release 15.20").

A document's version comes from its title, else its file name: a number after a cue word ("Release 15",
"version 2", "release-15-3.html") or a dotted number ("What's New In Python 3.11"). Its family is the source,
the title with the version cut out, and every version component but the last: 15.9 and 15.20 are one family
(minor releases of 15), "Release 15" and "Release 16" another (major releases). A bare number without a cue
("Top 10 tips", "Chapter 5") is no version: those documents are not versions of each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from curation.models import Document

# "E.1. ", "3. ", "14.2.2.1. ": DocBook and Sphinx section numbers before a title, not versions
_SECTION = re.compile(r"^\s*(?:[A-Z]|\d+)(?:\.\d+)*\.\s+")
# the number must end the token: "15.20." ends a sentence, "15.20a" and "3.11.x" are no plain version
# no bare "v" cue: ITU's V.11 and V.42 (or X.25) are different standards, not versions of one
_CUED = re.compile(r"(?i)\b(?:release|version|ver|rel)[\s_-]*v?(\d+(?:[._-]\d+)*)(?!\.?\w)")
_DOTTED = re.compile(r"(?<![\w.])v?(\d+(?:\.\d+)+)(?!\.?\w)")
_PARTS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")


@dataclass(slots=True, frozen=True)
class Version:
    family: tuple[str, str, tuple[int, ...]]  # (source, title template, all components but the last)
    number: tuple[int, ...]
    text: str  # as written: "15.20"


def version_of(doc: Document) -> Version | None:
    """The document's version and family, or None when neither its title nor its file name carries one."""
    title = _SECTION.sub("", doc.title)
    found = _match(title)
    if found is None:
        title = PurePosixPath(doc.path).stem
        found = _CUED.search(title)
    if found is None:
        return None
    number = tuple(int(p) for p in _PARTS.findall(found.group(1)))
    template = title[: found.start(1)] + "{v}" + title[found.end(1) :]
    template = _SPACES.sub(" ", template.lower()).strip()
    return Version((doc.source, template, number[:-1]), number, found.group(1))


def _match(title: str) -> re.Match[str] | None:
    return _CUED.search(title) or _DOTTED.search(title)


def superseded(docs: list[Document], unversioned_types: frozenset[str] = frozenset()) -> dict[int, int]:
    """Index of each superseded document -> index of the newest version in its family.

    Only families with two or more different versions count; equal versions are duplicates, not successors.
    Documents of `unversioned_types` (tickets, e-mails) record one event each and are never grouped.
    """
    families: dict[tuple[str, str, tuple[int, ...]], list[tuple[tuple[int, ...], int]]] = {}
    for i, doc in enumerate(docs):
        if doc.source_type in unversioned_types:
            continue
        version = version_of(doc)
        if version is not None:
            families.setdefault(version.family, []).append((version.number, i))
    out: dict[int, int] = {}
    for members in families.values():
        newest_number, newest = max(members)
        for number, i in members:
            if number < newest_number:
                out[i] = newest
    return out
