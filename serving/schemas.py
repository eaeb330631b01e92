"""API bodies (pydantic at the edge): the chat request and answer, health, and the error body every route
shares. The steward API's bodies are in serving.steward_schemas."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ChatRequest(BaseModel):
    question: str = Field(min_length=1, max_length=4000)


class CitationOut(BaseModel):
    n: int = Field(description="the number the answer cites it by: [n]")
    doc_id: str
    title: str
    source: str
    path: str
    score: float = Field(description="similarity of the document's best chunk to the question")
    cited_in_answer: bool = Field(description="whether the answer cites [n]; unused sources are listed too")


class ChatResponse(BaseModel):
    answer: str
    citations: list[CitationOut]
    has_safe_context: bool = Field(description="false: no safe source matched, the model was not asked")
    retrieval_ms: float = Field(description="milliseconds spent retrieving")
    generation_ms: float = Field(description="milliseconds spent in the model (0 when it was not asked)")


class Health(BaseModel):
    status: Literal["ok"]
    index_build: str = Field(description="the index build answering questions")
    engine: str = Field(description="base URL of the OpenAI-compatible engine")


class ErrorOut(BaseModel):
    """The body of an HTTPException (401, 404, 503, ...); a 422 from request validation lists its errors."""

    detail: str
