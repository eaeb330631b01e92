"""The second labelled set: its builder is deterministic and clock-free, and the committed set is measured."""

from __future__ import annotations

import gzip
from collections import Counter
from datetime import UTC, datetime

import pytest
import time_machine

from eval.pii_set import measure
from eval.pii_set2 import build
from eval.pii_set2.templates import TEMPLATES

_WORDS = "the build now links against libfoo and drops the old configure flags for cross compiling".split()


def _paragraph(i: int) -> str:
    body = " ".join(_WORDS[(i + k) % len(_WORDS)] for k in range(40))
    return f"Release {i}: {body}."


@pytest.fixture(scope="module")
def doc_root(tmp_path_factory):
    """A /usr/share/doc look-alike: plain and gzipped README/NEWS files, a credit line with an address."""
    root = tmp_path_factory.mktemp("doc")
    for n in range(30):
        pkg = root / f"pkg{n:02d}"
        pkg.mkdir()
        paras = [_paragraph(3 * n + k) for k in range(3)]
        (pkg / "README").write_text("\n\n".join(paras), encoding="utf-8")
        with gzip.open(pkg / "NEWS.gz", "wt", encoding="utf-8") as f:
            f.write(_paragraph(1000 + n) + "\n\nshort\n\n" + "Thanks to Ana <ana@debian.org>. " * 10)
        (pkg / "copyright").write_text(_paragraph(5000 + n), encoding="utf-8")  # not a README: not read
    return root


def test_paragraphs_come_from_readme_and_news_files_without_addresses(doc_root):
    paragraphs = build.debian_paragraphs(doc_root)
    assert len(paragraphs) == 30 * 3 + 30  # README's three, NEWS's one; short ones and credits left out
    assert not any("@" in p for p in paragraphs)
    assert _paragraph(5000) not in paragraphs


def test_builder_is_deterministic_and_reads_no_clock(doc_root):
    paragraphs = build.debian_paragraphs(doc_root)
    with time_machine.travel(datetime(2031, 7, 1, tzinfo=UTC), tick=False):
        first = build.build(paragraphs, seed=11)
    with time_machine.travel(datetime(2019, 1, 15, tzinfo=UTC), tick=False):
        again = build.build(paragraphs, seed=11)
    assert first == again
    assert build.build(paragraphs, seed=12) != first  # the seed is what draws the values


def test_builder_plants_every_kind_and_keeps_clean_and_decoy_negatives(doc_root):
    items = build.build(build.debian_paragraphs(doc_root), seed=11)
    sources = Counter(i["source"] for i in items)
    assert sources["planted"] == len(TEMPLATES) * build.N_PER_ENTITY
    assert sources["decoy"] == build.N_DECOY and sources["debian_doc"] > 0
    kinds = Counter(e["entity"] for i in items for e in i["entities"])
    assert kinds == {kind: build.N_PER_ENTITY for kind in TEMPLATES} and set(kinds) <= set(measure.KINDS)
    for item in items:
        assert item["label"] == bool(item["entities"])
        for e in item["entities"]:  # the recorded offset is where the value sits
            assert item["text"][e["start"] : e["start"] + len(e["value"])] == e["value"]
    decoys = [d for i in items if i["source"] == "decoy" for d in i["decoys"]]
    assert len(decoys) == 3 * build.N_DECOY and all(not i["label"] for i in items if i["source"] == "decoy")
    assert {"sha256", "uuid", "isbn", "version", "date"} <= {d["kind"] for d in decoys}
    assert len({i["id"] for i in items}) == len(items)


def test_too_few_paragraphs_fail_at_once():
    with pytest.raises(ValueError, match="at least 50"):
        build.build([_paragraph(i) for i in range(10)])


def test_the_committed_second_set_meets_the_targets():
    m = measure.measure(measure.load_set(build.OUT))
    assert m.recall >= 0.95 and m.precision >= 0.95, m.summary()
    assert all(p >= 0.95 for p in m.detector_precision().values()), m.detector_precision()
    assert set(m.entity_recall()) == set(TEMPLATES)
