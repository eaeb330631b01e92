"""Is this sheet a list of people? A contact export, a staff list or an HR sheet is personal data as a whole:
redacting its e-mail and phone cells would still leave a list of who works or buys where. The sheets
connector asks this of every CSV and sheet, and records a hit in the document's metadata
(`meta["people_table"]`, JSON); the sensitive scorer turns it into the reason `pii_people_table`.

The rule (docs/formats.md), over the header row and the data rows below it:
- at least MIN_PEOPLE_ROWS data rows (one person's row is a form, and its cells are scored one by one), and
- by header: its column names cover at least MIN_PERSONAL_KINDS kinds of personal data, one of them a
  person's identity (a name or an employee id): `name, email`, `employee id, date of birth`, not
  `name, price` (a product's name) nor `sku, email`; or
- by content: at least MIN_CONTACT_SHARE of the data rows hold a cell that is wholly an e-mail address or a
  phone number (a header-less export, or one with odd column names). A price list with one support address
  has a share of 1/N.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

MIN_PEOPLE_ROWS = 3  # data rows; below it the per-cell findings (pii_email, pii_phone) decide alone
MIN_PERSONAL_KINDS = 2  # personal kinds among the column names, one an identity (name or employee id)
MIN_CONTACT_SHARE = 0.5  # share of data rows with an e-mail or phone cell: "most rows"

# Column-name patterns per kind of personal data, matched on the lowercased name with every run of
# non-letters-or-digits turned into one space. The first kind that matches a column is its kind.
COLUMN_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("email", r"\be ?mail\b"),
        ("phone", r"\b(phone|telephone|tel|mobile|cell|fax)\b"),
        ("employee_id", r"\b(employee|staff|personnel|payroll|badge) (id|no|number)\b|^(emp ?id|ssn)$"),
        ("birth_date", r"\b(date of birth|birth ?date|birthday|dob)\b"),
        (
            "address",
            r"^((home|street|postal|mailing|private) )?address( line \d)?$|^(street|post ?code|zip)$",
        ),
        ("salary", r"\b(salary|wage|compensation)\b"),
        (
            "name",
            r"^((full|first|last|given|family|middle|display|contact|employee|person|customer) )?name$"
            r"|^(surname|forename|employee|contact|person)$",
        ),
    )
)
IDENTITY_KINDS = frozenset({"name", "employee_id"})
_NON_WORD = re.compile(r"[^a-z0-9]+")
_EMAIL_CELL = re.compile(r"([^<>@]*<)?[^@\s<>]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}>?", re.IGNORECASE)
# A phone number cell: digits with the usual separators, 9-15 digits (E.164 holds at most 15; 8-digit dates
# are too short), and either a leading + or ( or at least three digit groups (so 3.14159265 is no phone).
_PHONE_CELL = re.compile(r"\+?\(?\d[\d ().-]*\d(\s*(x|ext\.?)\s*\d{1,5})?", re.IGNORECASE)
_DIGIT_GROUPS = re.compile(r"\d+")


def column_kind(name: str) -> str | None:
    """The kind of personal data a column's name says it holds, or None."""
    words = _NON_WORD.sub(" ", name.lower()).strip()
    return next((kind for kind, pattern in COLUMN_KINDS if pattern.search(words)), None)


def is_contact_cell(cell: str) -> bool:
    """A cell that is wholly an e-mail address or a phone number."""
    if _EMAIL_CELL.fullmatch(cell):
        return True
    if not _PHONE_CELL.fullmatch(cell):
        return False
    number = cell.lower().split("x", 1)[0]
    groups = _DIGIT_GROUPS.findall(number)
    digits = sum(len(g) for g in groups)
    return 9 <= digits <= 15 and (number.startswith(("+", "(")) or len(groups) >= 3)


@dataclass(slots=True)
class PeopleCounter:
    """Fed a sheet's header, then its data rows one at a time (no cells kept: a sheet may hold 100k rows)."""

    header: Sequence[str] = ()
    rows: int = 0
    contact_rows: int = 0
    kinds: dict[str, str] = field(default_factory=dict)  # column name -> personal kind

    def set_header(self, header: Sequence[str]) -> None:
        self.header = header
        self.kinds = {name: kind for name in header if (kind := column_kind(name)) is not None}

    def add_row(self, cells: Sequence[str]) -> None:
        self.rows += 1
        if any(is_contact_cell(cell) for cell in cells if cell):
            self.contact_rows += 1

    def verdict(self) -> dict[str, object] | None:
        """What meta["people_table"] records ("rule": "header" or "contacts"), or None for no people table."""
        if self.rows < MIN_PEOPLE_ROWS:
            return None
        kinds = set(self.kinds.values())
        share = self.contact_rows / self.rows
        if len(kinds) >= MIN_PERSONAL_KINDS and kinds & IDENTITY_KINDS:
            rule = "header"
        elif share >= MIN_CONTACT_SHARE:
            rule = "contacts"
        else:
            return None
        return {
            "rows": self.rows,
            "columns": list(self.kinds),
            "contact_share": round(share, 3),
            "rule": rule,
        }


def people_meta(found: Sequence[dict[str, object]]) -> dict[str, str]:
    """meta["people_table"] for a file's people tables (a CSV's one, a workbook's per sheet), else {}: the
    rows and personal columns of them all, and for a workbook the sheets they are on."""
    if not found:
        return {}
    columns = list(dict.fromkeys(c for table in found for c in _strings(table["columns"])))
    merged: dict[str, object] = {"rows": sum(int(str(t["rows"])) for t in found), "columns": columns}
    if sheets := [str(t["sheet"]) for t in found if "sheet" in t]:
        merged["sheets"] = sheets
    merged["rule"] = ",".join(sorted({str(t["rule"]) for t in found}))
    return {"people_table": json.dumps(merged)}


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []
