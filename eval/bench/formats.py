"""Format parsing: documents (and pages) per second per format on this CPU, and the share of the source text
that survives extraction.

    .venv/bin/python -m eval.bench.formats                # ~1 s of parsing per format
    .venv/bin/python -m eval.bench.formats --seconds 3 --json out.json

Each sample is built from real Debian documentation by pipelines.fixtures.formats (the Python tutorial's
reST, PostgreSQL's numeric-types page and its tables, Debian's release CSV, python3.11-doc changelogs as
mail, the configparser manual's INI example; the shared-mime-info spec as shipped in both PDF and HTML), so
the source text is known: "text kept" is the share of the source's words (as a multiset) found in the
extracted text (for the shipped spec PDF, its HTML twin). The shipped libtasn1 PDF has no source here: its
speed is printed alone.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

from curation.connectors import Blob, Context, Limits, Part, parse_blob
from curation.html_text import html_to_text
from pipelines.fixtures import formats as fx

_WORD = re.compile(r"\w+")


def samples() -> list[tuple[str, str, bytes, str | None]]:
    """(format, file name, bytes, source text or None) for each format."""
    tutorial = fx.rst_blocks(fx._source(fx.TUTORIAL_RST) / "controlflow.rst.txt")
    numeric = fx._source(fx.NUMERIC_HTML)
    sections = fx.html_sections(numeric)
    tables = fx.html_tables(numeric)
    config = fx.ini_sections()
    spec_pages = sorted(fx._source(fx.MIME_SPEC_PDF).with_suffix(".html").glob("*.html"))  # a folder of pages
    spec_text = "\n".join(html_to_text(p.read_text(encoding="utf-8"))[1] for p in spec_pages)
    mail = fx.changelog_mails(1)[0]
    prose = "\n".join(text for _, text in tutorial)
    csv_bytes = fx._source(fx.DEBIAN_CSV).read_bytes()
    cells = lambda rows: "\n".join(" ".join(map(str, row)) for row in rows)  # noqa: E731
    return [
        ("pdf (text layer)", "tutorial.pdf", fx.text_pdf(fx._wrapped(prose), "Tutorial"), prose),
        ("pdf (libtasn1, shipped)", "libtasn1.pdf", fx._source(fx.LIBTASN1_PDF).read_bytes(), None),
        (
            "pdf (mime spec, shipped)",
            "spec.pdf",
            fx._source(fx.MIME_SPEC_PDF).read_bytes(),
            spec_text,
        ),
        ("docx", "tutorial.docx", fx.docx_bytes(tutorial, "Tutorial"), prose),
        (
            "pptx",
            "numeric.pptx",
            fx.pptx_bytes([(h, p, "") for h, p in sections], "Numeric"),
            "\n".join(f"{h}\n" + "\n".join(p) for h, p in sections),
        ),
        (
            "xlsx",
            "numeric.xlsx",
            fx.xlsx_bytes(tables, "Numeric"),
            "\n".join(cells(r) for r in tables.values()),
        ),
        ("csv", "debian.csv", csv_bytes, csv_bytes.decode().replace(",", " ")),
        ("eml", "mail.eml", fx._mail_bytes(mail), str(mail.get_content())),
        ("mbox", "mail.mbox", fx.mbox_bytes(fx.changelog_mails(5)), None),
        ("yaml", "hosts.yaml", fx._yaml(config).encode(), fx._yaml(config)),
    ]


def kept(source: str, text: str) -> float:
    want, got = Counter(_WORD.findall(source.lower())), Counter(_WORD.findall(text.lower()))
    return sum((want & got).values()) / max(1, sum(want.values()))


def bench(name: str, data: bytes, seconds: float) -> tuple[float, float, str]:
    """Documents per second, pages (or slides, rows) per second, and the text of one parse."""
    n, start, text, pages = 0, time.perf_counter(), "", 1
    while time.perf_counter() - start < seconds or n == 0:
        ctx = Context(Limits(), time.monotonic() + 60, 60.0, parse_child=parse_blob)
        parts = [p for p in parse_blob(Blob(name, data), ctx) if isinstance(p, Part)]
        text = "\n".join(p.text for p in parts)
        meta = parts[0].meta
        pages = int(meta.get("pages") or meta.get("slides") or meta.get("rows") or len(parts))
        n += 1
    elapsed = time.perf_counter() - start
    return n / elapsed, n * pages / elapsed, text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="format parsing speed and text kept")
    parser.add_argument("--seconds", type=float, default=1.0, help="parsing time per format")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    print(f"{'format':26s} {'docs/s':>8s} {'units/s':>9s} {'text kept':>9s}")
    for fmt, name, data, source in samples():
        docs_s, units_s, text = bench(name, data, args.seconds)
        share = kept(source, text) if source is not None else None
        rows.append({"format": fmt, "docs_per_s": docs_s, "units_per_s": units_s, "text_kept": share})
        shown = f"{share:9.1%}" if share is not None else f"{'n/a':>9s}"
        print(f"{fmt:26s} {docs_s:8.1f} {units_s:9.1f} {shown}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
