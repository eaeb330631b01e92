"""The knowledge base: FOLDOC (Free On-line Dictionary of Computing) entries from Debian's dict-foldoc.

The dictionary is dictd's format (dictd(8)): `foldoc.dict.dz` is gzip (dictzip adds random access, which we
do not need: 5 MB inflates in well under a second) and `foldoc.index` maps each headword, tab-separated, to
the entry's byte offset and length, written in dictd's base64 digits. Several headwords (aliases) share an
entry, so entries are keyed by offset.
"""

from __future__ import annotations

import gzip
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pipelines.corpus.debian import require_package
from pipelines.corpus.model import CorpusFile, seeded_sample

FOLDOC_PACKAGE = "dict-foldoc"
FOLDOC_DICT = Path("/usr/share/dictd/foldoc.dict.dz")
FOLDOC_INDEX = Path("/usr/share/dictd/foldoc.index")
SOURCE = "kb-foldoc"

_B64_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# FOLDOC closes each entry with the date it was last edited: "(1997-03-14)".
_ENTRY_DATE = re.compile(r"\((\d{4}-\d{2}-\d{2})\)")
_SLUG_UNSAFE = re.compile(r"[^a-z0-9]+")


@dataclass(slots=True, frozen=True)
class FoldocEntry:
    headword: str
    text: str

    @property
    def updated(self) -> date | None:
        return entry_date(self.text)


def entry_date(text: str) -> date | None:
    """The last "(YYYY-MM-DD)" in the entry, if it is a real calendar date."""
    for found in reversed(_ENTRY_DATE.findall(text)):
        try:
            return date.fromisoformat(found)
        except ValueError:
            continue
    return None


def read_entries() -> list[FoldocEntry]:
    """Every entry once, in the order of the dictionary file; dictd's own "00-database-*" records left out."""
    require_package(FOLDOC_INDEX, FOLDOC_PACKAGE)
    data = gzip.decompress(require_package(FOLDOC_DICT, FOLDOC_PACKAGE).read_bytes())
    spans: dict[int, int] = {}
    for line in FOLDOC_INDEX.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) != 3 or parts[0].startswith("00-database") or parts[0].startswith("00database"):
            continue
        spans.setdefault(_b64(parts[1]), _b64(parts[2]))
    entries = []
    for offset in sorted(spans):
        text = data[offset : offset + spans[offset]].decode("utf-8", "replace").strip("\n") + "\n"
        headword = text.split("\n", 1)[0].strip()
        if headword and not headword.startswith("00"):
            entries.append(FoldocEntry(headword, text))
    return entries


def foldoc_files(n_entries: int, rng: random.Random) -> Iterator[CorpusFile]:
    """A seeded sample of dated entries, one .txt each, named after the headword.

    Undated entries (a fifth) are nearly all redirects and disambiguation stubs ("ASE: 1. {Advanced Software
    Environment} 2. ..."), which would only teach the pipeline that the knowledge base is thin.
    """
    used: set[str] = set()
    dated = [entry for entry in read_entries() if entry.updated]
    for entry in seeded_sample(dated, n_entries, rng):
        name = _unique(_slug(entry.headword), used)
        yield CorpusFile(
            f"{SOURCE}/{name}.txt",
            entry.headword,
            SOURCE,
            "knowledge_base",
            entry.updated,
            "content",
            entry.text.encode("utf-8"),
        )


def _b64(digits: str) -> int:
    value = 0
    for digit in digits:
        value = value * 64 + _B64_DIGITS.index(digit)
    return value


def _slug(headword: str) -> str:
    return _SLUG_UNSAFE.sub("-", headword.lower()).strip("-")[:80] or "entry"


def _unique(name: str, used: set[str]) -> str:
    # "C" and "c++" both slug to "c": number the later ones so no file overwrites another.
    candidate, n = name, 2
    while candidate in used:
        candidate, n = f"{name}-{n}", n + 1
    used.add(candidate)
    return candidate
