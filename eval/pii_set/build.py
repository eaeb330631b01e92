"""Build the labelled personal-data and secrets set (eval/pii_set/pii_set.jsonl) from real and planted text.

    .venv/bin/python -m eval.pii_set.build            # rewrites eval/pii_set/pii_set.jsonl (deterministic)
    .venv/bin/python -m eval.pii_set.build --generated-only   # rewrites only the template and secret items

Positives (label true: the document holds personal data or a secret the scorer is meant to find):
- template: presidio-evaluator's customer-service sentences (pipelines.fixtures.templates, the pinned wheel)
  whose placeholders include an e-mail, phone, card, IBAN, SSN or IP address, filled by a seeded Faker
  (fill.py), one or two sentences per item; every planted value is recorded with its entity.
- changelog: real Debian changelog entries from this machine's /usr/share/doc/*/changelog.Debian.gz, whose
  trailer holds the maintainer's real e-mail address. Team and list addresses (`...-maintainers@`, `lists.`)
  name no natural person and are left out of the set rather than labelled either way.
- secret: fake credentials in their issuers' exact shapes (pipelines.fixtures.fake_secrets) inside the config
  snippets and chat lines where they leak in practice.
Negatives (label false): paragraphs of public product documentation and dictionary entries, which hold no
personal data: the Python 3.11 FAQ and tutorial, PostgreSQL 15 pages, FOLDOC entries. Paragraphs with an "@"
(author credits) are left out. They keep what makes precision hard: versions, dates, section numbers, ports,
private and documentation IP addresses, `password` as a word, example keys.

Scope: what the sensitive scorer claims to find (curation.scorers.sensitive.REASONS). Names and postal
addresses alone need NER, which the scorer does not run; templates with only those are not in the set.
The set depends on the pinned presidio-evaluator wheel, Faker's version and the installed Debian packages;
the committed JSONL is the reference, this script the way to rebuild or grow it. The template and secret
items depend on nothing but the seed and the pinned wheels (Faker's dates come from fixed windows, never from
today), so `--generated-only` refreshes them on any machine without touching the sections that depend on what
this machine has installed.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from faker import Faker

OUT = Path(__file__).with_name("pii_set.jsonl")
SEED = 20261126
IN_SCOPE = {"email", "phone_number", "credit_card", "iban", "us_ssn", "ip_address"}
N_TEMPLATE_ITEMS = 120
N_CHANGELOG_ITEMS = 80
N_SECRET_ITEMS = 60
N_NEGATIVES = {"python_docs": 60, "postgres_docs": 60, "foldoc": 40}
PARAGRAPH_CHARS = (300, 1200)  # negatives: paragraphs joined up to this size, short ones dropped
_TEAM_ADDRESS = re.compile(r"(?i)maintainers|team|list|devel|packagers|^debian-|@lists\.")


def build(seed: int = SEED) -> list[dict[str, Any]]:
    items = [*template_items(seed), *_changelog_items(seed), *secret_items(seed), *_doc_items(seed)]
    for n, item in enumerate(items):
        item["id"] = f"{item['source']}-{n:04d}"
    return items


GENERATED_SOURCES = ("template", "secret")  # seeded, machine-independent: must rebuild byte for byte


def generated_items(seed: int = SEED) -> dict[str, list[dict[str, Any]]]:
    """The sections that depend only on the seed and the pinned wheels, by source."""
    return {"template": list(template_items(seed)), "secret": list(secret_items(seed))}


def refresh_generated(committed: list[dict[str, Any]], seed: int = SEED) -> list[dict[str, Any]]:
    """The committed set with its generated sections rebuilt in place (ids and order kept)."""
    fresh = {source: iter(items) for source, items in generated_items(seed).items()}
    out = []
    for item in committed:
        if item["source"] in fresh:
            item = next(fresh[item["source"]]) | {"id": item["id"]}
        out.append(item)
    return out


def _item(source: str, text: str, entities: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "id": "",
        "source": source,
        "label": bool(entities),
        "entities": [{"entity": e, "value": v} for e, v in entities],
        "text": text,
    }


# --- positives --------------------------------------------------------------------------------------------


def _rng(seed: int, section: str) -> random.Random:
    """One generator per section, so what one section draws never shifts another's (as the corpus does)."""
    return random.Random(f"{seed}:{section}")


def template_items(seed: int = SEED) -> Iterator[dict[str, Any]]:
    from pipelines.fixtures.fill import _PLACEHOLDER, PII_ENTITIES, Filler
    from pipelines.fixtures.templates import default_cache_dir, load_template_book

    class RealDomainFiller(Filler):
        """Faker's e-mails default to example.com/.net/.org (RFC 2606: documentation, not a person's):
        real-looking domains instead (gmail.com, a company's), as personal addresses have."""

        def _special(self):  # type: ignore[no-untyped-def]
            return super()._special() | {"email": lambda: self.fake.email(safe=False)}

    rng = _rng(seed, "template")
    book = load_template_book(default_cache_dir())
    scoped = [t for t in book.templates if {PII_ENTITIES.get(p) for p in _PLACEHOLDER.findall(t)} & IN_SCOPE]
    others = [t for t in book.templates if t not in scoped]
    filler = RealDomainFiller.seeded(book, rng.randrange(2**31))
    for _ in range(N_TEMPLATE_ITEMS):
        sentences = [filler.fill(rng.choice(scoped))]
        if (
            rng.random() < 0.5
        ):  # context around it, sometimes with a name or address the scorer does not claim
            sentences.insert(rng.randrange(2), filler.fill(rng.choice(others)))
        planted = [(e, v) for e, v in filler.take_planted() if e in IN_SCOPE]
        yield _item("template", " ".join(sentences), planted)


def _changelog_items(seed: int) -> Iterator[dict[str, Any]]:
    from pipelines.fixtures.debian import installed_changelogs, read_changelog

    rng = _rng(seed, "changelog")
    entries = []
    for path in installed_changelogs():
        for entry in read_changelog(path, 3):
            if not _TEAM_ADDRESS.search(entry.email) and len(entry.text) <= 3000:
                entries.append(entry)
    for entry in rng.sample(entries, min(N_CHANGELOG_ITEMS, len(entries))):
        yield _item("changelog", entry.text, [("email", entry.email)])


def secret_items(seed: int = SEED) -> Iterator[dict[str, Any]]:
    from pipelines.fixtures import fake_secrets as fs

    rng = _rng(seed, "secret")
    fake = Faker("en_US")
    fake.seed_instance(rng.randrange(2**31))
    shapes = [
        lambda: (
            "aws_access_key",
            fs.aws_access_key_id(rng),
            "AWS_ACCESS_KEY_ID={}\nAWS_DEFAULT_REGION=eu-west-1",
        ),
        lambda: ("aws_secret_key", fs.aws_secret_access_key(rng), 'aws_secret_access_key = "{}"'),
        lambda: ("github_token", fs.github_token(rng), "export GITHUB_TOKEN={}  # CI deploy token"),
        lambda: ("slack_token", fs.slack_bot_token(rng), "Bot config for #alerts: token {} (rotate monthly)"),
        lambda: ("password", fs.password(rng), "[database]\nhost = db.internal\npassword = {}"),
        lambda: (
            "password",
            fs.password(rng),
            f"DATABASE_URL=postgresql://{fake.user_name()}:{{}}@db.internal/app",
        ),
        lambda: ("private_key", fs.rsa_private_key(rng), "The deploy key that was pushed:\n\n{}\n"),
    ]
    for n in range(N_SECRET_ITEMS):
        entity, value, shape = shapes[n % len(shapes)]()
        lead = f"{fake.sentence(nb_words=8)} Ticket {fake.bothify('OPS-####')}."
        yield _item("secret", f"{lead}\n{shape.format(value)}\n", [(entity, value)])


# --- negatives --------------------------------------------------------------------------------------------


def _doc_items(seed: int) -> Iterator[dict[str, Any]]:
    from curation.html_text import html_to_text
    from pipelines.fixtures.docs import POSTGRES_HTML, PYTHON_HTML
    from pipelines.fixtures.foldoc import read_entries

    rng = _rng(seed, "docs")
    python = [p for d in ("faq", "tutorial") for p in sorted((PYTHON_HTML / d).glob("*.html"))]
    postgres = sorted(POSTGRES_HTML.glob("*.html"))
    sources = {
        "python_docs": (html_to_text(p.read_text("utf-8", "replace"))[1] for p in python),
        "postgres_docs": (
            html_to_text(p.read_text("utf-8", "replace"))[1] for p in rng.sample(postgres, 200)
        ),
        "foldoc": (e.text for e in rng.sample(read_entries(), 400)),
    }
    for source, texts in sources.items():
        paragraphs = [p for text in texts for p in _paragraphs(text) if "@" not in p]
        for text in rng.sample(paragraphs, min(N_NEGATIVES[source], len(paragraphs))):
            yield _item(source, text, [])


def _paragraphs(text: str) -> Iterator[str]:
    """Blank-line paragraphs joined until PARAGRAPH_CHARS[1]; pieces under PARAGRAPH_CHARS[0] dropped."""
    piece = ""
    for para in re.split(r"\n\s*\n", text):
        if piece and len(piece) + len(para) > PARAGRAPH_CHARS[1]:
            if len(piece) >= PARAGRAPH_CHARS[0]:
                yield piece
            piece = ""
        piece = f"{piece}\n\n{para}" if piece else para
        piece = piece[: PARAGRAPH_CHARS[1]]
    if len(piece) >= PARAGRAPH_CHARS[0]:
        yield piece


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument(
        "--generated-only",
        action="store_true",
        help="rebuild only the template and secret items at --out; keep the machine-dependent ones",
    )
    args = p.parse_args(argv)
    if args.generated_only:
        if not args.out.is_file():
            raise SystemExit(f"--generated-only refreshes an existing set; {args.out} does not exist")
        committed = [json.loads(line) for line in args.out.read_text(encoding="utf-8").splitlines() if line]
        items = refresh_generated(committed, args.seed)
    else:
        items = build(args.seed)
    args.out.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    by_source: dict[str, int] = {}
    for item in items:
        by_source[item["source"]] = by_source.get(item["source"], 0) + 1
    print(f"{len(items)} items -> {args.out}: {by_source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
