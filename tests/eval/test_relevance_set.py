"""The labelled relevance set: built deterministically from Debian packages, its splits apart, and the
relevance scorer meets its goals on the held-out split (a regression floor)."""

from __future__ import annotations

import pytest

from eval.relevance_set import build, measure


@pytest.fixture(scope="module")
def items() -> list[dict]:
    return measure.load_set()


def test_the_committed_set_has_both_labels_in_both_splits_from_different_sources(items):
    assert len({i["id"] for i in items}) == len(items)
    sources = {split: {i["source"] for i in items if i["split"] == split} for split in measure.SPLITS}
    assert not sources["tuning"] & sources["heldout"]  # held-out text comes from other packages
    for split in measure.SPLITS:
        labels = [i["label"] for i in items if i["split"] == split]
        assert labels.count(True) >= 100 and labels.count(False) >= 100, split
    assert set(build.TUNING_FORTUNES).isdisjoint(build.HELDOUT_FORTUNES)
    assert all(build.PAGE_CHARS[0] <= len(i["text"]) <= 2 * build.PAGE_CHARS[1] for i in items)


def test_the_builder_is_deterministic():
    first, second = build.build(), build.build()
    assert first == second
    assert {(i["split"], i["source"]) for i in first} == set(build.N_ITEMS)


def test_roff_to_text_keeps_the_prose_of_a_man_page():
    source = (
        '.\\" a comment\n.TH epoll 7\n.SH NAME\nepoll \\- I/O event notification\n.PP\nThe\n.B epoll\nAPI'
    )
    assert build.roff_to_text(source) == "NAME\nepoll - I/O event notification\n\nThe\nepoll\nAPI"


def test_relevance_meets_the_goals_on_the_held_out_split(items, embedder):
    m = measure.measure(items, measure.default_scorer(embedder.embed), "heldout")
    assert m.auc >= measure.MIN_AUC, m.summary()
    assert m.on_flagged_share <= measure.MAX_ON_FLAGGED, m.summary()
    assert m.off_flagged_share >= measure.MIN_OFF_FLAGGED, m.summary()
    # the single cosine the scorer replaced, on the same embeddings, does not meet them
    old = measure.single_cosine_baseline(m)
    assert not old.meets_goals() and old.auc < m.auc, old.summary()


def test_measure_counts_flags_and_ranks():
    m = measure.Measured("x", on_scores=[0.9, 0.2, 0.6], off_scores=[0.1, 0.6], on_flagged=1, off_flagged=1)
    # pairs (on > off): 0.9 beats both, 0.2 beats 0.1, 0.6 beats 0.1 and ties 0.6 (half): 4.5 of 6
    assert m.auc == pytest.approx(0.75)
    assert (m.on_flagged_share, m.off_flagged_share) == (pytest.approx(1 / 3), 0.5)
    assert not m.meets_goals()
