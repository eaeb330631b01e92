"""The metrics against values worked out by hand (the arithmetic is in each comment)."""

import math

import numpy as np
import pytest

from eval.metrics import (
    citation_accuracy,
    claims,
    dedupe_in_order,
    embedding_similarity,
    groundedness,
    is_refusal,
    mean,
    ndcg_at_k,
    normalize_answer,
    recall_at_k,
    reciprocal_rank,
    retrieval_scores,
    split_sentences,
    token_f1,
)

# Chunk hits of one question: doc b's second chunk and doc a's second chunk collapse into their first ones.
CHUNK_DOCS = ["b", "a", "b", "c", "a", "d", "e", "f", "g", "h", "i", "gold"]
RANKED = ["b", "a", "c", "d", "e", "f", "g", "h", "i", "gold"]


def test_chunk_hits_collapse_to_documents_in_rank_order():
    assert dedupe_in_order(CHUNK_DOCS) == RANKED


def test_recall_at_k_counts_the_gold_document_only_within_k():
    assert recall_at_k(RANKED, {"gold"}, 1) == 0.0
    assert recall_at_k(RANKED, {"gold"}, 5) == 0.0
    assert recall_at_k(RANKED, {"gold"}, 10) == 1.0  # rank 10 after deduplication (rank 12 as chunks)
    assert recall_at_k(RANKED, {"a", "gold", "zzz"}, 5) == pytest.approx(1 / 3)  # a of {a, gold, zzz}
    with pytest.raises(ValueError):
        recall_at_k(RANKED, set(), 5)


def test_reciprocal_rank_is_one_over_the_first_relevant_rank():
    assert reciprocal_rank(RANKED, {"c"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(RANKED, {"d", "a"}) == 0.5  # a at rank 2 comes first
    assert reciprocal_rank(RANKED, {"missing"}) == 0.0


def test_ndcg_with_binary_gains():
    # gold at rank 3: DCG = 1/log2(4) = 0.5; ideal (rank 1) = 1/log2(2) = 1.
    assert ndcg_at_k(["x", "y", "gold"], {"gold"}, 10) == pytest.approx(0.5)
    # relevant at ranks 1 and 3: DCG = 1 + 0.5 = 1.5; ideal = 1 + 1/log2(3) = 1.6309.
    assert ndcg_at_k(["r1", "x", "r2"], {"r1", "r2"}, 10) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    # beyond the cut-off counts nothing
    assert ndcg_at_k(RANKED, {"gold"}, 5) == 0.0
    assert ndcg_at_k(RANKED, {"gold"}, 10) == pytest.approx(1 / math.log2(11))


def test_retrieval_scores_of_one_question():
    scores = retrieval_scores(["x", "gold", "y"], {"gold"})
    assert scores == {
        "recall@1": 0.0,
        "recall@5": 1.0,
        "recall@10": 1.0,
        "mrr": 0.5,
        "ndcg@10": 1 / math.log2(3),
    }


def test_squad_normalisation_drops_case_punctuation_and_articles():
    assert normalize_answer("The  Cat, sat on a MAT!") == "cat sat on mat"


def test_token_f1_by_hand():
    # pred tokens: cat sat on mat (4); ref: cat lay on mat today (5); common: cat on mat = 3
    # precision 3/4, recall 3/5, F1 = 2 * 0.75 * 0.6 / 1.35 = 0.6667
    assert token_f1("The cat sat on the mat.", "A cat lay on the mat today") == pytest.approx(2 / 3)
    assert token_f1("Paris", "paris!") == 1.0
    assert token_f1("Berlin", "Paris") == 0.0
    # repeated tokens count as often as both sides hold them: pred go go stop, ref go stop stop,
    # common = min(2, 1) + min(1, 2) = 2 -> P = R = 2/3
    assert token_f1("go go stop", "go stop stop") == pytest.approx(2 / 3)
    assert token_f1("", "") == 1.0 and token_f1("the", "answer") == 0.0


def _fake_embed(vectors: dict[str, list[float]]):
    """An embedder over a fixed table: each text maps to a hand-picked unit vector."""

    def embed(texts: list[str]) -> np.ndarray:
        rows = np.array([vectors[t] for t in texts], dtype="float32")
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    return embed


def test_embedding_similarity_is_the_cosine():
    embed = _fake_embed({"p": [1, 0], "r": [1, 1]})
    assert embedding_similarity("p", "r", embed) == pytest.approx(1 / math.sqrt(2))


def test_sentences_and_claims():
    answer = "Use a list [1]. It grows as needed!\nYes. Done? It grows as needed!"
    assert split_sentences(answer) == [
        "Use a list .",
        "It grows as needed!",
        "Yes.",
        "Done?",
        "It grows as needed!",
    ]
    assert claims(answer) == ["Use a list .", "It grows as needed!"]  # short ones dropped, repeats once


def test_groundedness_is_the_share_of_supported_sentences():
    s1, s2 = "Lists grow as needed.", "Tuples are faster than anything."
    ctx = "Lists grow as items are appended. Nothing else here."
    ctx_sentences = ["Lists grow as items are appended.", "Nothing else here."]
    embed = _fake_embed({
        s1: [1, 0, 0],
        s2: [0, 1, 0],
        ctx_sentences[0]: [0.9, 0.1, 0.0],  # cos with s1 = 0.9/sqrt(0.82) = 0.994: supported
        ctx_sentences[1]: [0, 0, 1],
        ctx: [0.5, 0.5, 0.7],  # cos with s2 = 0.5/sqrt(0.99) = 0.503 < 0.6: s2 not supported
    })  # fmt: skip
    assert groundedness(f"{s1} {s2}", [ctx], embed) == 0.5
    assert groundedness(f"{s1} {s2}", [ctx], embed, threshold=0.5) == 1.0
    assert groundedness(f"{s1} {s2}", [], embed) == 0.0
    assert groundedness("Yes.", [ctx], embed) is None  # no claim to check


def test_citation_accuracy_refusals_and_mean():
    assert citation_accuracy("a.html", ["b.html", "a.html"]) == 1.0
    assert citation_accuracy("a.html", []) == 0.0
    assert is_refusal("I do not know based on these sources.")
    assert is_refusal("I have no vetted source that answers this question, so I will not guess.")
    assert is_refusal("The sources do not contain the answer.")
    assert is_refusal("   ")
    assert not is_refusal("Use a virtual environment [1].")
    assert mean([1.0, None, 0.0]) == 0.5 and mean([None]) is None
