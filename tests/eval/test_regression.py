"""Regression floors on the real system: the Python FAQ against the curated test corpus, and leak probes.

Work folders are built by eval.workdirs through the real stages and kept in `.cache/eval-work/`, keyed by the
corpus bytes, settings and the curation code, so only the first run after a change pays for the build.
Raise the floors as the system improves (docs/results.md has the measured values).
"""

import pytest

from eval.build_qa import python_faq_pairs
from eval.harness import EvalContext, run_answers, run_leaks, run_retrieval
from tests.conftest import REPO_ROOT, settings_for

# Measured on the test corpus (seed 7): recall@5 0.983, MRR 0.889 (docs/results.md); floors sit just below.
FLOOR_RECALL_AT_5 = 0.93
FLOOR_MRR = 0.80


@pytest.fixture(scope="module")
def eval_ctx(tmp_path_factory, test_corpus, embedder):
    settings = settings_for(tmp_path_factory.mktemp("eval"), test_corpus)
    return EvalContext(settings, embedder, REPO_ROOT / ".cache" / "eval-work")


@pytest.fixture(scope="module")
def faq(test_corpus):
    return python_faq_pairs(test_corpus)


def test_curated_python_faq_retrieval_clears_the_floor(eval_ctx, test_corpus, faq):
    result = run_retrieval(eval_ctx, test_corpus, faq)
    summary = result["retrieval"]["curated"]["summary"]
    assert summary["questions"] == len(faq) >= 160
    assert summary["recall@5"] >= FLOOR_RECALL_AT_5, summary
    assert summary["mrr"] >= FLOOR_MRR, summary
    assert summary["recall@1"] <= summary["recall@5"] <= summary["recall@10"]
    assert result["workdirs"]["curated"]["tiers"]["unsafe"] >= 15  # every planted document, at least


def test_leak_probes_find_nothing_curated_and_catch_the_uncurated_index(eval_ctx, test_corpus):
    result = run_leaks(eval_ctx, test_corpus)
    assert result["canaries"] == 15
    curated, uncurated = (result["leaks"][v]["summary"] for v in ("curated", "uncurated"))
    assert curated["canaries_in_index"] == curated["canaries_in_contexts"] == 0, curated
    assert curated["planted_docs_in_contexts"] == 0, curated
    # The same probes on an index of everything do find the planted documents: the probe can fail.
    assert uncurated["canaries_in_index"] >= 15, uncurated
    assert uncurated["canaries_in_contexts"] > 0 and uncurated["probes_leaking_context"] > 0, uncurated


@pytest.mark.engine
def test_answers_from_the_real_engine_are_scored(eval_ctx, test_corpus, faq, base_model_dir):
    by_id = {p.id: p for p in faq}
    # Three pages, each question's page ranked first with cosine > 0.8 (docs/results.md, retrieval run).
    asked = [
        by_id["python-faq/design#how-are-lists-implemented-in-cpython"],
        by_id["python-faq/library#how-do-i-generate-random-numbers-in-python"],
        by_id["python-faq/programming#what-are-the-rules-for-local-and-global-variables-in-python"],
    ]
    result = run_answers(eval_ctx, test_corpus, asked, model_dir=base_model_dir)
    run = result["answers"]["curated"]
    assert run["summary"]["questions"] == 3 and result["model"] == str(base_model_dir)
    for row in run["questions"]:
        assert row["answer"].strip() and row["citations"], row
        assert 0.0 <= row["token_f1"] <= 1.0 and -1.0 <= row["embedding_similarity"] <= 1.0
    # The gold page is among the sources shown for these questions (retrieval ranks it first).
    assert run["summary"]["citation_accuracy"] == 1.0, run["questions"]
    assert run["summary"]["embedding_similarity"] > 0.2, run["summary"]  # on topic, however well put
