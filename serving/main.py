"""The FastAPI app: routers only; the chat and steward services are built by serving.runtime and handed in."""

from __future__ import annotations

from fastapi import FastAPI

from serving.accounts import AccountStore
from serving.auth import RateLimiter, TokenAuthenticator, body_limit
from serving.rag import ChatService
from serving.routes import chat, health, metrics, steward
from serving.steward_service import StewardService

DEFAULT_MAX_REQUEST_BYTES = 256 * 1024


def create_app(
    service: ChatService,
    *,
    steward_service: StewardService | None = None,
    steward_token: str | None = None,
    accounts: AccountStore | None = None,
    rate_limit_per_minute: int | None = None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
) -> FastAPI:
    """Every route but /healthz and the static pages needs a token: an account's (`accounts`) or the legacy
    steward token. With neither, those routes answer 503; without a steward service the steward API does."""
    app = FastAPI(title="Vetted chat", version="0.1.0")
    app.state.service = service
    app.state.steward = steward_service
    app.state.steward_token = steward_token
    app.state.authenticator = (
        TokenAuthenticator(accounts, steward_token) if accounts or steward_token else None
    )
    app.state.rate_limiter = RateLimiter(rate_limit_per_minute) if rate_limit_per_minute else None
    app.include_router(chat.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(steward.router)
    app.add_middleware(body_limit, max_bytes=max_request_bytes)
    return app
