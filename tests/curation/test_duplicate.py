from datetime import date

from curation.scorers.duplicate import DuplicateScorer
from tests.curation.helpers import doc

BASE = " ".join(f"token{i}" for i in range(300))


def trust(d):
    return {"docs": 0.9, "web": 0.3}[d.source]


def test_exact_copy_keeps_the_most_trusted_version():
    docs = [doc(BASE, source="web", path="w.txt"), doc(BASE, source="docs", path="d.txt")]
    web, official = DuplicateScorer(trust).score_many(docs)
    assert official.reasons == [] and official.score == 1.0
    assert web.reasons == ["duplicate_exact"] and web.details["duplicate_of"] == "d.txt"


def test_near_copy_keeps_the_newest_among_equals():
    edited = BASE.replace("token150", "changed")
    docs = [
        doc(BASE, source="docs", path="old.txt", updated=date(2020, 1, 1)),
        doc(edited, source="docs", path="new.txt", updated=date(2025, 1, 1)),
    ]
    old, new = DuplicateScorer(trust).score_many(docs)
    assert old.reasons == ["duplicate_near"] and old.details["duplicate_of"] == "new.txt"
    assert new.reasons == []


def test_different_documents_are_not_grouped():
    other = " ".join(f"word{i}" for i in range(300))
    results = DuplicateScorer(trust).score_many(
        [doc(BASE, source="docs", path="a"), doc(other, source="docs", path="b")]
    )
    assert all(r.reasons == [] for r in results)
