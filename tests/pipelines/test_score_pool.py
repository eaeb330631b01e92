"""The scoring stage over worker processes gives what the in-process stage gives, and a document a scorer
raises on inside a worker is quarantined as in process, the others scored.

The model-free scorers of the run (every one but relevance, which is a model call and stays in the run's
process anyway) over the test corpus; `pool_min_docs = 0` so that the pool starts on the 255 documents.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from curation.models import Document, ScoreResult
from curation.policy import load_policy
from curation.scorers import Scorer
from curation.sources import load_registry
from eval.bench.scorers_2kb import non_model_scorers
from pipelines import scoring, stages
from pipelines.core.settings import CurationSettings, ScoringSettings
from tests.conftest import REPO_ROOT

POOLED = ScoringSettings(workers=2, pool_min_docs=0)
IN_PROCESS = ScoringSettings(workers=1)


class FailingOn(Scorer):
    """A per-document scorer that raises on documents holding `marker`, as a scorer bug would."""

    name = "quality"  # stands in for the quality scorer: the policy reads its score
    reason_prefixes = ("quality_",)

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def score(self, doc: Document) -> ScoreResult:
        if self.marker in doc.text:
            raise ValueError(f"cannot score text with {self.marker!r}")
        return ScoreResult(self.name, 1.0, [], {"chars": len(doc.text)})


@pytest.fixture(scope="module")
def registry():
    return load_registry(REPO_ROOT / "sources.toml")


@pytest.fixture(scope="module")
def docs(test_corpus: Path, registry) -> list[Document]:
    return stages.load_documents(test_corpus, registry, CurationSettings()).documents


def _flat(scores: scoring.Scores) -> list[tuple[str, list[tuple[str, float, list[str], str]]]]:
    return [
        (doc_id, [(name, r.score, r.reasons, repr(r.details)) for name, r in results.items()])
        for doc_id, results in scores.items()
    ]


def test_pooled_scores_tiers_and_order_equal_the_in_process_stage(docs, registry) -> None:
    today = date(2026, 11, 26)
    here, here_seconds = scoring.score_documents(docs, non_model_scorers(registry, today), scoring=IN_PROCESS)
    pooled_scorers = non_model_scorers(registry, today)
    pooled, pooled_seconds = scoring.score_documents(docs, pooled_scorers, scoring=POOLED)
    assert _flat(pooled) == _flat(here)  # every result, in document and scorer order
    assert list(pooled_seconds) == list(here_seconds)
    # the pooled scorers' stats count every document, as their own score_many would have
    sensitive = next(s for s in pooled_scorers if s.name == "sensitive")
    assert sensitive.stats.documents == len(docs) and sensitive.stats.reasons
    policy = load_policy(REPO_ROOT / "policy.toml")
    tiers = [stages.tier_documents(docs, scores, policy, {}).decisions for scores in (here, pooled)]
    assert [(i, d.tier, d.reasons) for i, d in tiers[0].items()] == [
        (i, d.tier, d.reasons) for i, d in tiers[1].items()
    ]


@pytest.mark.parametrize("settings", [POOLED, IN_PROCESS], ids=["pooled", "in_process"])
def test_a_document_a_scorer_raises_on_is_quarantined_and_the_rest_scored(docs, registry, settings) -> None:
    bad = docs[len(docs) // 2]
    marker = bad.text[:40]
    assert sum(marker in d.text for d in docs) == 1, "the marker must pick one document"
    scorers = [*non_model_scorers(registry, date(2026, 11, 26))[:2], FailingOn(marker)]
    failures: dict = {}
    scores, _ = scoring.score_documents(docs, scorers, scoring=settings, failures=failures)
    assert list(failures) == [bad.doc_id]
    record = failures[bad.doc_id]
    assert (record.path, record.source, record.reason) == (bad.path, bad.source, "scorer_error")
    assert "quality scorer raised ValueError: cannot score text with" in record.detail
    assert len(docs) == len(scores) + len(failures)  # in = out + quarantined
    assert bad.doc_id not in scores
    assert list(scores) == [d.doc_id for d in docs if d is not bad]
    assert all(list(r) == ["age", "trust", "quality"] for r in scores.values())


def test_without_a_quarantine_a_scorer_error_fails_the_stage(docs, registry) -> None:
    with pytest.raises(scoring.ScoringError, match="quality scorer raised ValueError"):
        scoring.score_documents(docs, [FailingOn(docs[0].text[:40])], scoring=POOLED)


def test_one_core_or_few_documents_score_in_process(monkeypatch) -> None:
    monkeypatch.setattr(scoring, "available_cores", lambda: 1)
    assert scoring.pool_workers(ScoringSettings(workers=2, pool_min_docs=0), 10_000) == 1
    monkeypatch.setattr(scoring, "available_cores", lambda: 2)
    assert scoring.pool_workers(ScoringSettings(workers="auto", pool_min_docs=500), 499) == 1
    assert scoring.pool_workers(ScoringSettings(workers="auto", pool_min_docs=500), 500) == 2
    assert scoring.pool_workers(ScoringSettings(workers=1, pool_min_docs=0), 10_000) == 1
