"""API bodies (pydantic at the edge): the chat request and answer, health, and the error body every route
shares. The steward API's bodies are in serving.steward_schemas."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ChatRequest(BaseModel):
    question: str = Field(min_length=1, max_length=4000)
    conversation_id: str | None = Field(
        default=None, max_length=64, description="continue this conversation (from an earlier answer); "
        "none: start a new one. A follow-up is retrieved together with the question it follows",
    )  # fmt: skip
    stream: bool = Field(
        default=False, description="server-sent events: `delta` ({text}) per sentence, then `answer` (this "
        "response's body); `error` ({detail}) if the engine fails midway",
    )  # fmt: skip


class FeedbackRequest(BaseModel):
    answer_id: str = Field(min_length=1, max_length=64)
    rating: Literal["up", "down"]
    comment: str = Field(default="", max_length=2000)


class CitationOut(BaseModel):
    n: int = Field(description="the number the answer cites it by: [n]")
    doc_id: str
    title: str
    source: str
    path: str
    score: float = Field(description="similarity of the document's best chunk to the question")
    cited_in_answer: bool = Field(description="whether the answer cites [n]; unused sources are listed too")
    supported: bool | None = Field(
        default=None, description="cited and backing what cites it; null when not cited or not checked"
    )
    location: str | None = Field(
        default=None, description="where the best chunk starts in its file: 'page 12', 'slide 3', 'sheet Q3'"
    )
    tier: str = Field(default="safe", description="the document's tier when it was retrieved")
    updated: str | None = Field(default=None, description="the date its content carries (ISO)")
    excerpt: str = Field(default="", description="the text of this source the model was shown")


class SentenceOut(BaseModel):
    text: str = Field(description="a sentence of the generated answer, as the model wrote it")
    cites: list[int] = Field(description="the [n] it carries")
    is_claim: bool = Field(description="three words or more; shorter text is not checked")
    supported: bool = Field(description="backed by its source by meaning, words and polarity")
    source: int | None = Field(description="the source that backs it best")
    cosine: float = Field(description="best cosine to a sentence or passage of that source")
    word_overlap: float = Field(description="share of its content words found in that source")


class ChatResponse(BaseModel):
    answer: str
    citations: list[CitationOut]
    has_safe_context: bool = Field(description="false: no safe source matched, the model was not asked")
    retrieval_ms: float = Field(description="milliseconds spent retrieving")
    generation_ms: float = Field(description="milliseconds spent in the model (0 when it was not asked)")
    mode: Literal["generative", "extractive", "verified"] = Field(description="settings answers.mode")
    sentences: list[SentenceOut] = Field(
        default_factory=list, description="verified mode: every generated sentence and its support"
    )
    unsupported_citations: list[int] = Field(
        default_factory=list, description="[n] on a generated claim that source n does not back"
    )
    quoted_fallback: bool = Field(
        default=False, description="nothing generated was supported: the answer quotes the top source"
    )
    masked_outputs: int = Field(default=0, description="spans masked, sentences withheld by the output guard")
    query: str = Field(default="", description="the question as retrieved (a follow-up joined to its lead)")
    ttft_ms: float = Field(default=0.0, description="milliseconds from the question to the first sentence")
    usage: dict[str, int] = Field(default_factory=dict, description="engine tokens; empty: no model call")
    answer_id: str | None = Field(default=None, description="for POST /v1/feedback")
    conversation_id: str | None = Field(default=None, description="send it back to ask a follow-up")


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="degraded: the engine is down (chat answers 503)")
    index_build: str = Field(description="the index build answering questions")
    engine: str = Field(description="base URL of the OpenAI-compatible engine")
    engine_up: bool | None = Field(default=None, description="the engine's health watch; null: not watched")


class ErrorOut(BaseModel):
    """The body of an HTTPException (401, 404, 503, ...); a 422 from request validation lists its errors."""

    detail: str
