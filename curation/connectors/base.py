"""What every format parser shares: the file it reads, the limits it keeps, and what it hands back.

A parser is `parse(blob, ctx) -> Iterator[Part | Failed]`: the file's own document first (`Part.name` None),
then its children (a mailbox's messages, an e-mail's attachments) named by the text after `FILE#`. A parser
that cannot read the file raises `Unreadable(reason, detail)`; a child it cannot read is a `Failed`, so the
file's other parts still become documents.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path


class Unreadable(Exception):
    """A file that cannot become a document; `reason` is the stable quarantine reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ParseTimeout(BaseException):
    """The per-file alarm went off. A BaseException, so a library's `except Exception` cannot swallow it."""


@dataclass(slots=True, frozen=True)
class Limits:
    """Bounds on one file. Over a bound the file is quarantined `too_large`, never truncated: the unread
    tail would go unscored, and a password on page 400 is as leaked as one on page 1."""

    max_pages: int = 300  # PDF pages and PPTX slides; a longer manual is better split into its chapters
    max_rows: int = 100_000  # rows per sheet or CSV (a sheet's declared dimension counts, empty rows too)
    max_text_chars: int = 8_000_000  # extracted text per file, all parts together (~2,000 pages)
    max_unzipped_bytes: int = 512 * 2**20  # OOXML packages: total uncompressed size in the central directory
    max_zip_ratio: float = 100.0  # uncompressed / compressed; real DOCX/XLSX are 3-20, a bomb is 1,000+
    min_ratio_check_bytes: int = 16 * 2**20  # the ratio only counts above this size (tiny XML packs well)
    max_zip_entries: int = 10_000
    max_messages: int = 20_000  # per mailbox
    max_depth: int = 3  # attachments of attachments (a forwarded mail inside a mail inside an mbox)


@dataclass(slots=True)
class Blob:
    """One file's bytes and name (an attachment's file name for children); `path` when it is on disk."""

    name: str
    data: bytes
    path: Path | None = None

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix.lower()


@dataclass(slots=True)
class Part:
    """Text read from a file or one of its children, with where it came from inside the file in `meta`."""

    text: str
    name: str | None = None  # None: the file itself; else the child's part name (path = FILE#name)
    title: str | None = None
    meta: dict[str, str] = field(default_factory=dict)
    updated: date | None = None  # a date the format carries: PDF/Office metadata, an e-mail's Date header
    updated_from: str | None = None  # "file_metadata" or "mail_header"


@dataclass(slots=True, frozen=True)
class Failed:
    """A child of a file that could not be read (the file's other parts still are)."""

    name: str
    reason: str
    detail: str = ""


Item = Part | Failed
Parser = Callable[[Blob, "Context"], Iterator[Item]]


@dataclass(slots=True)
class Context:
    """What a parser may use: the limits, the text encoding rule, the deadline, and the registry's parser
    for children (so an e-mail parses its PDF attachment with the PDF parser)."""

    limits: Limits
    deadline: float  # time.monotonic() after which the file is quarantined `timeout`
    timeout_s: float
    legacy_encoding: str | None = None
    depth: int = 0
    parse_child: Callable[[Blob, Context], Iterator[Item]] | None = None

    def check_time(self, where: str) -> None:
        if time.monotonic() > self.deadline:
            raise Unreadable("timeout", f"still reading {where} after {self.timeout_s:g} s (file_timeout_s)")

    def children(self, blob: Blob, name: str) -> Iterator[Item]:
        """A child's parts, renamed under `name` (`report.pdf`, `3#report.pdf`); a failure is one Failed."""
        if self.parse_child is None or self.depth >= self.limits.max_depth:
            yield Failed(name, "too_deep", f"nested deeper than max_depth {self.limits.max_depth}")
            return
        child = Context(
            self.limits, self.deadline, self.timeout_s, self.legacy_encoding, self.depth + 1, self.parse_child
        )
        try:
            items = list(self.parse_child(blob, child))
        except Unreadable as exc:
            yield Failed(name, exc.reason, exc.detail)
            return
        for item in items:
            if isinstance(item, Failed):
                yield Failed(f"{name}#{item.name}", item.reason, item.detail)
            else:
                item.name = name if item.name is None else f"{name}#{item.name}"
                yield item


def too_large(what: str, n: int, limit: int, name: str) -> Unreadable:
    return Unreadable("too_large", f"{n} {what} > {name} {limit}: split the file, or raise {name}")


def joined(sections: Sequence[str]) -> tuple[str, str]:
    """Sections (pages, slides, sheets) as one text, and the JSON list of the offset where each starts."""
    starts, out, at = [], [], 0
    for section in sections:
        starts.append(at)
        out.append(section)
        at += len(section) + 2
    return "\n\n".join(out), json.dumps(starts)


def location(meta: dict[str, str], offset: int) -> str | None:
    """Where a character offset of a document lies inside its file ("page 12", "slide 3", "sheet Q3"):
    what a chunk that starts there should cite. None when the format has no such parts."""
    for kind in ("page", "slide", "sheet"):
        starts = meta.get(f"{kind}_starts")
        if not starts:
            continue
        offsets = json.loads(starts)
        index = max((i for i, start in enumerate(offsets) if start <= offset), default=0)
        if kind == "sheet":
            return f"sheet {json.loads(meta['sheets'])[index]}"
        return f"{kind} {index + 1}"
    return None
