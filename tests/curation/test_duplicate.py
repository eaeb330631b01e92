from datetime import date

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.scorers.duplicate import DuplicateScorer, _Bands
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


class _MinHashView:
    """What MinHashLSH reads of a MinHash: its values and their count."""

    def __init__(self, hashvalues):
        self.hashvalues = hashvalues

    def __len__(self):
        return len(self.hashvalues)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(0, 128))
def test_bands_find_the_candidates_minhashlsh_finds(seed, n_docs, changed):
    """_Bands replaces MinHashLSH's query and insert: the same candidate set for every document, in order."""
    from datasketch import MinHashLSH

    scorer = DuplicateScorer(trust)
    rng = np.random.default_rng(seed)
    bases = rng.integers(0, 2**33, size=(3, scorer.num_perm), dtype=np.uint64)
    lsh = MinHashLSH(threshold=scorer.near_threshold, num_perm=scorer.num_perm, params=scorer._lsh_params)
    bands = _Bands(*scorer._lsh_params)
    for i in range(n_docs):  # copies of three signatures, each with up to `changed` values redrawn
        sig = bases[rng.integers(0, 3)].copy()
        at = rng.choice(scorer.num_perm, size=int(rng.integers(0, changed + 1)), replace=False)
        sig[at] = rng.integers(0, 2**33, size=len(at), dtype=np.uint64)
        expected = {int(j) for j in lsh.query(_MinHashView(sig))}
        assert bands.query_and_insert(sig, i) == expected
        lsh.insert(str(i), _MinHashView(sig))
