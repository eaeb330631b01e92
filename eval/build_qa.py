"""Question sets built from the Debian packages, never written by hand.

    vetted eval build-qa python-faq --out eval-data/python-faq.jsonl [--docs CORPUS]   # ~170 pairs
    vetted eval build-qa foldoc --out eval-data/foldoc.jsonl --docs CORPUS            # one per FOLDOC entry

Python FAQ (python3.11-doc): every question section of faq/*.html is a pair: its heading is the question, its
own text (nested sections left out) the answer, and the page, laid out as the corpus builder copies it
(`product-docs-python/faq/<page>.html`), the gold document.
FOLDOC (dict-foldoc): "What is <headword>?" against the entry, named as the corpus builder names it
(`kb-foldoc/<slug>.txt`); with a corpus, only the entries that corpus holds (its manifest says which).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

from curation.faq import faq_sections, foldoc_definition
from eval.qa import QAPair
from pipelines.fixtures import foldoc
from pipelines.fixtures.debian import require_package
from pipelines.fixtures.docs import PYTHON_HTML, PYTHON_PACKAGE

FAQ_DIR = PYTHON_HTML / "faq"
FAQ_DOC_PREFIX = "product-docs-python/faq"


def python_faq_pairs(corpus_dir: Path | None = None) -> list[QAPair]:
    """Every FAQ question; with a corpus, only those whose page it holds."""
    require_package(FAQ_DIR, PYTHON_PACKAGE)
    pairs = []
    for page in sorted(FAQ_DIR.glob("*.html")):
        doc = f"{FAQ_DOC_PREFIX}/{page.name}"
        if corpus_dir is not None and not (corpus_dir / doc).is_file():
            continue
        for anchor, question, answer in faq_sections(page.read_text(encoding="utf-8")):
            pairs.append(QAPair(f"python-faq/{page.stem}#{anchor}", question, answer, doc))
    return pairs


def foldoc_pairs(corpus_dir: Path | None = None) -> list[QAPair]:
    """A "What is X?" question for each FOLDOC entry the corpus holds (all dated entries without a corpus)."""
    if corpus_dir is None:
        # Every dated entry, named exactly as the corpus builder names them when it takes them all.
        files = foldoc.foldoc_files(10**9, random.Random(0))
        named = [(f.path, f.title, f.data.decode("utf-8")) for f in files]
    else:
        named = list(_corpus_foldoc(corpus_dir))
    pairs = []
    for path, headword, text in named:
        answer = foldoc_definition(text)
        if answer:  # a bare redirect has no definition to answer with
            pairs.append(QAPair(f"foldoc/{Path(path).stem}", f"What is {headword}?", answer, path))
    return pairs


def _corpus_foldoc(corpus_dir: Path) -> Iterator[tuple[str, str, str]]:
    """(path, headword, entry text) for the FOLDOC entries in the corpus manifest."""
    manifest = corpus_dir / "manifest.jsonl"
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest} not found: --docs must be a corpus built by `vetted corpus`")
    for line in manifest.read_text(encoding="utf-8").splitlines():
        row = json.loads(line) if line.strip() else {}
        if row.get("source") != foldoc.SOURCE:
            continue
        path = corpus_dir / row["path"]
        if path.is_file():  # the entry's own text, as the corpus holds it
            yield row["path"], row["title"], path.read_text(encoding="utf-8")


BUILDERS = {"python-faq": python_faq_pairs, "foldoc": foldoc_pairs}
