"""Debian packages as a data source: is a package installed, its date, and its changelog entries.

A changelog entry is the format of Debian Policy 5.6.12 (deb-changelog(5)):

    package (version) distribution; urgency=medium

      * change details

     -- Maintainer Name <email>  Wed, 07 Oct 2026 14:35:07 +0200
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from pipelines.corpus.model import CorpusSourceMissing

DOC_ROOT = Path("/usr/share/doc")

# dpkg-parsechangelog's header and trailer patterns, loosened to what old entries really hold (one space
# before the date, a tab, names without a space). The trailer must hold an e-mail address: third-party
# repositories (Google's Cloud SDK) put a URL there, and a ticket without its maintainer's e-mail would
# plant no personal data.
_HEADER = re.compile(
    r"^(?P<package>\w[-+0-9a-z.]*) \((?P<version>[^()\s]+)\) (?P<dist>[^;]+);(?P<rest>.*)$", re.IGNORECASE
)
_TRAILER = re.compile(r"^ -- (?P<name>.*?) ?<(?P<email>[^<>@\s]+@[^<>@\s]+)>\s+(?P<date>\S.*?)\s*$")


@dataclass(slots=True, frozen=True)
class ChangelogEntry:
    """One changelog entry, with its text exactly as the package ships it (maintainer e-mail included)."""

    package: str
    version: str
    distribution: str
    maintainer: str
    email: str
    when: datetime
    text: str

    @property
    def date(self) -> date:
        # The date as the maintainer wrote it, in their own time zone.
        return self.when.date()

    @property
    def first_change(self) -> str:
        """The first bullet's first line, the nearest thing an entry has to a subject line."""
        for line in self.text.splitlines()[1:]:
            stripped = line.strip()
            if stripped.startswith(("*", "-", "+")):
                return stripped.lstrip("*-+ ").strip()
            if stripped and not stripped.startswith(("[", "--")):
                return stripped
        return ""


def require_package(path: Path, package: str) -> Path:
    """Fail at once, before anything is written, when the package that provides `path` is not installed."""
    if not path.exists():
        raise CorpusSourceMissing(
            f"{package} is not installed ({path} is missing): apt-get install {package}"
        )
    return path


def package_changelog(package: str) -> Path:
    return require_package(DOC_ROOT / package / "changelog.Debian.gz", package)


def package_date(package: str) -> date:
    """The date of the package's newest changelog entry: the best date its shipped documents have."""
    entries = read_changelog(package_changelog(package), max_entries=1)
    if not entries:
        raise CorpusSourceMissing(f"{package}: no dated entry in {package_changelog(package)}")
    return entries[0].date


def installed_changelogs() -> list[Path]:
    """Every changelog.Debian.gz on this machine, once each (doc dirs are often symlinks to a sibling's)."""
    seen: dict[Path, Path] = {}
    for path in sorted(DOC_ROOT.glob("*/changelog.Debian.gz")):
        seen.setdefault(path.resolve(), path)
    return sorted(seen.values())


def read_changelog(path: Path, max_entries: int) -> list[ChangelogEntry]:
    """The newest `max_entries` well-formed entries; entries with an unreadable date or bytes are skipped.

    Reading stops early, so a 10 MB kernel changelog costs no more than a short one.
    """
    entries: list[ChangelogEntry] = []
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as lines:
        for entry in _parse(lines):
            entries.append(entry)
            if len(entries) >= max_entries:
                break
    return entries


def _parse(lines: Iterator[str]) -> Iterator[ChangelogEntry]:
    header: re.Match[str] | None = None
    body: list[str] = []
    for raw in lines:
        line = raw.rstrip("\n")
        match = _HEADER.match(line)
        if match:
            header, body = match, [line]
            continue
        if header is None:
            continue
        body.append(line)
        trailer = _TRAILER.match(line)
        if trailer:
            entry = _entry(header, trailer, body)
            header, body = None, []
            if entry is not None:
                yield entry


def _entry(header: re.Match[str], trailer: re.Match[str], body: list[str]) -> ChangelogEntry | None:
    text = "\n".join(body).strip("\n") + "\n"
    # A replacement character means the entry was not UTF-8 (old Latin-1 entries): the broken/ folder
    # plants encoding faults on purpose; the tickets must be clean text.
    if "\ufffd" in text:
        return None
    try:
        when = parsedate_to_datetime(trailer["date"])
    except (TypeError, ValueError, IndexError):
        return None
    return ChangelogEntry(
        package=header["package"],
        version=header["version"],
        distribution=header["dist"].strip(),
        maintainer=trailer["name"].strip(),
        email=trailer["email"].strip(),
        when=when,
        text=text,
    )
