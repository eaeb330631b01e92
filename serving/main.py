"""The FastAPI app: routers only; the chat and steward services are built by serving.runtime and handed in."""

from __future__ import annotations

from fastapi import FastAPI

from serving.rag import ChatService
from serving.routes import chat, health, metrics, steward
from serving.steward_service import StewardService


def create_app(
    service: ChatService, *, steward_service: StewardService | None = None, steward_token: str | None = None
) -> FastAPI:
    """Without a steward service and token the steward API answers 503 (the page still loads)."""
    app = FastAPI(title="Vetted chat", version="0.1.0")
    app.state.service = service
    app.state.steward = steward_service
    app.state.steward_token = steward_token
    app.include_router(chat.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(steward.router)
    return app
