"""The FastAPI app: routers only; the chat and steward services are built by serving.runtime and handed in."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from curation.layout import WorkLayout
from serving.accounts import AccountStore
from serving.auth import RateLimiter, TokenAuthenticator, body_limit
from serving.chat_store import ChatStore
from serving.rag import ChatService
from serving.routes import chat, chat_page, health, metrics, openai, steward, steward_rules
from serving.steward_service import StewardService
from serving.telemetry import ServingMetrics, request_telemetry

DEFAULT_MAX_REQUEST_BYTES = 256 * 1024
DEFAULT_CONVERSATION_TURNS = 4
_OPENAI_PATHS = ("/v1/chat/completions", "/v1/models")


def create_app(
    service: ChatService,
    *,
    steward_service: StewardService | None = None,
    steward_token: str | None = None,
    accounts: AccountStore | None = None,
    rate_limit_per_minute: int | None = None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    conversation_turns: int = DEFAULT_CONVERSATION_TURNS,
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
    app.state.chats = ChatStore(WorkLayout(service.retriever.work_dir).chat_db)
    app.state.metrics = ServingMetrics()
    app.state.model_name = str(service.llm.model)
    app.state.conversation_turns = conversation_turns
    for module in (chat, openai, health, metrics, steward, steward_rules, chat_page):
        app.include_router(module.router)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(body_limit, max_bytes=max_request_bytes)
    app.add_middleware(request_telemetry, metrics=app.state.metrics)  # outermost: sees every status
    return app


def _openai_body(status_code: int, message: str, kind: str) -> dict[str, object]:
    error = {"message": message, "type": kind, "param": None, "code": status_code}
    return {"error": error, "detail": message}


async def _http_error(request: Request, exc: Exception) -> Response:
    """OpenAI's error body on the OpenAI-compatible routes (SDKs read `error.message`); ours elsewhere."""
    assert isinstance(exc, HTTPException)
    if request.url.path not in _OPENAI_PATHS:
        return await http_exception_handler(request, exc)
    kind = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}.get(
        exc.status_code, "invalid_request_error" if exc.status_code < 500 else "server_error"
    )
    body = _openai_body(exc.status_code, str(exc.detail), kind)
    return JSONResponse(body, exc.status_code, headers=getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: Exception) -> Response:
    """On the OpenAI-compatible routes a bad body is a 400, as OpenAI answers; a 422 elsewhere."""
    assert isinstance(exc, RequestValidationError)
    if request.url.path not in _OPENAI_PATHS:
        return await request_validation_exception_handler(request, exc)
    errors = exc.errors()
    message = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in errors[:5])
    return JSONResponse(_openai_body(400, message or "invalid request", "invalid_request_error"), 400)
