"""Support tickets: Debian changelog entries of the packages installed here, one .txt per entry.

A changelog entry reads like a closed ticket: what broke, what was done, who did it, and when. The
maintainer's name and e-mail in the trailer are real personal data that the PII scorer has to find.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

from pipelines.corpus.debian import ChangelogEntry, installed_changelogs, read_changelog
from pipelines.corpus.model import CorpusFile, CorpusSourceMissing

SOURCE = "tickets-changelogs"
# Entries looked at per package: the newest is always taken, older ones are drawn from this window so the
# tickets span years of dates (an age scorer needs stale ones) without inflating a 10 MB kernel changelog.
ENTRY_WINDOW = 60
MAX_TITLE_CHARS = 100

_VERSION_UNSAFE = re.compile(r"[^A-Za-z0-9.+-]+")


def ticket_files(n_entries: int, per_package: int, rng: random.Random) -> Iterator[CorpusFile]:
    """Up to `n_entries` tickets from a seeded order of packages, at most `per_package` from each."""
    changelogs = installed_changelogs()
    if not changelogs:
        raise CorpusSourceMissing("no /usr/share/doc/*/changelog.Debian.gz on this machine: is this Debian?")
    rng.shuffle(changelogs)
    seen: set[str] = set()
    written = 0
    for path in changelogs:
        for entry in _pick(read_changelog(path, ENTRY_WINDOW), per_package, rng):
            name = f"{entry.package}_{_VERSION_UNSAFE.sub('_', entry.version)}"
            # Binary packages of one source share a changelog under different names: one ticket per entry.
            if name in seen:
                continue
            seen.add(name)
            yield _ticket(name, entry)
            written += 1
            if written >= n_entries:
                return


def ticket_title(entry: ChangelogEntry) -> str:
    subject = entry.first_change or entry.distribution
    title = f"{entry.package} {entry.version}: {subject}"
    return title if len(title) <= MAX_TITLE_CHARS else title[: MAX_TITLE_CHARS - 1].rstrip() + "\u2026"


def _pick(entries: list[ChangelogEntry], k: int, rng: random.Random) -> list[ChangelogEntry]:
    if not entries or k <= 0:
        return []
    older = entries[1:]
    return [entries[0], *rng.sample(older, min(k - 1, len(older)))]


def _ticket(name: str, entry: ChangelogEntry) -> CorpusFile:
    return CorpusFile(
        f"{SOURCE}/{name}.txt",
        ticket_title(entry),
        SOURCE,
        "support_ticket",
        entry.date,
        "content",
        entry.text.encode("utf-8"),
    )
