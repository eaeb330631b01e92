"""The OpenAI-compatible API: POST /v1/chat/completions and GET /v1/models, so that OpenAI's clients and SDKs
(and tools built on them) pointed at our base URL with a staff token as the API key work unchanged.

What differs from a plain model server, on purpose: the answer comes from the safe tier only (a system message
from the client cannot change the rules; it is ignored), it is the same verified answer as /v1/chat, with a
documented `citations` field (on the response; on the last chunk when streaming), and the earlier turns of
`messages` are the conversation (a follow-up is retrieved together with the question it follows). Streaming
sends whole sentences, each past the output guard, as `chat.completion.chunk`s, then `data: [DONE]`; `usage`
(the engine's tokens, zero when no model call was needed) comes in the last chunk with
`stream_options.include_usage`. Errors carry OpenAI's `{"error": {...}}` body (and our `detail`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.sse import EventSourceResponse

from serving.auth import StaffUser
from serving.deps import Service
from serving.openai_schemas import (
    Choice,
    ChoiceMessage,
    CitationField,
    Completion,
    CompletionRequest,
    Message,
    ModelCard,
    ModelList,
    Usage,
)
from serving.rag import Answer, Delta, EngineUnavailable, Turn, standalone
from serving.routes.chat import first_event, rest_of

router = APIRouter(prefix="/v1", tags=["openai"])


def history(messages: list[Message], turns: int) -> list[Turn]:
    """The user/assistant pairs before the question, each question as it would have been retrieved."""
    done: list[Turn] = []
    pending: str | None = None
    for message in messages[:-1]:
        if message.role == "user":
            pending = message.text
        elif message.role == "assistant" and pending is not None:
            done.append(Turn(standalone(pending, done), message.text))
            pending = None
    return done[-turns:] if turns else []


def citations(answer: Answer) -> list[dict[str, Any]]:
    return [
        CitationField(
            n=c.n, doc_id=c.doc_id, title=c.title, source=c.source, path=c.path, tier=c.tier,
            updated=c.updated, score=c.score, cited_in_answer=c.cited_in_answer, location=c.location,
            excerpt=c.excerpt,
        ).model_dump()
        for c in answer.citations
    ]  # fmt: skip


def usage(answer: Answer) -> Usage:
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    return Usage(**{k: answer.usage.get(k, 0) for k in keys})


@router.get("/models", response_model=ModelList)
def models(request: Request, service: Service, _: StaffUser) -> ModelList:
    return ModelList(data=[ModelCard(id=request.app.state.model_name)])


@router.post("/chat/completions", response_model=Completion)
async def completions(body: CompletionRequest, request: Request, service: Service, who: StaffUser) -> Any:
    state = request.app.state
    question = body.messages[-1].text
    events = service.stream(
        question, history(body.messages, state.conversation_turns),
        max_tokens=_max_tokens(body, service.llm.max_tokens), temperature=body.temperature,
    )  # fmt: skip
    first = await first_event(service, events, state.metrics)
    model = body.model or state.model_name
    completion_id, created = "chatcmpl-" + uuid.uuid4().hex[:24], int(time.time())
    if not body.stream:
        answer = first
        async for event in rest_of(events, first):
            answer = event
        assert isinstance(answer, Answer)
        state.metrics.observe_answer(answer)
        state.chats.record(answer, question=question, owner=who.name)
        return Completion(
            id=completion_id, created=created, model=model, usage=usage(answer),
            choices=[Choice(message=ChoiceMessage(content=answer.answer))],
            citations=citations(answer),  # type: ignore[arg-type]
        )  # fmt: skip
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    base = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        choices = [{"index": 0, "delta": delta, "finish_reason": finish}]
        return f"data: {json.dumps(base | {'choices': choices} | extra)}\n\n"

    async def stream() -> AsyncIterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        try:
            async for event in rest_of(events, first):
                if isinstance(event, Delta):
                    yield chunk({"content": event.text})
                    continue
                state.metrics.observe_answer(event)
                state.chats.record(event, question=question, owner=who.name)
                cited = citations(event)
                if include_usage:  # OpenAI's last chunk then: no choices, the usage; ours adds citations
                    yield chunk({}, "stop")
                    last = base | {"choices": [], "usage": usage(event).model_dump(), "citations": cited}
                    yield f"data: {json.dumps(last)}\n\n"
                else:
                    yield chunk({}, "stop", citations=cited)
        except EngineUnavailable as exc:  # after the first sentence: an error object, then the end
            state.metrics.engine_errors.inc()
            error = {"message": str(exc), "type": "engine_unavailable", "code": 503}
            yield f"data: {json.dumps({'error': error})}\n\n"
        yield "data: [DONE]\n\n"

    return EventSourceResponse(stream())


def _max_tokens(body: CompletionRequest, cap: int | None) -> int | None:
    """The request's limit, never above the server's (engine.max_tokens): a client cannot hold the engine."""
    asked = body.max_completion_tokens or body.max_tokens
    if asked is None:
        return None
    return min(asked, cap) if cap else asked
