"""The folder walk: every file under a root, through its format's parser, into Documents or quarantine
records.

    connector = FolderConnector(Path("corpus"), registry, file_timeout_s=60)
    for item in connector:            # Document | QuarantineRecord, files in sorted order
        ...
    connector.units                   # what came in: == documents + quarantined
    connector.warnings                # manifest lines naming missing files, undeclared source types, ...

A file that yields several documents (a mailbox's messages, an e-mail's attachments) counts one unit per
document or quarantined child, as a JSONL ticket file counts one per line. A file that fails as a whole is
one quarantine record; the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from curation.connectors.base import Blob, Context, Failed, Limits, ParseTimeout, Part, Unreadable
from curation.connectors.manifest import ManifestEntry, manifest_warnings, read_corpus_manifest
from curation.connectors.registry import parse_blob, parser_for
from curation.connectors.text import decode_bytes
from curation.dates import date_from_content, parse_iso_date, ticket_date
from curation.models import Document, QuarantineRecord
from curation.sources import SourceRegistry

TICKET_SUFFIXES = {".jsonl"}
SKIP_NAMES = {"manifest.jsonl", "canaries.jsonl", ".complete"}
# Ticket fields kept in Document.meta for the scorers (trust signals, asset age); the first present one wins.
TICKET_META_FIELDS = {
    "status": ("status", "state"),
    "resolution": ("resolution", "resolution_note", "solution"),
    "reviewer": ("reviewer", "reviewed_by", "approved_by", "approver"),
    "author": ("author", "resolved_by", "assignee"),
    "asset_installed": ("asset_installed", "installed", "commissioned"),
}
MAX_CONTROL_SHARE = 0.05  # more control characters than this: binary content under a text name


def doc_id_for(source: str, rel_path: str, suffix: str = "") -> str:
    return hashlib.sha1(f"{source}\x00{rel_path}\x00{suffix}".encode()).hexdigest()[:16]


class FolderConnector:
    """Reads every file under `root` (sorted, so runs are reproducible); `units` counts what came in.

    Args:
        max_file_bytes: bigger files are quarantined `file_too_large` unread.
        legacy_encoding: the one non-UTF-8 encoding text files may use (cp1252); none by default.
        file_timeout_s: a file still being parsed after this long is quarantined `timeout` (checked between
            pages, rows and messages, and by an alarm when running on the main thread).
        limits: pages, rows, unpacked ZIP bytes and the other per-file bounds (curation.connectors.Limits).
    """

    def __init__(
        self,
        root: Path,
        registry: SourceRegistry,
        *,
        max_file_bytes: int = 64 * 2**20,
        legacy_encoding: str | None = None,
        file_timeout_s: float = 60.0,
        limits: Limits | None = None,
    ) -> None:
        if not root.is_dir():
            raise FileNotFoundError(f"corpus folder {root} does not exist (build one: vetted corpus demo)")
        if file_timeout_s <= 0:
            raise ValueError(
                f"file_timeout_s must be positive (seconds per file, e.g. 60), got {file_timeout_s}"
            )
        self.root = root
        self.registry = registry
        self.max_file_bytes = max_file_bytes
        self.legacy_encoding = legacy_encoding
        self.file_timeout_s = file_timeout_s
        self.limits = limits or Limits()
        self.manifest = read_corpus_manifest(root)
        self.warnings: list[str] = manifest_warnings(root, self.manifest, registry)
        self.units = 0  # what came in: one per file, one per line of a JSONL ticket file, one per child

    def files(self) -> list[Path]:
        return sorted(
            p
            for p in self.root.rglob("*")
            if p.is_file()
            and p.name not in SKIP_NAMES
            and (not p.name.startswith(".") or parser_for(p.name) is not None)
        )

    def __iter__(self) -> Iterator[Document | QuarantineRecord]:
        unsupported: Counter[str] = Counter()
        for path in self.files():
            for item in self.read(path):
                if isinstance(item, QuarantineRecord) and item.reason == "unsupported_format":
                    unsupported[Path(item.path).suffix.lower() or item.path] += 1
                yield item
        if unsupported:
            kinds = ", ".join(f"{suffix} x{n}" for suffix, n in sorted(unsupported.items()))
            self.warnings.append(
                f"{sum(unsupported.values())} files were not read, their format unsupported ({kinds}): "
                "they were not scored, so nothing is known of what they hold; convert them (see the "
                "quarantine details)"
            )

    def read(self, path: Path) -> Iterator[Document | QuarantineRecord]:
        rel = path.relative_to(self.root).as_posix()
        entry = self.manifest.get(rel, ManifestEntry())
        source = entry.source or (rel.split("/", 1)[0] if "/" in rel else "unsorted")
        try:
            with _alarm(self.file_timeout_s):
                items = list(self._parse(path, rel, source, entry))
        except Unreadable as exc:
            items = [QuarantineRecord(path=rel, source=source, reason=exc.reason, detail=exc.detail)]
        except ParseTimeout:
            detail = f"still parsing after {self.file_timeout_s:g} s (file_timeout_s)"
            items = [QuarantineRecord(path=rel, source=source, reason="timeout", detail=detail)]
        except OSError as exc:
            items = [QuarantineRecord(path=rel, source=source, reason="unreadable_file", detail=str(exc))]
        except Exception as exc:  # noqa: BLE001 - a library's own error on a damaged file: the run goes on
            detail = f"{type(exc).__name__}: {str(exc)[:300]}"
            items = [QuarantineRecord(path=rel, source=source, reason="corrupt_file", detail=detail)]
        self.units += len(items)
        yield from items

    def _parse(
        self, path: Path, rel: str, source: str, entry: ManifestEntry
    ) -> Iterator[Document | QuarantineRecord]:
        size = path.stat().st_size
        if size > self.max_file_bytes:
            raise Unreadable("file_too_large", f"{size} bytes > max_file_mb")
        data = path.read_bytes()
        mtime = path.stat().st_mtime
        if path.suffix.lower() in TICKET_SUFFIXES:
            text, encoding = decode_bytes(data, legacy_encoding=self.legacy_encoding)
            yield from self._tickets(text, rel, source, entry, {"encoding": encoding})
            return
        ctx = Context(
            self.limits,
            time.monotonic() + self.file_timeout_s,
            self.file_timeout_s,
            self.legacy_encoding,
            parse_child=parse_blob,
        )
        parts = list(parse_blob(Blob(path.name, data, path), ctx))
        chars = sum(len(p.text) for p in parts if isinstance(p, Part))
        if chars > self.limits.max_text_chars:
            raise Unreadable(
                "too_large", f"{chars} characters of text > max_text_chars {self.limits.max_text_chars}"
            )
        for part in parts:
            child = rel if part.name is None else f"{rel}#{part.name}"
            if isinstance(part, Failed):
                yield QuarantineRecord(path=child, source=source, reason=part.reason, detail=part.detail)
                continue
            problem = _text_problem(part.text)
            if problem and part.name is None:
                raise problem
            if problem:
                yield QuarantineRecord(
                    path=child, source=source, reason=problem.reason, detail=problem.detail
                )
                continue
            yield self._from_part(part, rel, source, entry, path, mtime)

    def _from_part(
        self, part: Part, rel: str, source: str, entry: ManifestEntry, path: Path, mtime: float
    ) -> Document:
        meta = dict(part.meta) | ({"author": str(entry.author)} if entry.author else {})
        if part.name is None:  # the file itself: the manifest's title first, and the file time as a last date
            title, at, file_time = entry.title or part.title or path.stem.replace("_", " "), rel, mtime
        else:
            meta |= {"part": part.name, "part_of": rel}
            title, at, file_time = (
                part.title or f"{entry.title or path.name} - {part.name}",
                f"{rel}#{part.name}",
                None,
            )
        return self._document(
            text=part.text,
            rel=at,
            source=source,
            entry=entry,
            meta=meta,
            title=title,
            mtime=file_time,
            own_date=(part.updated, part.updated_from),
        )

    def _tickets(
        self, text: str, rel: str, source: str, entry: ManifestEntry, meta: dict[str, str]
    ) -> Iterator[Document | QuarantineRecord]:
        """JSONL tickets: one ticket per line with id, title, text (or body) and timestamps (the newest of
        TICKET_DATE_FIELDS, ISO or epoch); status, resolution, reviewer, author and asset_installed go to
        meta for the scorers. A bad line is quarantined on its own (`path#Ln`); the good lines of the same
        file still become documents."""
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                body = str(row.get("text") or row.get("body") or "")
            except (json.JSONDecodeError, AttributeError) as exc:
                yield QuarantineRecord(f"{rel}#L{n}", source, "bad_ticket_line", str(exc))
                continue
            if not body.strip():
                yield QuarantineRecord(f"{rel}#L{n}", source, "bad_ticket_line", "no text")
                continue
            stamp = ticket_date(row)
            ticket = ManifestEntry(
                title=str(row.get("title") or f"{rel} #{n}"),
                source=source,
                source_type=entry.source_type,
                updated=stamp.isoformat() if stamp else None,
                updated_from="ticket_timestamp" if stamp else None,
            )
            yield self._document(
                text=body,
                rel=rel,
                source=source,
                entry=ticket,
                meta=meta | {"ticket": str(row.get("id", n))} | _ticket_meta(row),
                title=ticket.title or rel,
                mtime=None,
                id_suffix=str(row.get("id", n)),
            )

    def _document(
        self,
        *,
        text: str,
        rel: str,
        source: str,
        entry: ManifestEntry,
        meta: dict[str, str],
        title: str,
        mtime: float | None,
        id_suffix: str = "",
        own_date: tuple[date | None, str | None] = (None, None),
    ) -> Document:
        updated, updated_from = _dated(text, entry, own_date, mtime)
        declared = entry.source_type or self.registry.source_type(source).name
        return Document(
            doc_id=doc_id_for(source, rel, id_suffix),
            source=source,
            source_type=declared,
            path=rel,
            title=title.strip()[:300],
            text=text,
            updated=updated,
            updated_from=updated_from,
            meta=meta,
        )


def _dated(
    text: str, entry: ManifestEntry, own: tuple[date | None, str | None], mtime: float | None
) -> tuple[date | None, str]:
    """The document's date, from the first that has one: the manifest; an e-mail's Date header; a date in
    the text; the file format's own metadata (PDF ModDate, Office core properties); the file time."""
    own_date, own_from = own
    candidates: list[tuple[Any, str]] = [
        (lambda: parse_iso_date(entry.updated), entry.updated_from or "manifest")
    ]
    if own_from == "mail_header":
        candidates.append((lambda: own_date, own_from))
    candidates.append((lambda: date_from_content(text), "content"))
    if own_from and own_from != "mail_header":
        candidates.append((lambda: own_date, own_from))
    if mtime is not None:
        candidates.append((lambda: datetime.fromtimestamp(mtime, UTC).date(), "file_mtime"))
    for get, where in candidates:
        found = get()
        if found is not None:
            return found, where
    return None, "unknown"


def _text_problem(text: str) -> Unreadable | None:
    if not text.strip():
        return Unreadable("no_text_content", "no text after parsing")
    sample = text[:20_000]
    control = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\r\t\f")
    if control / max(1, len(sample)) > MAX_CONTROL_SHARE:
        return Unreadable("binary_content", "over 5% control characters")
    return None


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Raise ParseTimeout in this file's parser after `seconds`, where a signal can be used: on the main
    thread, when nothing else owns SIGALRM. Elsewhere the parsers' own deadline checks bound the time."""
    usable = (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None)
    )
    if not usable:
        yield
        return

    def _fire(signum: int, frame: object) -> None:
        raise ParseTimeout

    previous = signal.signal(signal.SIGALRM, _fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _ticket_meta(row: dict[str, object]) -> dict[str, str]:
    meta = {}
    for key, names in TICKET_META_FIELDS.items():
        value = next((row[n] for n in names if row.get(n) not in (None, "")), None)
        if value is not None:
            meta[key] = str(value)[:2000]
    return meta
