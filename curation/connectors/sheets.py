"""Spreadsheets (XLSX through openpyxl in read-only mode) and CSV/TSV (stdlib csv), as text a model reads.

Every row becomes one line that names its columns, so a chunk cut from the middle of a sheet still says what
each value is:

    Sheet: Contacts
    row 2: name=Ana Lopez; email=ana@example.org; phone=+34 600 000 000

Row numbers are the spreadsheet's own (the header is row 1), so a citation matches what Excel shows.
A sheet that declares more than `max_rows` rows (its dimension, empty formatted rows too) is quarantined
`too_large` before its rows are read. A CSV or sheet whose rows are people (curation.connectors.people) is
recorded in `meta["people_table"]`, so the sensitive scorer can exclude it as a whole.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from io import BytesIO
from typing import Any

from curation.connectors.base import Blob, Context, Item, Part, Unreadable, joined, too_large
from curation.connectors.office import checked_zip
from curation.connectors.people import PeopleCounter, people_meta
from curation.connectors.text import read_text

SNIFF_CHARS = 16_384


def rows_as_text(
    rows: Iterable[tuple[int, Sequence[Any]]], ctx: Context, where: str, people: PeopleCounter
) -> tuple[list[str], int]:
    """`row N: header=value; ...` lines from (row number, values); the first non-empty row is the header.
    `people` sees the header and every data row."""
    header: list[str] | None = None
    lines: list[str] = []
    n_rows = 0
    for number, values in rows:
        n_rows += 1
        if n_rows > ctx.limits.max_rows:
            raise too_large(f"rows in {where}", n_rows, ctx.limits.max_rows, "max_rows")
        if n_rows % 1000 == 0:
            ctx.check_time(f"{where} row {number}")
        cells = ["" if v is None else str(v).strip() for v in values]
        if not any(cells):
            continue
        if header is None:
            header = [c or f"col{i + 1}" for i, c in enumerate(cells)]
            lines.append("columns: " + "; ".join(header))
            people.set_header(header)
            continue
        people.add_row(cells)
        names = header + [f"col{i + 1}" for i in range(len(header), len(cells))]
        pairs = "; ".join(f"{name}={cell}" for name, cell in zip(names, cells, strict=False) if cell)
        lines.append(f"row {number}: {pairs}")
    return lines, n_rows


def parse_csv(blob: Blob, ctx: Context) -> Iterator[Item]:
    text, encoding = read_text(blob, ctx)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:SNIFF_CHARS], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel_tab if blob.suffix == ".tsv" else csv.excel
    try:
        rows = enumerate(csv.reader(text.splitlines(), dialect), 1)
        people = PeopleCounter()
        lines, n_rows = rows_as_text(rows, ctx, blob.name, people)
    except csv.Error as exc:
        raise Unreadable("corrupt_file", f"not CSV: {exc}") from exc
    meta = {"format": "csv", "encoding": encoding, "rows": str(n_rows)}
    if lines:
        meta["columns"] = lines[0].removeprefix("columns: ")
    verdict = people.verdict()
    meta |= people_meta([verdict] if verdict else [])
    yield Part("\n".join(lines), meta=meta)


def parse_xlsx(blob: Blob, ctx: Context) -> Iterator[Item]:
    import openpyxl

    checked_zip(blob, ctx)
    book = openpyxl.load_workbook(BytesIO(blob.data), read_only=True, data_only=True)
    try:
        sheets, names, found = [], [], []
        for sheet in book.worksheets:
            declared = sheet.max_row or 0  # from the sheet's <dimension>: no row read yet
            if declared > ctx.limits.max_rows:
                raise too_large(
                    f"rows declared in sheet {sheet.title!r}", declared, ctx.limits.max_rows, "max_rows"
                )
            rows = enumerate(sheet.iter_rows(values_only=True), sheet.min_row or 1)  # gaps come as empty rows
            people = PeopleCounter()
            lines, _ = rows_as_text(rows, ctx, f"sheet {sheet.title}", people)
            if verdict := people.verdict():
                found.append(verdict | {"sheet": sheet.title})
            if lines:
                sheets.append("\n".join([f"Sheet: {sheet.title}", *lines]))
                names.append(sheet.title)
        text, starts = joined(sheets)
        meta = {"format": "xlsx", "sheets": json.dumps(names), "sheet_starts": starts} | people_meta(found)
        props = book.properties
        stamp = props.modified or props.created
        extra: dict[str, Any] = {"updated": stamp.date(), "updated_from": "file_metadata"} if stamp else {}
        yield Part(text, title=(props.title or "").strip() or None, meta=meta, **extra)
    finally:
        book.close()
