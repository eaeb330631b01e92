"""POST /v1/chat: a question in, an answer from the safe tier with citations out."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from serving.auth import StaffUser
from serving.deps import Service
from serving.schemas import ChatRequest, ChatResponse

router = APIRouter(prefix="/v1", tags=["chat"])


@router.post("/chat", response_model=ChatResponse)
async def chat(body: ChatRequest, service: Service, _: StaffUser) -> ChatResponse:
    answer = await run_in_threadpool(service.answer, body.question)  # retrieval and the model call block
    return ChatResponse.model_validate(asdict(answer))
