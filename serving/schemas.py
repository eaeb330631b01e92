"""API bodies (pydantic at the edge)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ChatRequest(BaseModel):
    question: str = Field(min_length=1, max_length=4000)


class CitationOut(BaseModel):
    n: int
    doc_id: str
    title: str
    source: str
    path: str
    score: float
    cited_in_answer: bool


class ChatResponse(BaseModel):
    answer: str
    citations: list[CitationOut]
    has_safe_context: bool
    retrieval_ms: float
    generation_ms: float


class Health(BaseModel):
    status: str
    index_build: str
    engine: str
