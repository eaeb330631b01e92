"""Questions and answers a page holds: FAQ entries of a Sphinx FAQ page (the Python FAQ), one (anchor,
question, answer) per leaf section, and the definition of a FOLDOC entry.

Shared by the evaluation's question sets (eval.build_qa) and the fine-tuning data (pipelines.training.data),
so both read the same pages the same way.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator

from bs4 import BeautifulSoup, Tag

from curation.html_text import html_to_text

_HEADINGS = ["h1", "h2", "h3", "h4", "h5", "h6"]
_FOLDOC_CATEGORY = re.compile(r"^\s*<[^>]*>\s*")  # "<networking, protocol>" opens the definition
_FOLDOC_LINK = re.compile(r"[{}]")  # {cross reference} brackets
_FOLDOC_DATE = re.compile(r"\s*\(\d{4}-\d{2}-\d{2}\)\s*$")


def faq_sections(html: str) -> Iterator[tuple[str, str, str]]:
    """(anchor, question, answer) for each leaf section of a FAQ page that has text of its own.

    A leaf section (no section inside) is one FAQ entry; the sections above it are only topic headings
    ("Core Language"). A few entries are phrased as statements ("I try to use __spam and I get an error"):
    they are still the page's questions, so they are kept as written.
    """
    soup = BeautifulSoup(html, "html.parser")
    for section in soup.find_all("section"):
        if not isinstance(section, Tag) or section.find("section") is not None:
            continue
        heading = section.find(_HEADINGS)
        if heading is None or heading.name == "h1":  # h1 = the page itself (faq/index.html)
            continue
        question = " ".join(heading.get_text("").replace("\u00b6", "").split())
        answer = _section_text(section, heading)
        if question and answer:
            yield str(section.get("id", "")), question, answer


def _section_text(section: Tag, heading: Tag) -> str:
    body = copy.copy(section)
    first = body.find(heading.name)
    if first is not None:
        first.decompose()
    _, text = html_to_text(str(body))
    return " ".join(text.split())


def foldoc_definition(entry: str) -> str:
    """The definition: the entry without its headword and alias lines (all before the first blank line),
    its category tag, link brackets and closing date."""
    body = entry.split("\n\n", 1)[1] if "\n\n" in entry else entry.split("\n", 1)[-1]
    body = _FOLDOC_CATEGORY.sub("", _FOLDOC_LINK.sub("", body))
    return _FOLDOC_DATE.sub("", " ".join(body.split()))
