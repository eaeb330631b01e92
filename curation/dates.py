"""Dates that documents carry in their own text: changelog trailers, release notes, FOLDOC stamps, tickets.

Content dates beat file times: a copied file's mtime says when it was copied, not when it was written.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime

# Debian changelog trailer: " -- Name <mail>  Mon, 12 Feb 2024 10:00:00 +0100" (Debian Policy 4.4)
_CHANGELOG = re.compile(r"^ -- .+? <[^>]+>\s+(\w{3}, \d{1,2} \w{3} \d{4} [\d:]+ [+-]\d{4})", re.MULTILINE)
# PostgreSQL release notes: "Release date: 2024-08-08"
_RELEASE = re.compile(r"Release date:\s*(\d{4}-\d{2}-\d{2})")
# FOLDOC entries end with "(1997-03-14)"
_FOLDOC = re.compile(r"\((\d{4}-\d{2}-\d{2})\)\s*$")
# Tickets and mails: "Date: 2021-05-04" / "Created: 2021-05-04T10:00"
_LABELLED = re.compile(r"^(?:Date|Created|Updated|Opened|Closed):\s*(\d{4}-\d{2}-\d{2})", re.MULTILINE)


def _iso(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def date_from_content(text: str) -> date | None:
    """The newest date the text states about itself, or None when it states none."""
    found: list[date] = []
    for stamp in _CHANGELOG.findall(text[:200_000]):
        try:
            found.append(parsedate_to_datetime(stamp).date())
        except (TypeError, ValueError):
            continue
    for pattern in (_RELEASE, _LABELLED):
        found.extend(d for d in map(_iso, pattern.findall(text[:200_000])) if d)
    tail = _FOLDOC.search(text[-200:])
    if tail and (d := _iso(tail.group(1))):
        found.append(d)
    return max(found) if found else None


def parse_iso_date(value: object) -> date | None:
    """Manifest dates: ISO date or datetime strings; anything else is no date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return datetime.fromisoformat(value.strip()).date()
    except ValueError:
        return _iso(value.strip()[:10])


# Ticket exports name their timestamps many ways; the newest one is when the ticket last said something.
TICKET_DATE_FIELDS = (
    "updated", "updated_at", "closed", "closed_at", "resolved", "resolved_at", "created", "created_at",
    "timestamp", "date",
)  # fmt: skip
_EPOCH_MS_ABOVE = 100_000_000_000  # larger epoch numbers are milliseconds (year 5138 in seconds)


def parse_timestamp(value: object) -> date | None:
    """A ticket timestamp: ISO date or datetime (with or without a zone, "T" or space), or epoch seconds or
    milliseconds as a number or a digit string (UTC). Anything else is no date."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) >= 9:
        value = int(value.strip())
    if isinstance(value, int | float):
        seconds = value / 1000 if value > _EPOCH_MS_ABOVE else value
        try:
            return datetime.fromtimestamp(seconds, UTC).date()
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value.strip().endswith("Z"):
        value = value.strip()[:-1] + "+00:00"  # Python 3.11 reads "Z"; older exports also write it
    return parse_iso_date(value)


def ticket_date(row: dict[str, object]) -> date | None:
    """The newest timestamp a ticket row carries in any of TICKET_DATE_FIELDS."""
    found = [d for d in (parse_timestamp(row.get(f)) for f in TICKET_DATE_FIELDS) if d is not None]
    return max(found) if found else None
