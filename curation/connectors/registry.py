"""Which parser reads which file: by suffix, and by name for dotfiles (`.env`, `.env.production`)."""

from __future__ import annotations

from collections.abc import Iterator

from curation.connectors.base import Blob, Context, Item, Parser, Unreadable
from curation.connectors.mail import parse_eml, parse_mbox
from curation.connectors.office import parse_docx, parse_pptx
from curation.connectors.outlook import parse_msg
from curation.connectors.pdf import parse_pdf
from curation.connectors.sheets import parse_csv, parse_xlsx
from curation.connectors.text import (
    CONFIG_SUFFIXES,
    HTML_SUFFIXES,
    TEXT_SUFFIXES,
    config_format,
    parse_config,
    parse_html,
    parse_text,
)

PARSERS: dict[str, Parser] = {
    **{suffix: parse_text for suffix in TEXT_SUFFIXES},
    **{suffix: parse_html for suffix in HTML_SUFFIXES},
    **{suffix: parse_config for suffix in CONFIG_SUFFIXES},
    ".pdf": parse_pdf,
    ".docx": parse_docx,
    ".docm": parse_docx,
    ".pptx": parse_pptx,
    ".xlsx": parse_xlsx,
    ".xlsm": parse_xlsx,
    ".csv": parse_csv,
    ".tsv": parse_csv,
    ".eml": parse_eml,
    ".mbox": parse_mbox,
    ".msg": parse_msg,
}
# Formats seen in enterprise folders that no light, well-kept library reads: what to do instead.
UNSUPPORTED_ADVICE = {
    ".doc": "Word 97-2003: save it as .docx",
    ".xls": "Excel 97-2003: save it as .xlsx",
    ".ppt": "PowerPoint 97-2003: save it as .pptx",
}


def parser_for(name: str) -> Parser | None:
    """The parser for a file name; dotfiles only when they are environment files."""
    if name.startswith("."):
        return parse_config if config_format(name) == "env" else None
    suffix = "" if "." not in name else "." + name.rsplit(".", 1)[-1].lower()
    return PARSERS.get(suffix)


def parse_blob(blob: Blob, ctx: Context) -> Iterator[Item]:
    """Any blob through its format's parser (attachments come here too)."""
    parser = parser_for(blob.name)
    if parser is None:
        suffix = blob.suffix or blob.name
        advice = UNSUPPORTED_ADVICE.get(suffix, "convert it to PDF, DOCX, XLSX or text")
        raise Unreadable("unsupported_format", f"suffix {suffix!r}: {advice}")
    if not blob.data.strip():
        raise Unreadable("empty_file", f"{len(blob.data)} bytes, no text")
    yield from parser(blob, ctx)
