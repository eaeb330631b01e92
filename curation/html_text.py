"""HTML pages to readable text, dropping navigation and scripts (Sphinx and DocBook pages carry a lot).

Text is joined without separators inside inline elements (syntax-highlighted code is one <span> per token)
and with a newline after each block element, so a code line stays one line.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup

_DROP = ["script", "style", "nav", "header", "footer", "noscript"]
_DROP_CLASSES = ["related", "sphinxsidebar", "navheader", "navfooter", "footer", "headerlink"]
_BLOCKS = [
    "p",
    "div",
    "pre",
    "li",
    "dt",
    "dd",
    "tr",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "section",
    "ul",
    "ol",
    "dl",
    "title",
]
_BLANKS = re.compile(r"\n\s*\n\s*\n+")
_SPACES = re.compile(r"[ \t\r\f\v]+")


def html_to_text(html: str) -> tuple[str | None, str]:
    """Return (title, text) of an HTML page."""
    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for tag in soup(_DROP):
        tag.decompose()
    for cls in _DROP_CLASSES:
        for tag in soup.select(f".{cls}"):
            tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for tag in soup.find_all(["td", "th"]):
        tag.append(" ")
    for tag in soup.find_all(_BLOCKS):
        tag.append("\n")
    body = soup.body or soup
    lines = (_SPACES.sub(" ", line).strip() for line in body.get_text("").splitlines())
    return title, _BLANKS.sub("\n\n", "\n".join(lines)).strip()
