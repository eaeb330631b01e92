"""A CSV or sheet of people is personal data as a whole: the sheets connector records it
(curation.connectors.people), the sensitive scorer gives `pii_people_table`, and policy.toml excludes it,
where redacting its e-mail and phone cells alone would have left a "safe" list of names."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from faker import Faker

from curation.connectors import FolderConnector
from curation.connectors.people import (
    MIN_PEOPLE_ROWS,
    PeopleCounter,
    column_kind,
    is_contact_cell,
)
from curation.models import Document
from curation.sources import load_registry
from pipelines.cli.main import main

REPO = Path(__file__).resolve().parents[2]
BORN_FROM, BORN_TO = date(1960, 1, 1), date(2004, 12, 31)  # fixed: date_of_birth() reads the clock
SOURCE = "tickets-changelogs"  # a declared, trusted source: only the people rule keeps its contact list out


def born(fake: Faker) -> str:
    return fake.date_between_dates(BORN_FROM, BORN_TO).isoformat()


def _fake(seed: int) -> Faker:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    return fake


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _contacts(n: int, seed: int) -> list[list[str]]:
    fake = _fake(seed)
    return [["name", "email", "phone", "city"]] + [
        [fake.name(), fake.free_email(), fake.phone_number(), fake.city()] for _ in range(n)
    ]


def _prices(n: int, seed: int) -> list[list[str]]:
    fake = _fake(seed)
    rows = [["sku", "product", "price_eur", "notes"]]
    rows += [
        [f"A{100 + i}", fake.word().title(), f"{fake.pyfloat(2, 2, positive=True)}", ""] for i in range(n)
    ]
    rows[2][3] = "questions: orders@acme-widgets.com"  # the one support address of the price list
    return rows


def _xlsx(path: Path, sheets: dict[str, list[list[str]]]) -> None:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)


def _read(root: Path) -> dict[str, Document]:
    connector = FolderConnector(root, load_registry(REPO / "sources.toml"))
    return {item.path: item for item in connector if isinstance(item, Document)}


def test_a_contact_list_is_unsafe_as_a_whole_and_a_price_list_is_not(tmp_path, capsys):
    folder = tmp_path / "docs" / SOURCE
    folder.mkdir(parents=True)
    (folder / "support-contacts.csv").write_text(_csv(_contacts(8, seed=3)), encoding="utf-8")
    (folder / "prices.csv").write_text(_csv(_prices(8, seed=4)), encoding="utf-8")
    out = tmp_path / "curated.jsonl"
    argv = [
        "--work-dir",
        str(tmp_path / "work"),
        "curate",
        "--docs",
        str(tmp_path / "docs"),
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    rows = {r["path"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    contacts, prices = rows[f"{SOURCE}/support-contacts.csv"], rows[f"{SOURCE}/prices.csv"]
    assert contacts["tier"] == "unsafe" and "pii_people_table" in contacts["reasons"]
    assert "pii_people_table" not in prices["reasons"] and prices["tier"] != "unsafe"


def test_the_connector_records_the_rule_rows_and_columns(tmp_path):
    (tmp_path / "contacts.csv").write_text(_csv(_contacts(5, seed=5)), encoding="utf-8")
    (tmp_path / "prices.csv").write_text(_csv(_prices(5, seed=6)), encoding="utf-8")
    docs = _read(tmp_path)
    table = json.loads(docs["contacts.csv"].meta["people_table"])
    assert table == {"rows": 5, "columns": ["name", "email", "phone"], "rule": "header"}
    assert "people_table" not in docs["prices.csv"].meta


def test_a_workbook_names_the_sheets_that_hold_people(tmp_path):
    fake = _fake(8)
    staff = [["Employee ID", "Full name", "Date of birth", "Salary"]]
    staff += [[f"E{1000 + i}", fake.name(), born(fake), "52000"] for i in range(4)]
    types = [["Name", "Storage Size", "Description"], ["smallint", "2 bytes", "small-range integer"]]
    types += [["integer", "4 bytes", "typical choice"], ["bigint", "8 bytes", "large-range integer"]]
    _xlsx(tmp_path / "hr.xlsx", {"Types": types, "Staff": staff})
    _xlsx(tmp_path / "types.xlsx", {"Types": types})  # a "Name" column alone is a product's name
    docs = _read(tmp_path)
    table = json.loads(docs["hr.xlsx"].meta["people_table"])
    assert table["sheets"] == ["Staff"] and table["rows"] == 4
    assert table["columns"] == ["Employee ID", "Full name", "Date of birth", "Salary"]
    assert "people_table" not in docs["types.xlsx"].meta


def test_rows_of_contacts_count_without_a_telling_header():
    fake = _fake(9)
    counter = PeopleCounter()
    counter.set_header(["who", "reach"])
    for i in range(6):
        counter.add_row([fake.first_name(), fake.free_email() if i % 3 else fake.phone_number()])
    verdict = counter.verdict()
    assert verdict is not None and verdict["rule"] == "contacts" and verdict["contact_share"] == 1.0


@pytest.mark.parametrize("rows", [MIN_PEOPLE_ROWS - 1, MIN_PEOPLE_ROWS])
def test_one_or_two_people_are_left_to_the_cell_findings(rows):
    counter = PeopleCounter()
    counter.set_header(["name", "email"])
    for n in range(rows):
        counter.add_row([f"Person {n}", f"person{n}@corp.example.net"])
    assert (counter.verdict() is not None) == (rows >= MIN_PEOPLE_ROWS)


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        ("E-mail address", "email"),
        ("Mobile phone", "phone"),
        ("emp_id", "employee_id"),
        ("DOB", "birth_date"),
        ("Home address", "address"),
        ("Last Name", "name"),
        ("IP address", None),
        ("Product name", None),
        ("price_eur", None),
    ],
)
def test_column_names_say_their_kind(column, kind):
    assert column_kind(column) == kind


@pytest.mark.parametrize(
    ("cell", "contact"),
    [
        ("ana.lopez@gmail.com", True),
        ("Ana Lopez <ana.lopez@gmail.com>", True),
        ("+34 612 345 678", True),
        ("(555) 123-4567", True),
        ("020 7946 0958", True),
        ("2024-01-15", False),  # a date: 8 digits
        ("3.14159265", False),  # a number: two digit groups
        ("123456789", False),  # an id: one group, no +
        ("write to ana.lopez@gmail.com", False),  # prose, scored by the cell findings
    ],
)
def test_contact_cells_are_whole_addresses_or_numbers(cell, contact):
    assert is_contact_cell(cell) is contact
