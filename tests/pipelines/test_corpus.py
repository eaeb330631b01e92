"""The corpus builder on this machine's real Debian documents: one test-size build, checked file by file."""

from __future__ import annotations

import hashlib
import json
import random
import re
import zlib
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from pipelines.corpus import fake_secrets
from pipelines.corpus.build import CANARIES, MANIFEST, MARKER, SOURCES, CorpusDirNotEmpty, build_corpus
from pipelines.corpus.confidential import CANARY_PREFIX, confidential_docs
from pipelines.corpus.debian import require_package
from pipelines.corpus.docs import POSTGRES_HTML, PYTHON_HTML, release_date
from pipelines.corpus.model import SOURCE_TYPES, CorpusSourceMissing
from pipelines.corpus.templates import default_cache_dir, load_template_book

KINDS = {"hr_export", "customer_requests", "config_note", "incident_report"}
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# What a PII or secret scanner must find in a planted document; each confidential file needs one at least.
SENSITIVE = re.compile(
    r"[\w.+-]+@[\w-]+\.\w+|\b\d{3}-\d{2}-\d{4}\b|\b\d{13,19}\b|\bGB\d{2}[A-Z]{4}\d{14}\b"
    r"|AKIA[A-Z2-7]{16}|ghp_[A-Za-z0-9]{36}|xoxb-[\d-]+-\w{24}|-----BEGIN RSA PRIVATE KEY-----|password = \S+"
)


def _manifest(root: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (root / MANIFEST).read_text(encoding="utf-8").splitlines()]


def _rows(root: Path, source: str) -> list[dict[str, object]]:
    return [row for row in _manifest(root) if row["source"] == source]


def _text(root: Path, row: dict[str, object]) -> str:
    return (root / str(row["path"])).read_text(encoding="utf-8")


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("corpus") / "test"
    return build_corpus(root, "test", seed=7), root


def test_manifest_lists_exactly_the_files_on_disk(built) -> None:
    summary, root = built
    rows = _manifest(root)
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert [row["path"] for row in rows] == sorted(on_disk - {MANIFEST, CANARIES, MARKER})
    assert len(rows) == summary.total == sum(summary.counts.values())
    for row in rows:
        assert row["bytes"] == (root / str(row["path"])).stat().st_size
        assert row["source_type"] in SOURCE_TYPES
        assert str(row["path"]).startswith(f"{row['source']}/")
        assert not Path(str(row["path"])).name.startswith(".")  # the connector skips dot files


def test_every_source_is_present_and_sized_for_tests(built) -> None:
    summary, root = built
    assert set(summary.counts) == set(SOURCES)
    assert all(summary.counts[source] > 0 for source in SOURCES)
    assert 200 <= summary.total <= 320
    assert (summary.n_confidential, summary.n_broken) == (15, 6)
    # Every FAQ page is in, whatever the seed: the evaluation questions are asked against them.
    python_paths = {row["path"] for row in _rows(root, "product-docs-python")}
    faq = {f"product-docs-python/faq/{p.name}" for p in (PYTHON_HTML / "faq").glob("*.html")}
    assert "product-docs-python/faq/programming.html" in faq <= python_paths


def test_python_pages_are_copied_byte_for_byte_with_their_title(built) -> None:
    _, root = built
    row = next(r for r in _rows(root, "product-docs-python") if r["path"].endswith("faq/programming.html"))
    assert (root / row["path"]).read_bytes() == (PYTHON_HTML / "faq" / "programming.html").read_bytes()
    assert row["title"] == "Programming FAQ"
    assert row["updated_from"] == "manifest" and row["updated"] is not None


def test_release_notes_carry_their_own_release_date(built) -> None:
    _, root = built
    rows = {row["path"]: row for row in _rows(root, "product-docs-postgres")}
    first = rows["product-docs-postgres/release-15.html"]
    assert (first["updated"], first["updated_from"]) == ("2022-10-13", "content")
    assert "Release date:\u00a0</strong>2022-10-13" in _text(root, first)
    notes = [row for path, row in rows.items() if re.search(r"/release-15(-\d+)?\.html$", path)]
    assert len(notes) == 6
    for row in notes:
        assert f"</strong>{row['updated']}</p>" in _text(root, row)
    # The other pages fall back to the package's date, which is newer than 15.0's release.
    other = next(row for path, row in rows.items() if "release" not in path)
    assert other["updated_from"] == "manifest" and other["updated"] > first["updated"]
    release_15_8 = (POSTGRES_HTML / "release-15-8.html").read_text(encoding="utf-8")
    assert str(release_date(release_15_8)) == "2024-08-08"


def test_foldoc_entries_are_dated_by_their_closing_date(built) -> None:
    _, root = built
    rows = _rows(root, "kb-foldoc")
    assert len(rows) == 80
    for row in rows:
        text = _text(root, row)
        assert text.splitlines()[0] == row["title"]
        assert re.findall(r"\((\d{4}-\d{2}-\d{2})\)", text)[-1] == row["updated"]


def test_changelog_tickets_keep_the_maintainer_email_and_date(built) -> None:
    _, root = built
    rows = _rows(root, "tickets-changelogs")
    assert len(rows) == 80
    for row in rows:
        text = _text(root, row)
        trailer = text.rstrip("\n").splitlines()[-1]
        assert trailer.startswith(" -- ") and EMAIL.search(trailer), trailer
        assert str(parsedate_to_datetime(trailer.split(">", 1)[1].strip()).date()) == row["updated"]
        package, version = text.split(" ", 2)[:2]
        assert row["title"].startswith(f"{package} {version.strip('()')}")
    # Several years of tickets, so an age scorer has stale ones to find.
    assert len({str(row["updated"])[:4] for row in rows}) >= 3


def test_every_confidential_file_has_its_canary_and_sensitive_values(built) -> None:
    summary, root = built
    canaries = [json.loads(line) for line in (root / CANARIES).read_text(encoding="utf-8").splitlines()]
    assert sorted(c["path"] for c in canaries) == sorted(r["path"] for r in _rows(root, "confidential"))
    assert len({c["canary"] for c in canaries}) == summary.n_confidential
    assert {c["kind"] for c in canaries} == KINDS
    everything = "".join(
        (root / str(r["path"])).read_bytes().decode("utf-8", "replace") for r in _manifest(root)
    )
    for canary in canaries:
        assert re.fullmatch(CANARY_PREFIX + "[0-9a-f]{12}", canary["canary"])
        assert everything.count(canary["canary"]) == 1  # in its own document, nowhere else
        text = (root / canary["path"]).read_text(encoding="utf-8")
        assert canary["canary"] in text and SENSITIVE.search(text), canary["path"]


def test_planted_values_are_written_verbatim() -> None:
    book = load_template_book(default_cache_dir())
    docs = confidential_docs(8, book, seed=3, rng=random.Random(3))
    secrets = {"aws_access_key", "aws_secret_key", "github_token", "slack_token", "private_key", "password"}
    assert secrets <= {entity for doc in docs for entity, _ in doc.planted}
    for doc in docs:
        text = doc.file.data.decode("utf-8")
        assert doc.planted and all(value in text for _, value in doc.planted)


def test_github_tokens_carry_a_valid_checksum() -> None:
    token = fake_secrets.github_token(random.Random(1))
    body, checksum = token[4:34], token[34:]
    value = 0
    for digit in checksum:
        value = value * 62 + fake_secrets._BASE62.index(digit)
    assert token.startswith("ghp_") and len(token) == 40 and value == zlib.crc32(body.encode())


def test_broken_files_are_broken_in_the_promised_ways(built) -> None:
    _, root = built
    broken = {Path(str(r["path"])).name: (root / str(r["path"])).read_bytes() for r in _rows(root, "broken")}
    assert broken["empty.txt"] == b""
    assert broken["release-notes.md"][:2] == b"\x1f\x8b"
    assert b"\x00" in broken["quarterly-figures.txt"]
    for name in ("quarterly-figures.txt", "foldoc-latin1.txt", "python-changelog-invalid-utf8.txt"):
        with pytest.raises(UnicodeDecodeError):
            broken[name].decode("utf-8")
    assert "Turing" in broken["foldoc-latin1.txt"].decode("latin-1")
    page = broken["blank-page.html"].decode("utf-8")
    assert re.sub(r"<script.*?</script>|<style.*?</style>|<[^>]+>", "", page).strip() == ""


def test_same_seed_same_corpus_other_seed_other_sample(built, tmp_path: Path) -> None:
    _, root = built
    again = tmp_path / "again"
    build_corpus(again, "test", seed=7)
    assert _manifest(again) == _manifest(root)
    assert _tree_digest(again) == _tree_digest(root)
    other = build_corpus(tmp_path / "other", "test", seed=8)
    assert _manifest(other.out_dir) != _manifest(root)


def test_existing_corpus_is_reused_replaced_or_protected(tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    first = build_corpus(out, "test", seed=7)
    marker_written = (out / MARKER).stat().st_mtime_ns
    reused = build_corpus(out, "test", seed=7)
    assert reused.reused and not first.reused and reused.total == first.total
    assert (out / MARKER).stat().st_mtime_ns == marker_written
    replaced = build_corpus(out, "test", seed=9)
    assert not replaced.reused and json.loads((out / MARKER).read_text())["seed"] == 9
    assert not list(tmp_path.glob(".corpus.*"))  # no staging or retired folder left behind

    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("keep me")
    with pytest.raises(CorpusDirNotEmpty):
        build_corpus(foreign, "test")
    assert (foreign / "mine.txt").read_text() == "keep me"


def test_bad_arguments_and_missing_packages_fail_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="size must be one of"):
        build_corpus(tmp_path / "x", "huge")  # type: ignore[arg-type]
    with pytest.raises(CorpusSourceMissing, match="apt-get install python3.11-doc"):
        require_package(tmp_path / "no-such-dir", "python3.11-doc")
