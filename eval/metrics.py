"""Retrieval and answer metrics, as plain functions over ranked paths and strings.

Retrieval is scored per document, not per chunk: a ranked chunk list is first collapsed to documents in rank
order (`dedupe_in_order`), so three chunks of one page count once. Relevance is binary (the gold document).

Answers: token F1 with SQuAD's normalisation (Rajpurkar et al. 2016, the official evaluate-v1.1 script),
embedding similarity (cosine of the two texts' MiniLM vectors), groundedness (see `groundedness`), citation
accuracy and refusals.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import numpy as np

Embed = Callable[[list[str]], np.ndarray]  # texts -> L2-normalised vectors, one row each (Embedder.embed)

# A sentence counts as supported when its best match among the context's sentences and chunks reaches this
# cosine (all-MiniLM-L6-v2). Measured on 60 Python FAQ answers: a sentence against another answer of the same
# page scores a median 0.25 (95th percentile 0.60); against the rest of its own answer (related text that does
# not restate it) a median 0.62. A sentence copied or paraphrased from the context scores 0.8-1.0.
GROUNDED_MIN_COSINE = 0.6
MIN_CLAIM_WORDS = 3  # shorter "sentences" ("Yes.", "[1]") carry no claim to check

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_CITATION_MARK = re.compile(r"\[\d+\]")
# How the model says it cannot answer (SYSTEM_PROMPT asks for "say you do not know"), and the service's own
# no-source reply (serving.rag.NO_SAFE_CONTEXT: "I have no vetted source ...").
_REFUSAL = re.compile(
    r"\b(i (do not|don't|cannot|can't) (know|answer|find|help)|no vetted source|"
    r"(sources|context) (do|does) not (contain|provide|mention|say)|not (enough|sufficient) information)\b",
    re.IGNORECASE,
)


# --- retrieval ------------------------------------------------------------------------------------------


def dedupe_in_order(ranked: Iterable[str]) -> list[str]:
    """Documents in the order of their best-ranked chunk."""
    return list(dict.fromkeys(ranked))


def recall_at_k(ranked_docs: Sequence[str], relevant: set[str], k: int) -> float:
    """Share of the relevant documents among the first k (with one gold document: hit or miss)."""
    if not relevant:
        raise ValueError("a question needs at least one relevant document")
    return len(relevant.intersection(ranked_docs[:k])) / len(relevant)


def reciprocal_rank(ranked_docs: Sequence[str], relevant: set[str]) -> float:
    """1/rank of the first relevant document, 0 when none was retrieved (MRR is the mean of this)."""
    for rank, doc in enumerate(ranked_docs, 1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked_docs: Sequence[str], relevant: set[str], k: int = 10) -> float:
    """nDCG@k with binary gains: DCG = sum of 1/log2(rank + 1) over relevant ranks, over the ideal DCG."""
    dcg = sum(1.0 / math.log2(rank + 1) for rank, doc in enumerate(ranked_docs[:k], 1) if doc in relevant)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal if ideal else 0.0


def retrieval_scores(ranked_docs: Sequence[str], relevant: set[str]) -> dict[str, float]:
    """Every retrieval metric of one question (ranked_docs already deduplicated)."""
    return {
        "recall@1": recall_at_k(ranked_docs, relevant, 1),
        "recall@5": recall_at_k(ranked_docs, relevant, 5),
        "recall@10": recall_at_k(ranked_docs, relevant, 10),
        "mrr": reciprocal_rank(ranked_docs, relevant),
        "ndcg@10": ndcg_at_k(ranked_docs, relevant, 10),
    }


# --- answers --------------------------------------------------------------------------------------------


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, drop punctuation and the articles a/an/the, collapse whitespace."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split())


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of token precision and recall after SQuAD normalisation (bag of tokens)."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def embedding_similarity(prediction: str, reference: str, embed: Embed) -> float:
    """Cosine of the two texts' vectors (normalised, so the dot product)."""
    vectors = embed([prediction, reference])
    return float(np.dot(vectors[0], vectors[1]))


def split_sentences(text: str) -> list[str]:
    """Sentences at . ! ? followed by space, and at line breaks; citation marks removed."""
    parts = (" ".join(_CITATION_MARK.sub(" ", p).split()) for p in _SENTENCE_END.split(text))
    return [p for p in parts if p]


def claims(answer: str) -> list[str]:
    """The answer's distinct sentences that are long enough to assert something (a sentence a small model
    repeats in a loop counts once)."""
    return list(dict.fromkeys(s for s in split_sentences(answer) if len(s.split()) >= MIN_CLAIM_WORDS))


def groundedness(
    answer: str, contexts: Sequence[str], embed: Embed, *, threshold: float = GROUNDED_MIN_COSINE
) -> float | None:
    """Share of the answer's sentences that the context supports; None when the answer makes no claim.

    Method (embedding proxy for entailment): the context is split into units, every sentence of every chunk
    plus each chunk whole (so a sentence that summarises a chunk can match it). An answer sentence is
    supported when its highest cosine with any unit is >= `threshold`. No context supports nothing (0.0).
    It measures "says what the context talks about", not logical entailment: a sentence that restates the
    question also matches a context that holds the question's heading (FAQ pages do), and a negated claim
    scores like the claim. Read it beside token F1 and the answers themselves.
    """
    sentences = claims(answer)
    if not sentences:
        return None
    units = [u for c in contexts for u in split_sentences(c)] + [c for c in contexts if c.strip()]
    if not units:
        return 0.0
    vectors = embed(sentences + units)
    best = (vectors[: len(sentences)] @ vectors[len(sentences) :].T).max(axis=1)
    return float((best >= threshold).mean())


def citation_accuracy(gold: str, cited: Iterable[str]) -> float:
    """1.0 when the gold document is among the cited documents."""
    return float(gold in set(cited))


def is_refusal(answer: str) -> bool:
    """The answer declines (the service's no-source reply, or the model saying it does not know)."""
    return not answer.strip() or bool(_REFUSAL.search(answer))


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are not None; None when there are none."""
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None
