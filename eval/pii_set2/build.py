"""Build the second labelled set (eval/pii_set2/pii_set2.jsonl): real Debian prose with values planted in it.

    .venv/bin/python -m eval.pii_set2.build                  # rewrites eval/pii_set2/pii_set2.jsonl
    .venv/bin/python -m eval.pii_set2.build --seed 7 --out /tmp/pii_set3.jsonl   # a fresh split
    .venv/bin/python -m eval.pii_set.measure --set eval/pii_set2/pii_set2.jsonl   # measure it

A set the detectors were not tuned on, so nothing here is shared with set 1 (eval/pii_set): the text is
README, NEWS and TODO files from this machine's /usr/share/doc (set 1 used changelogs, the Python and
PostgreSQL docs and FOLDOC), the sentences around each value are the templates below (set 1 used
presidio-evaluator's), and the values come from Faker in ten locales and eval.pii_set2.values (set 1: Faker
en_US and pipelines.fixtures.fake_secrets).
- positives: a Debian paragraph with one planted sentence before or after it, N_PER_ENTITY per entity kind
  (phone numbers in each locale's national layout and in international form);
- negatives: N_PLAIN Debian paragraphs as they are, and N_DECOY with a sentence of decoys (hashes, UUIDs,
  versions, ISBNs, dates, test and example keys, ports, documentation addresses) recorded under `decoys`.
Paragraphs with an "@" are left out (author credits: real addresses nobody labelled). Deterministic: one
`random.Random` per row from (seed, row), Faker seeded from it, no provider that reads the clock.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from faker import Faker

from eval.pii_set2 import values as v
from eval.pii_set2.templates import DECOY_TEMPLATES, TEMPLATES

OUT = Path(__file__).with_name("pii_set2.jsonl")
SEED = 20261202
DOC_ROOT = Path("/usr/share/doc")
DOC_NAMES = re.compile(r"^(?:README|NEWS|TODO|FAQ|THANKS|BUGS)(?:\.(?:md|txt|Debian|rst))?(?:\.gz)?$")
N_PER_ENTITY = 30
N_PLAIN, N_DECOY = 150, 100
PARAGRAPH_CHARS = (200, 900)


def debian_paragraphs(root: Path = DOC_ROOT) -> list[str]:
    """Plain-text paragraphs of the README/NEWS/TODO files installed under `root`, in path order."""
    out = []
    for path in sorted(p for p in root.glob("*/*") if DOC_NAMES.match(p.name) and p.is_file()):
        opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
        try:
            with opener(path, "rt", encoding="utf-8") as f:
                text = f.read(200_000)
        except (OSError, UnicodeDecodeError, EOFError):
            continue
        for para in re.split(r"\n\s*\n", text):
            para = para.strip()
            if PARAGRAPH_CHARS[0] <= len(para) <= PARAGRAPH_CHARS[1] and "@" not in para:
                out.append(para)
    return list(dict.fromkeys(out))  # the same licence blurb in twenty packages is one paragraph


def build(paragraphs: list[str], seed: int = SEED) -> list[dict[str, Any]]:
    if len(paragraphs) < 50:
        raise ValueError(f"need at least 50 Debian paragraphs to draw from, got {len(paragraphs)}")
    items = [*_positives(paragraphs, seed), *_negatives(paragraphs, seed)]
    for n, item in enumerate(items):
        item["id"] = f"{item['source']}-{n:04d}"
    return items


def _row_rng(seed: int, *key: object) -> tuple[random.Random, Faker, str]:
    rng = random.Random(":".join(map(str, (seed, *key))))
    locale = rng.choice(v.LOCALES)
    fake = Faker(locale)
    fake.seed_instance(rng.randrange(2**31))
    return rng, fake, locale


def _positives(paragraphs: list[str], seed: int) -> Iterator[dict[str, Any]]:
    for entity, templates in TEMPLATES.items():
        for n in range(N_PER_ENTITY):
            rng, fake, locale = _row_rng(seed, entity, n)
            sentence, value = rng.choice(templates)(rng, fake, locale)
            para = rng.choice(paragraphs)
            before = rng.random() < 0.5
            text = f"{sentence}\n\n{para}" if before else f"{para}\n\n{sentence}"
            # where the value sits: a short one ("7", a pay band) also occurs in the paragraph
            start = (0 if before else len(para) + 2) + sentence.index(value)
            yield _item("planted", text, [(entity, value, start)], locale=locale)


def _negatives(paragraphs: list[str], seed: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(f"{seed}:plain")
    for para in rng.sample(paragraphs, min(N_PLAIN, len(paragraphs))):
        yield _item("debian_doc", para, [])
    for n in range(N_DECOY):
        rng, fake, locale = _row_rng(seed, "decoy", n)
        pool = v.decoys(rng, fake)
        chosen = rng.sample(pool, 3)
        template = rng.choice(DECOY_TEMPLATES)
        sentence = template.format(*(value for _, value in chosen))
        text = f"{rng.choice(paragraphs)}\n\n{sentence}"
        yield _item("decoy", text, [], decoys=[{"kind": k, "value": value} for k, value in chosen])


def _item(source: str, text: str, entities: list[tuple[str, str, int]], **extra: object) -> dict[str, Any]:
    return {
        "id": "",
        "source": source,
        "label": bool(entities),
        "entities": [{"entity": e, "value": value, "start": start} for e, value, start in entities],
        "text": text,
        **extra,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--doc-root", type=Path, default=DOC_ROOT, help="where the Debian docs are installed")
    args = p.parse_args(argv)
    items = build(debian_paragraphs(args.doc_root), args.seed)
    args.out.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    by_source: dict[str, int] = {}
    for item in items:
        by_source[item["source"]] = by_source.get(item["source"], 0) + 1
    print(f"{len(items)} items -> {args.out}: {by_source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
