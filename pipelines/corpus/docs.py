"""Product documentation: the Python 3.11 and PostgreSQL 15 HTML manuals as Debian ships them, copied as is.

The pages stay HTML because the connector parses HTML; only the title and the date go to the manifest.
"""

from __future__ import annotations

import html
import random
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from pipelines.corpus.debian import package_date, require_package
from pipelines.corpus.model import CorpusFile, seeded_sample

PYTHON_PACKAGE = "python3.11-doc"
PYTHON_HTML = Path("/usr/share/doc/python3.11/html")
# FAQ and tutorial pages are always taken whole: the evaluation questions are written against them.
PYTHON_WHOLE_DIRS = ("faq", "tutorial")
PYTHON_SAMPLED_DIRS = ("library",)

POSTGRES_PACKAGE = "postgresql-doc-15"
POSTGRES_HTML = Path("/usr/share/doc/postgresql-doc-15/html")

MAX_PAGE_BYTES = 400_000  # the book index and the biggest library pages: too long to be one document

_TITLE = re.compile(rb"<title>(.*?)</title>", re.S | re.I)
_PYTHON_TITLE_SUFFIX = re.compile(r"\s+[\u2014-]\s+Python [\d.]+ documentation$")
# "Release date:" is followed by a no-break space and </strong> in the DocBook output.
_RELEASE_DATE = re.compile(r"Release date:(?:\s|&nbsp;|</?strong>)*(\d{4}-\d{2}-\d{2})")
# Reference pages every corpus keeps: the demo's questions and the everyday DBA topics are answered there.
POSTGRES_CORE_PAGES = frozenset({
    "sql-vacuum.html", "routine-vacuuming.html", "sql-createindex.html", "sql-select.html",
    "backup-dump.html", "sql-analyze.html",
})
_RELEASE_PAGE = re.compile(r"^release-15(?:-(\d+))?\.html$")


def html_title(data: bytes) -> str:
    match = _TITLE.search(data)
    if not match:
        return ""
    return " ".join(html.unescape(match[1].decode("utf-8", "replace")).split())


def python_pages(n_pages: int, rng: random.Random) -> Iterator[CorpusFile]:
    """All FAQ and tutorial pages, then a seeded sample of library pages up to `n_pages` in all."""
    root = require_package(PYTHON_HTML, PYTHON_PACKAGE)
    updated = package_date(PYTHON_PACKAGE)
    whole = [p for d in PYTHON_WHOLE_DIRS for p in _pages(root / d)]
    library = [p for d in PYTHON_SAMPLED_DIRS for p in _pages(root / d)]
    chosen = whole[:n_pages] + seeded_sample(library, max(0, n_pages - len(whole)), rng)
    for page in chosen:
        data = page.read_bytes()
        title = _PYTHON_TITLE_SUFFIX.sub("", html_title(data)) or page.stem
        yield _doc("product-docs-python", page.relative_to(root).as_posix(), title, updated, "manifest", data)


def postgres_pages(n_pages: int, n_release_notes: int, rng: random.Random) -> Iterator[CorpusFile]:
    """Release notes (dated by their own "Release date:" line) plus a seeded sample of the other pages."""
    root = require_package(POSTGRES_HTML, POSTGRES_PACKAGE)
    updated = package_date(POSTGRES_PACKAGE)
    pages = _pages(root)
    releases = sorted((p for p in pages if _RELEASE_PAGE.match(p.name)), key=_release_number)
    core = [p for p in pages if p.name in POSTGRES_CORE_PAGES]
    others = [p for p in pages if not _RELEASE_PAGE.match(p.name) and p.name not in POSTGRES_CORE_PAGES]
    n_release_notes = min(n_release_notes, n_pages)
    chosen = (
        _release_sample(releases, n_release_notes, rng)
        + core
        + seeded_sample(others, max(0, n_pages - min(n_release_notes, len(releases)) - len(core)), rng)
    )
    for page in chosen:
        data = page.read_bytes()
        released = release_date(data.decode("utf-8", "replace"))
        yield _doc(
            "product-docs-postgres",
            page.name,
            html_title(data) or page.stem,
            released or updated,
            "content" if released else "manifest",
            data,
        )


def release_date(text: str) -> date | None:
    match = _RELEASE_DATE.search(text)
    return date.fromisoformat(match[1]) if match else None


def _release_sample(releases: list[Path], k: int, rng: random.Random) -> list[Path]:
    # The first release (15.0) and the newest minor are always in: they bound the ages an age scorer sees.
    if k >= len(releases) or k < 2:
        return releases[:k]
    return [releases[0], *seeded_sample(releases[1:-1], k - 2, rng), releases[-1]]


def _release_number(page: Path) -> int:
    match = _RELEASE_PAGE.match(page.name)
    return int(match[1]) if match and match[1] else 0


def _pages(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.html") if p.stat().st_size <= MAX_PAGE_BYTES)


def _doc(source: str, rel: str, title: str, updated: date, updated_from: str, data: bytes) -> CorpusFile:
    return CorpusFile(f"{source}/{rel}", title, source, "product_docs", updated, updated_from, data)
