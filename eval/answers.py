"""Answer evaluation against the real engine: vLLM serving a model folder, the service's ChatService on top.

The model is a seam: `serving_engine(settings, model_dir)` serves whatever folder it is given, the base model
from `ensure_base_model` today, a merged fine-tune once that lands, so base vs fine-tuned is two calls.
The chat service is the production one (`serving.rag.ChatService`); a recording retriever keeps the chunks it
handed over, so groundedness and leak counts see exactly what the model saw.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.metrics import (
    citation_accuracy,
    embedding_similarity,
    groundedness,
    is_refusal,
    mean,
    token_f1,
)
from eval.qa import QAPair
from pipelines.core.embedding import Embedder
from pipelines.core.settings import Settings
from serving.engine import VLLMEngine, engine_from_settings
from serving.rag import Answer, ChatService, llm_for
from serving.retriever import Hit, SafeRetriever

ANSWER_METRICS = ("token_f1", "embedding_similarity", "groundedness", "citation_accuracy", "cited_accuracy")


class RecordingRetriever(SafeRetriever):
    """The service retriever, remembering the hits of the last question."""

    last_hits: list[Hit]

    def retrieve(self, question: str) -> list[Hit]:
        self.last_hits = super().retrieve(question)
        return self.last_hits


@dataclass(slots=True)
class Asker:
    """One work folder's chat service: ask a question, get the chunks the model saw and its answer."""

    service: ChatService
    retriever: RecordingRetriever

    def __call__(self, question: str) -> tuple[list[Hit], Answer]:
        self.retriever.last_hits = []
        answer = self.service.answer(question)
        return self.retriever.last_hits, answer

    def text(self, question: str) -> tuple[list[Hit], str | None]:
        hits, answer = self(question)
        return hits, answer.answer


@dataclass(slots=True)
class AnswerResult:
    label: str
    model: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "model": self.model, "summary": self.summary, "questions": self.rows}


@contextmanager
def serving_engine(settings: Settings, model_dir: Path, log_path: Path) -> Iterator[VLLMEngine]:
    """vLLM serving `model_dir` as a child process (or the external engine in settings), stopped on exit."""
    engine = engine_from_settings(settings, model_dir=model_dir, log_path=log_path)
    with engine:
        yield engine


def asker_for(work_dir: Path, settings: Settings, embedder: Embedder, base_url: str) -> Asker:
    """The production chat service over one work folder: the settings' top_k, floor and answer mode."""
    retriever = RecordingRetriever(
        work_dir, embedder, top_k=settings.retrieval.top_k, min_similarity=settings.retrieval.min_similarity
    )
    return Asker(ChatService(retriever, llm_for(settings.engine, base_url), settings.answers), retriever)


def evaluate_answers(
    label: str, model: str, asker: Asker, pairs: Sequence[QAPair], embedder: Embedder
) -> AnswerResult:
    """Ask every question; score each answer against its reference, its context and the gold document."""
    result = AnswerResult(label, model)
    started = time.perf_counter()
    for pair in pairs:
        hits, answer = asker(pair.question)
        result.rows.append(score_answer(pair, hits, answer, embedder))
    result.summary = summarize(result.rows, time.perf_counter() - started)
    return result


def score_answer(pair: QAPair, hits: Sequence[Hit], answer: Answer, embedder: Embedder) -> dict[str, Any]:
    """The answer metrics of one question.

    Groundedness is measured against the sources the answer cites ([n]); an answer that cites none is held to
    every chunk it was given. Citation accuracy asks whether the gold document is among the sources shown
    with the answer; `cited_accuracy` whether the answer itself cites it.
    """
    # a citation is one document (its chunks joined in `excerpt`), so [n] maps to citations, not to hits
    cited = [c for c in answer.citations if c.cited_in_answer]
    refused = not answer.has_safe_context or is_refusal(answer.answer)
    context = [c.excerpt for c in cited] or [h.text for h in hits]
    return {
        "id": pair.id,
        "doc": pair.doc,
        "question": pair.question,
        "answer": answer.answer,
        "refused": refused,
        "token_f1": round(token_f1(answer.answer, pair.answer), 4),
        "embedding_similarity": round(embedding_similarity(answer.answer, pair.answer, embedder.embed), 4),
        "groundedness": None if refused else groundedness(answer.answer, context, embedder.embed),
        "citation_accuracy": citation_accuracy(pair.doc, (c.path for c in answer.citations)),
        "cited_accuracy": citation_accuracy(pair.doc, (c.path for c in cited)),
        "citations": [c.path for c in answer.citations],
        "generation_ms": round(answer.generation_ms, 1),
        "mode": answer.mode,
        "quoted_fallback": answer.quoted_fallback,
        "unsupported_citations": answer.unsupported_citations,
        "masked_outputs": answer.masked_outputs,
    }


def summarize(rows: Sequence[dict[str, Any]], seconds: float) -> dict[str, Any]:
    summary: dict[str, Any] = {"questions": len(rows)}
    for name in ANSWER_METRICS:
        value = mean(r[name] for r in rows)
        summary[name] = None if value is None else round(value, 4)
    summary["refusal_rate"] = round(mean(float(r["refused"]) for r in rows) or 0.0, 4)
    summary["s_per_question"] = round(seconds / max(1, len(rows)), 2)
    return summary
