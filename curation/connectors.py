"""Connectors: a folder of files (text, markdown, reST, HTML, JSONL tickets) becomes a stream of Documents.

A folder may carry `manifest.jsonl` (one line per file: path, title, source, source_type, updated); without
one, a file's source is its top-level folder. Every file yields Documents or one QuarantineRecord with a
stable reason: nothing read is lost (documents in = documents out + quarantined).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from curation.dates import date_from_content, parse_iso_date, ticket_date
from curation.html_text import html_to_text
from curation.models import Document, QuarantineRecord
from curation.sources import SourceRegistry

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".text", ""}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
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


@dataclass(slots=True)
class ManifestEntry:
    title: str | None = None
    source: str | None = None
    source_type: str | None = None
    updated: str | None = None
    updated_from: str | None = None  # "content" when the manifest's date was read from the text itself
    author: str | None = None  # who wrote it: a trust signal when the source lists them as a known author


class Unreadable(Exception):
    """A file that cannot become a document; `reason` is the stable quarantine reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def read_manifest(root: Path) -> dict[str, ManifestEntry]:
    path = root / "manifest.jsonl"
    if not path.exists():
        return {}
    entries: dict[str, ManifestEntry] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            entries[row["path"]] = ManifestEntry(
                title=row.get("title"),
                source=row.get("source"),
                source_type=row.get("source_type"),
                updated=row.get("updated"),
                updated_from=row.get("updated_from"),
                author=row.get("author"),
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f'{path}:{n}: not a manifest line ({exc}); expected {{"path": ...}}') from exc
    return entries


def decode_bytes(raw: bytes, *, legacy_encoding: str | None = None) -> tuple[str, str]:
    """Bytes to text and the encoding used.

    Text must be UTF-8, unless the steward names the one legacy encoding the archive uses (cp1252, say).
    Guessing per file is not safe: detectors mistake Latin-1 for cp1250 on short texts and turn a document
    into mojibake, so the detector's guess only goes into the quarantine record as a hint.
    """
    if not raw.strip():
        raise Unreadable("empty_file", f"{len(raw)} bytes, no text")
    if b"\x00" in raw[:8192]:
        raise Unreadable("binary_content", "NUL bytes in the first 8 KiB")
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = f"byte {exc.start}: {exc.reason}"
    if legacy_encoding:
        try:
            return raw.decode(legacy_encoding), legacy_encoding
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw[:1_000_000]).best()
    hint = f"; looks like {best.encoding}" if best is not None and best.chaos <= 0.2 else ""
    raise Unreadable("not_utf8", f"not UTF-8 ({utf8_error}){hint}: re-encode it, or set legacy_encoding")


def _control_share(text: str) -> float:
    sample = text[:20_000]
    bad = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\r\t\f")
    return bad / max(1, len(sample))


def doc_id_for(source: str, rel_path: str, suffix: str = "") -> str:
    return hashlib.sha1(f"{source}\x00{rel_path}\x00{suffix}".encode()).hexdigest()[:16]


class FolderConnector:
    """Reads every file under `root` (sorted, so runs are reproducible); `units` counts what came in."""

    def __init__(
        self,
        root: Path,
        registry: SourceRegistry,
        *,
        max_file_bytes: int = 64 * 2**20,
        legacy_encoding: str | None = None,
    ) -> None:
        if not root.is_dir():
            raise FileNotFoundError(f"corpus folder {root} does not exist (build one: vetted corpus demo)")
        self.root = root
        self.registry = registry
        self.max_file_bytes = max_file_bytes
        self.legacy_encoding = legacy_encoding
        self.manifest = read_manifest(root)
        self.units = 0  # what came in: one per file, one per line of a JSONL ticket file

    def files(self) -> list[Path]:
        return sorted(
            p
            for p in self.root.rglob("*")
            if p.is_file() and p.name not in SKIP_NAMES and not p.name.startswith(".")
        )

    def __iter__(self) -> Iterator[Document | QuarantineRecord]:
        for path in self.files():
            yield from self.read(path)

    def read(self, path: Path) -> Iterator[Document | QuarantineRecord]:
        rel = path.relative_to(self.root).as_posix()
        entry = self.manifest.get(rel, ManifestEntry())
        source = entry.source or (rel.split("/", 1)[0] if "/" in rel else "unsorted")
        self.units += 1
        try:
            yield from self._parse(path, rel, source, entry)
        except Unreadable as exc:
            yield QuarantineRecord(path=rel, source=source, reason=exc.reason, detail=exc.detail)
        except OSError as exc:
            yield QuarantineRecord(path=rel, source=source, reason="unreadable_file", detail=str(exc))

    def _parse(
        self, path: Path, rel: str, source: str, entry: ManifestEntry
    ) -> Iterator[Document | QuarantineRecord]:
        size = path.stat().st_size
        if size > self.max_file_bytes:
            raise Unreadable("file_too_large", f"{size} bytes > max_file_mb")
        text, encoding = decode_bytes(path.read_bytes(), legacy_encoding=self.legacy_encoding)
        suffix = path.suffix.lower()
        meta = {"encoding": encoding} | ({"author": str(entry.author)} if entry.author else {})
        if suffix in TICKET_SUFFIXES:
            yield from self._tickets(text, rel, source, entry, meta)
            return
        title = entry.title
        if suffix in HTML_SUFFIXES:
            html_title, text = html_to_text(text)
            title = title or html_title
        elif suffix not in TEXT_SUFFIXES:
            raise Unreadable("unsupported_format", f"suffix {suffix!r}")
        if not text.strip():
            raise Unreadable("no_text_content", "no text after parsing")
        if _control_share(text) > 0.05:
            raise Unreadable("binary_content", "over 5% control characters")
        yield self._document(
            text=text,
            rel=rel,
            source=source,
            entry=entry,
            meta=meta,
            title=title or path.stem.replace("_", " "),
            mtime=path.stat().st_mtime,
        )

    def _tickets(
        self, text: str, rel: str, source: str, entry: ManifestEntry, meta: dict[str, str]
    ) -> Iterator[Document | QuarantineRecord]:
        """JSONL tickets: one ticket per line with id, title, text (or body) and timestamps (the newest of
        TICKET_DATE_FIELDS, ISO or epoch); status, resolution, reviewer, author and asset_installed go to
        meta for the scorers. A bad line is quarantined on its own (`path#Ln`); the good lines of the same
        file still become documents."""
        self.units -= 1  # the file is not a unit here: each of its lines is
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            self.units += 1
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
    ) -> Document:
        updated, updated_from = parse_iso_date(entry.updated), entry.updated_from or "manifest"
        if updated is None:
            updated, updated_from = date_from_content(text), "content"
        if updated is None and mtime is not None:
            updated, updated_from = datetime.fromtimestamp(mtime, UTC).date(), "file_mtime"
        if updated is None:
            updated_from = "unknown"
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


def _ticket_meta(row: dict[str, object]) -> dict[str, str]:
    meta = {}
    for key, names in TICKET_META_FIELDS.items():
        value = next((row[n] for n in names if row.get(n) not in (None, "")), None)
        if value is not None:
            meta[key] = str(value)[:2000]
    return meta
