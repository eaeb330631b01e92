"""The FastAPI app: routers only; the chat service is built by serving.runtime and handed in."""

from __future__ import annotations

from fastapi import FastAPI

from serving.rag import ChatService
from serving.routes import chat, health


def create_app(service: ChatService) -> FastAPI:
    app = FastAPI(title="Vetted chat", version="0.1.0")
    app.state.service = service
    app.include_router(chat.router)
    app.include_router(health.router)
    return app
