"""Bodies of the OpenAI-compatible API (/v1/chat/completions, /v1/models): the fields OpenAI's clients send
and read, plus our documented `citations`. Unknown request fields (top_p, user, seed, ...) are accepted and
ignored, as OpenAI-compatible servers do; `n` > 1 and tools are refused, since one vetted answer is given."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str | None = Field(default=None, max_length=200, description="any name: one model serves")
    messages: list[Message] = Field(min_length=1, max_length=200)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=32768)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=32768)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    n: int = Field(default=1, ge=1, le=1, description="one vetted answer per question")
    tools: list[dict[str, object]] | None = Field(default=None, max_length=0, description="not supported")

    @field_validator("messages")
    @classmethod
    def _ends_with_a_question(cls, messages: list[Message]) -> list[Message]:
        last = messages[-1]
        if last.role != "user" or not last.text.strip():
            raise ValueError("the last message must be the user's question, with text")
        if len(last.text) > 4000:
            raise ValueError("the question is longer than 4000 characters")
        return messages


class CitationField(BaseModel):
    """Our addition to OpenAI's body: the sources the answer was given, numbered as the answer cites them."""

    n: int
    doc_id: str
    title: str
    source: str
    path: str
    tier: str
    updated: str | None
    score: float
    cited_in_answer: bool
    location: str | None = None
    excerpt: str


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChoiceMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: ChoiceMessage
    finish_reason: Literal["stop"] = "stop"


class Completion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    citations: list[CitationField] = Field(description="the vetted sources; the answer cites them as [n]")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "vetted"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
