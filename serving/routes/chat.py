"""POST /v1/chat (our richer shape: a question in, the answer with citations and checks out, streamed or
not, in a conversation) and POST /v1/feedback (thumbs up or down on an answer one was shown)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.sse import EventSourceResponse

from serving.auth import Principal, StaffUser
from serving.chat_store import ChatStore, UnknownAnswer, UnknownConversation
from serving.deps import Service
from serving.rag import Answer, ChatService, Delta, EngineUnavailable, Turn
from serving.schemas import ChatRequest, ChatResponse, ErrorOut, FeedbackRequest
from serving.telemetry import ServingMetrics

router = APIRouter(prefix="/v1", tags=["chat"])

Event = Delta | Answer
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "unknown conversation or answer (or another account's)"},
    503: {"model": ErrorOut, "description": "the model engine is down: ask again when it is back"},
}


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


async def first_event(service: ChatService, events: Iterator[Event], metrics: ServingMetrics) -> Event:
    """Retrieval and the model's first sentence, in a thread; a down engine is a 503 before any byte."""
    try:
        event = await run_in_threadpool(next, events, None)
    except EngineUnavailable as exc:
        metrics.engine_errors.inc()
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    if event is None:  # pragma: no cover - stream() always ends with an Answer
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "the answer stream ended early")
    return event


async def rest_of(events: Iterator[Event], first: Event) -> AsyncIterator[Event]:
    """The events after the first, each pulled in a thread (the model streams through blocking sockets)."""
    event: Event | None = first
    while event is not None:
        yield event
        event = await run_in_threadpool(next, events, None)


def _history(store: ChatStore, body: ChatRequest, who: Principal, turns: int) -> tuple[str, list[Turn]]:
    if body.conversation_id is None:
        return store.new_conversation(who.name), []
    try:
        return body.conversation_id, store.history(body.conversation_id, owner=who.name, turns=turns)
    except UnknownConversation:
        detail = f"unknown conversation {body.conversation_id}"
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail) from None


def _response(request: Request, answer: Answer, body: ChatRequest, who: Principal, conv: str) -> ChatResponse:
    state = request.app.state
    state.metrics.observe_answer(answer)
    answer_id = state.chats.record(answer, question=body.question, owner=who.name, conversation_id=conv)
    return ChatResponse.model_validate(asdict(answer) | {"answer_id": answer_id, "conversation_id": conv})


@router.post(
    "/chat", response_model=ChatResponse, responses=_ERRORS | {200: {"content": {"text/event-stream": {}}}}
)
async def chat(body: ChatRequest, request: Request, service: Service, who: StaffUser) -> Any:
    state = request.app.state
    conv, history = _history(state.chats, body, who, state.conversation_turns)
    events = service.stream(body.question, history)
    first = await first_event(service, events, state.metrics)
    if not body.stream:
        answer = first
        async for event in rest_of(events, first):
            answer = event
        assert isinstance(answer, Answer)
        return _response(request, answer, body, who, conv)

    async def stream() -> AsyncIterator[str]:
        try:
            async for event in rest_of(events, first):
                if isinstance(event, Delta):
                    yield sse("delta", {"text": event.text})
                else:
                    yield sse("answer", _response(request, event, body, who, conv).model_dump())
        except EngineUnavailable as exc:  # after the first sentence: the stream says so and ends
            state.metrics.engine_errors.inc()
            yield sse("error", {"detail": str(exc)})

    return EventSourceResponse(stream())


@router.post("/feedback", status_code=204, responses=_ERRORS)
def feedback(body: FeedbackRequest, request: Request, who: StaffUser) -> None:
    """Thumbs up or down on an answer one was shown; a thumbs-down goes to the stewards' feedback queue."""
    state = request.app.state
    try:
        state.chats.feedback(body.answer_id, owner=who.name, rating=body.rating, comment=body.comment)
    except UnknownAnswer:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown answer {body.answer_id}") from None
    state.metrics.feedback.labels(body.rating).inc()
