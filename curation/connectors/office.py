"""Word and PowerPoint (OOXML, python-docx and python-pptx), and the ZIP checks every OOXML file passes first.

An OOXML file is a ZIP package. Its central directory says how big every member unpacks to, so a ZIP bomb
disguised as a DOCX is refused (`zip_bomb`) before one byte is inflated; a truncated package has no central
directory (`corrupt_file`). A password-protected Office file is not a ZIP at all but an OLE2 compound file
holding an `EncryptedPackage` stream (MS-OFFCRYPTO 2.3.4): `encrypted`.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from io import BytesIO
from typing import Any

from curation.connectors.base import Blob, Context, Item, Part, Unreadable, joined, too_large

OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")  # directory entry names are UTF-16LE


def checked_zip(blob: Blob, ctx: Context) -> zipfile.ZipFile:
    """The blob as a ZIP package whose central directory passed the size, ratio and entry-count bounds."""
    if blob.data[:8] == OLE2_MAGIC:
        if _ENCRYPTED_PACKAGE in blob.data:
            raise Unreadable(
                "encrypted", "password-protected Office file: ask its owner for an unprotected copy"
            )
        raise Unreadable(
            "unsupported_format", "an Office 97-2003 binary file under an OOXML name: save it as OOXML"
        )
    try:
        package = zipfile.ZipFile(BytesIO(blob.data))
    except zipfile.BadZipFile as exc:
        raise Unreadable("corrupt_file", f"not a complete ZIP package ({exc}): truncated or damaged") from exc
    limits = ctx.limits
    members = package.infolist()
    unpacked = sum(m.file_size for m in members)
    packed = max(1, sum(m.compress_size for m in members))
    if len(members) > limits.max_zip_entries:
        raise Unreadable("zip_bomb", f"{len(members)} members > max_zip_entries {limits.max_zip_entries}")
    if unpacked > limits.max_unzipped_bytes:
        raise Unreadable(
            "zip_bomb", f"unpacks to {unpacked} bytes > max_unzipped_bytes {limits.max_unzipped_bytes}"
        )
    if unpacked > limits.min_ratio_check_bytes and unpacked / packed > limits.max_zip_ratio:
        raise Unreadable(
            "zip_bomb",
            f"unpacks {unpacked / packed:.0f}x ({unpacked} bytes) > max_zip_ratio {limits.max_zip_ratio:g}",
        )
    bad = package.testzip() if unpacked <= limits.min_ratio_check_bytes else None
    if bad is not None:
        raise Unreadable("corrupt_file", f"member {bad} fails its CRC check: the package is damaged")
    return package


def _core(props: Any) -> dict[str, Any]:
    """Title and last-modified date from the package's core properties (docProps/core.xml)."""
    out: dict[str, Any] = {"title": (props.title or "").strip() or None}
    stamp = props.modified or props.created
    if stamp is not None:
        out |= {"updated": stamp.date(), "updated_from": "file_metadata"}
    return out


def parse_docx(blob: Blob, ctx: Context) -> Iterator[Item]:
    import docx
    from docx.table import Table

    checked_zip(blob, ctx)
    document = docx.Document(BytesIO(blob.data))
    lines: list[str] = []
    for section in document.sections:  # headers and footers carry the CONFIDENTIAL markings
        for part in (section.header, section.footer):
            lines += [p.text for p in part.paragraphs if p.text.strip() and p.text not in lines]
    # style names by id, read once: python-docx's `paragraph.style` scans the styles part on every call
    style_names = {s.style_id: s.name or "" for s in document.styles}
    n_tables = 0
    for block in document.iter_inner_content():
        ctx.check_time(f"paragraph {len(lines)}")
        if isinstance(block, Table):
            n_tables += 1
            lines += [" | ".join(_unique(c.text for c in row.cells)) for row in block.rows]
            continue
        level = style_names.get(block._p.style or "", "").removeprefix("Heading ")
        prefix = "#" * int(level) + " " if level.isdigit() else ""
        if block.text.strip():
            lines.append(prefix + block.text)
    meta = {"format": "docx", "paragraphs": str(len(lines)), "tables": str(n_tables)}
    yield Part("\n\n".join(lines), meta=meta, **_core(document.core_properties))


def parse_pptx(blob: Blob, ctx: Context) -> Iterator[Item]:
    import pptx

    checked_zip(blob, ctx)
    deck = pptx.Presentation(BytesIO(blob.data))
    n_slides = len(deck.slides)
    if n_slides > ctx.limits.max_pages:
        raise too_large("slides", n_slides, ctx.limits.max_pages, "max_pages")
    slides = []
    for number, slide in enumerate(deck.slides, 1):
        ctx.check_time(f"slide {number}")
        lines = [f"Slide {number}"]
        for shape in slide.shapes:
            lines += _shape_text(shape)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            lines += [f"Notes: {notes}"] if notes else []
        slides.append("\n".join(lines))
    text, starts = joined(slides)
    core = _core(deck.core_properties)
    meta = {"format": "pptx", "slides": str(n_slides), "slide_starts": starts}
    yield Part(text, meta=meta, **core)


def _shape_text(shape: Any) -> list[str]:
    if shape.shape_type is not None and shape.shape_type == 6:  # MSO_SHAPE_TYPE.GROUP
        return [line for child in shape.shapes for line in _shape_text(child)]
    if getattr(shape, "has_table", False) and shape.has_table:
        return [" | ".join(_unique(c.text for c in row.cells)) for row in shape.table.rows]
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame and shape.text_frame.text.strip():
        return [shape.text_frame.text]
    return []


def _unique(cells: Iterator[str]) -> list[str]:
    """Cell texts in order, merged cells (python-docx repeats them) once."""
    out: list[str] = []
    for text in cells:
        if not out or out[-1] != text:
            out.append(text.strip())
    return out
