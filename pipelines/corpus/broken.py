"""Bad inputs every real share has: the connector must quarantine each with a reason, never crash or index it.

They are listed in the manifest like any document, so a run can prove documents in = scored + quarantined.
Where a file needs text, it is real text from the other sources, only damaged.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Iterator

from pipelines.corpus.debian import package_changelog, read_changelog
from pipelines.corpus.docs import PYTHON_PACKAGE
from pipelines.corpus.foldoc import read_entries
from pipelines.corpus.model import CorpusFile

SOURCE = "broken"
# Bytes that are never valid UTF-8: a lead byte cut off before its continuation byte, then 0xFF.
_INVALID_UTF8 = b"\xc3\x28 \xff"
_BLANK_PAGE = (
    b'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title></title>\n'
    b"<style>body { margin: 0 }</style></head>\n"
    b'<body><div class="nav"></div><script>window.dataLayer = [];</script></body></html>\n'
)


def broken_files(rng: random.Random) -> Iterator[CorpusFile]:
    """Six files, one per failure a connector must name: empty, binary, Latin-1, bad UTF-8, no text, gzip."""
    changelog = package_changelog(PYTHON_PACKAGE)
    entry = read_changelog(changelog, max_entries=1)[0].text.encode("utf-8")
    cut = len(entry) // 2
    yield _broken("empty.txt", b"")
    # NUL bytes early on are what `file` and most sniffers use to call a file binary.
    yield _broken("quarterly-figures.txt", b"\x00\x01\x02\x03" + rng.randbytes(4092))
    yield _broken("foldoc-latin1.txt", _latin1_entry())
    yield _broken("python-changelog-invalid-utf8.txt", entry[:cut] + _INVALID_UTF8 + entry[cut:])
    yield _broken("blank-page.html", _BLANK_PAGE)
    # A compressed changelog saved under a text name, as e-mail attachments often end up.
    yield _broken("release-notes.md", gzip.compress(entry, mtime=0))


def _latin1_entry() -> bytes:
    """The first FOLDOC entry with accented letters that Latin-1 can hold, encoded as Latin-1."""
    for entry in read_entries():
        if not entry.text.isascii():
            try:
                return entry.text.encode("latin-1")
            except UnicodeEncodeError:
                continue
    raise LookupError("no FOLDOC entry with Latin-1 letters")  # dict-foldoc always has some (AFUU, ...)


def _broken(name: str, data: bytes) -> CorpusFile:
    return CorpusFile(f"{SOURCE}/{name}", name, SOURCE, "unknown", None, "unknown", data)
