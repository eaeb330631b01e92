"""Build the labelled relevance set (eval/relevance_set/relevance_set.jsonl) from Debian packages.

    .venv/bin/python -m eval.relevance_set.build          # rewrites eval/relevance_set/relevance_set.jsonl
    .venv/bin/python -m eval.relevance_set.measure        # the relevance scorer's figures on both splits

Each item: id, split ("tuning" | "heldout"), source, label (true = on-domain IT/software text), text. The two
splits come from different packages, so a figure on the held-out split is measured on text that nothing was
tuned on:

- tuning, on-domain: python3.11-doc (FAQ, tutorial, library pages), dict-foldoc, Debian changelog entries;
- tuning, off-domain: fortunes (food, sports, love, pets, kids, drugs, wisdom, humorists, education, work);
- held-out, on-domain: postgresql-doc-15 pages, Linux man pages (manpages, manpages-dev: sections 2, 5, 7);
- held-out, off-domain: dict-devil (Bierce's Devil's Dictionary), fortunes (literature, politics, people,
  law, medicine, songs-poems, art, news).

The fortune files about computing (computers, linux, debian, perl, tao, ...) are in neither split. An
on-domain item is a paragraph run of a page (300-1200 characters, as the scorer reads a document's head); an
off-domain item is a "page" of consecutive fortunes or dictionary entries joined to the same size. Sampling is
seeded (one generator per source), so a machine with the same packages rebuilds the set byte for byte; the
committed JSONL is the reference.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("relevance_set.jsonl")
SEED = 20261202
FORTUNES = Path("/usr/share/games/fortunes")
DEVIL_DICT = Path("/usr/share/dictd/devil.dict.dz")
DEVIL_INDEX = Path("/usr/share/dictd/devil.index")
MAN_ROOT = Path("/usr/share/man")
MAN_SECTIONS = ("man2", "man5", "man7")
TUNING_FORTUNES = (
    "food",
    "sports",
    "love",
    "pets",
    "kids",
    "drugs",
    "wisdom",
    "humorists",
    "education",
    "work",
)
HELDOUT_FORTUNES = ("literature", "politics", "people", "law", "medicine", "songs-poems", "art", "news")
PAGE_CHARS = (300, 1200)  # an item's size: short pieces dropped, long ones cut (the scorer reads ~1000)
# items per (split, source)
N_ITEMS = {
    ("tuning", "python_docs"): 60,
    ("tuning", "foldoc"): 50,
    ("tuning", "changelog"): 50,
    ("tuning", "fortunes_tuning"): 160,
    ("heldout", "postgres_docs"): 80,
    ("heldout", "man_pages"): 80,
    ("heldout", "devil"): 80,
    ("heldout", "fortunes_heldout"): 80,
}


def build(seed: int = SEED) -> list[dict[str, Any]]:
    sections = {
        "python_docs": (True, _python_texts),
        "foldoc": (True, _foldoc_texts),
        "changelog": (True, _changelog_texts),
        "fortunes_tuning": (False, lambda rng: _fortune_pages(TUNING_FORTUNES, rng)),
        "postgres_docs": (True, _postgres_texts),
        "man_pages": (True, _man_texts),
        "devil": (False, _devil_pages),
        "fortunes_heldout": (False, lambda rng: _fortune_pages(HELDOUT_FORTUNES, rng)),
    }
    items: list[dict[str, Any]] = []
    for (split, source), n in N_ITEMS.items():
        label, texts = sections[source]
        rng = random.Random(f"{seed}:{source}")  # one generator per source: one section never shifts another
        pool = sorted(set(texts(rng)))
        for text in rng.sample(pool, min(n, len(pool))):
            items.append({"id": f"{source}-{len(items):04d}", "split": split, "source": source,
                          "label": label, "text": text})  # fmt: skip
    return items


# --- on-domain --------------------------------------------------------------------------------------------


def _pages_paragraphs(texts: Iterator[str]) -> Iterator[str]:
    from eval.pii_set.build import _paragraphs

    for text in texts:
        yield from _paragraphs(text)


def _html_texts(paths: list[Path]) -> Iterator[str]:
    from curation.html_text import html_to_text

    for path in paths:
        yield html_to_text(path.read_text("utf-8", "replace"))[1]


def _python_texts(rng: random.Random) -> Iterator[str]:
    from pipelines.fixtures.debian import require_package
    from pipelines.fixtures.docs import PYTHON_HTML, PYTHON_PACKAGE

    require_package(PYTHON_HTML, PYTHON_PACKAGE)
    pages = [p for d in ("faq", "tutorial") for p in sorted((PYTHON_HTML / d).glob("*.html"))]
    pages += rng.sample(sorted((PYTHON_HTML / "library").glob("*.html")), 60)
    return _pages_paragraphs(_html_texts(pages))


def _postgres_texts(rng: random.Random) -> Iterator[str]:
    from pipelines.fixtures.debian import require_package
    from pipelines.fixtures.docs import POSTGRES_HTML, POSTGRES_PACKAGE

    pages = sorted(require_package(POSTGRES_HTML, POSTGRES_PACKAGE).glob("*.html"))
    return _pages_paragraphs(_html_texts(rng.sample(pages, 150)))


def _foldoc_texts(rng: random.Random) -> Iterator[str]:
    from pipelines.fixtures.foldoc import read_entries

    # dated entries: the undated fifth are redirects and stubs ("ASE: 1. {Advanced ...}")
    entries = [e for e in read_entries() if e.updated and len(e.text) >= PAGE_CHARS[0]]
    return (e.text[: PAGE_CHARS[1]] for e in rng.sample(entries, 300))


def _changelog_texts(rng: random.Random) -> Iterator[str]:
    from pipelines.fixtures.debian import installed_changelogs, read_changelog

    paths = rng.sample(installed_changelogs(), 200)
    for path in paths:
        for entry in read_changelog(path, 2):
            if len(entry.text) >= PAGE_CHARS[0]:
                yield entry.text[: PAGE_CHARS[1]]


_ROFF_TEXT_MACROS = re.compile(r"^\.(?:B|I|BR|RB|IR|RI|BI|IB|SH|SS|TP|IP)\b ?(.*)$")
_ROFF_ESCAPES = re.compile(r"\\f(?:\[[A-Z]*\]|[BIRPC])|\\\[[a-z]+\]|\\\(..|\\[&%]|\\[-e]")


def roff_to_text(source: str) -> str:
    """A man page's prose, roughly: text lines and the arguments of font and heading macros kept, other
    requests and comments dropped, font and character escapes removed (no groff run: fast, locale-free)."""
    lines = []
    for line in source.splitlines():
        if line.startswith(('.\\"', "'\\\"")):
            continue
        if line.startswith("."):
            found = _ROFF_TEXT_MACROS.match(line)
            if not found:
                if line.startswith((".PP", ".LP", ".P ")):  # a paragraph break
                    lines.append("")
                continue
            line = found.group(1).replace('"', "")
        lines.append(_ROFF_ESCAPES.sub(lambda m: "-" if m.group(0) == "\\-" else "", line))
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", re.sub(r"[^\S\n]+", " ", text)).strip()


def _man_texts(rng: random.Random) -> Iterator[str]:
    from pipelines.fixtures.debian import require_package

    require_package(MAN_ROOT / "man7" / "epoll.7.gz", "manpages")
    pages = sorted(p for section in MAN_SECTIONS for p in (MAN_ROOT / section).glob("*.gz") if p.is_file())
    for page in rng.sample(pages, min(250, len(pages))):
        source = gzip.decompress(page.read_bytes()).decode("utf-8", "replace")
        if not source.lstrip().startswith(".so "):  # ".so man2/other.2": an alias page, no text of its own
            yield from _pages_paragraphs(iter([roff_to_text(source)]))


# --- off-domain -------------------------------------------------------------------------------------------


def _join_pages(pieces: list[str]) -> Iterator[str]:
    """Consecutive pieces (fortunes, dictionary entries) joined into pages of PAGE_CHARS."""
    page = ""
    for piece in pieces:
        if page and len(page) + len(piece) > PAGE_CHARS[1]:
            if len(page) >= PAGE_CHARS[0]:
                yield page
            page = ""
        page = f"{page}\n\n{piece}" if page else piece[: PAGE_CHARS[1]]
    if len(page) >= PAGE_CHARS[0]:
        yield page


def _fortune_pages(files: tuple[str, ...], rng: random.Random) -> Iterator[str]:
    from pipelines.fixtures.debian import require_package

    for name in files:
        path = require_package(FORTUNES / name, "fortunes")
        cookies = [c.strip() for c in re.split(r"(?m)^%$", path.read_text("utf-8", "replace")) if c.strip()]
        yield from _join_pages(cookies)


def _devil_pages(rng: random.Random) -> Iterator[str]:
    from pipelines.fixtures.foldoc import read_dictd

    entries = read_dictd(DEVIL_DICT, DEVIL_INDEX, "dict-devil")
    words = [e.text.strip() for e in entries if not e.headword.isupper() or len(e.headword) > 1]
    return _join_pages(words[1:])  # the first record is the edition's preface


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--seed", type=int, default=SEED)
    args = p.parse_args(argv)
    items = build(args.seed)
    args.out.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    counts: dict[str, int] = {}
    for item in items:
        key = f"{item['split']}/{item['source']}"
        counts[key] = counts.get(key, 0) + 1
    print(f"{len(items)} items -> {args.out}: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
