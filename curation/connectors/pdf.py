"""PDF: the text layer, page by page (pypdf). One document per file; `meta["page_starts"]` says where each
page begins in the text, so a chunk can cite "report.pdf, page 12" (curation.connectors.location).

Quarantined: a PDF without a text layer (`needs_ocr`: scanned pages are images, and no OCR model runs
here), a password-protected one (`encrypted`), a truncated or damaged one (`corrupt_file`), one with more
pages than `max_pages` (`too_large`, counted from the page tree before any text is extracted).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from io import BytesIO
from typing import Any

from curation.connectors.base import Blob, Context, Item, Part, Unreadable, joined, too_large

MIN_PAGE_CHARS = 20  # a page with less text than this and an image on it is a scan
SCANNED_SHARE = 0.5  # more than this share of scanned pages: the document needs OCR


def parse_pdf(blob: Blob, ctx: Context) -> Iterator[Item]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    if not blob.data.lstrip()[:5] == b"%PDF-":
        raise Unreadable("corrupt_file", "no %PDF- header: not a PDF, or damaged")
    if b"%%EOF" not in blob.data[-2048:]:
        raise Unreadable("corrupt_file", "no %%EOF at the end: the PDF is truncated; copy or export it again")
    try:
        reader = PdfReader(BytesIO(blob.data))
        if reader.is_encrypted and not _opens_without_password(reader):
            raise Unreadable("encrypted", "password-protected PDF: ask its owner for an unprotected copy")
        n_pages = len(reader.pages)
    except (DependencyError, FileNotDecryptedError, NotImplementedError) as exc:
        raise Unreadable("encrypted", f"cannot decrypt this PDF ({exc})") from exc
    except PdfReadError as exc:
        raise Unreadable("corrupt_file", f"pypdf cannot read it: {exc}") from exc
    if n_pages > ctx.limits.max_pages:
        raise too_large("pages", n_pages, ctx.limits.max_pages, "max_pages")
    pages, scanned = [], []
    for number, page in enumerate(reader.pages, 1):
        ctx.check_time(f"page {number}")
        text = (page.extract_text() or "").strip()
        if len(text) < MIN_PAGE_CHARS and _has_image(page):
            scanned.append(number)
        pages.append(text)
    if not any(pages) or len(scanned) > SCANNED_SHARE * n_pages:
        raise Unreadable(
            "needs_ocr",
            f"{len(scanned)} of {n_pages} pages are images without a text layer (a scan): run OCR on it "
            "(ocrmypdf, or the scanner's searchable-PDF setting) and add it again",
        )
    text, starts = joined(pages)
    meta = {"format": "pdf", "pages": str(n_pages), "page_starts": starts}
    if scanned:
        meta["pages_without_text"] = ", ".join(map(str, scanned))
    info: Any = reader.metadata or {}
    title = str(info.get("/Title") or "").strip() or None
    yield Part(text, title=title, meta=meta, **_date(info))


def _opens_without_password(reader: Any) -> bool:
    """An owner password only (printing or copying restricted) opens with the empty user password."""
    return bool(reader.decrypt(""))


def _has_image(page: Any) -> bool:
    resources = page.get("/Resources")
    xobjects = resources.get_object().get("/XObject") if resources else None
    if not xobjects:
        return False
    return any(x.get_object().get("/Subtype") == "/Image" for x in xobjects.get_object().values())


def _date(info: Any) -> dict[str, Any]:
    """The PDF's own modification (or creation) date, `D:YYYYMMDD...` in its Info dictionary."""
    raw = str(info.get("/ModDate") or info.get("/CreationDate") or "")
    digits = raw.removeprefix("D:")[:8]
    try:
        return {
            "updated": date(int(digits[:4]), int(digits[4:6]), int(digits[6:8])),
            "updated_from": "file_metadata",
        }
    except ValueError:
        return {}
