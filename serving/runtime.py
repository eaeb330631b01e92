"""Bring the chatbot up: the base model in the cache, the vLLM engine (a child process or an external URL),
the safe retriever, and the FastAPI app under uvicorn on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from pipelines.core.embedding import Embedder, embedder_for
from pipelines.core.model_cache import resolve_model
from pipelines.core.settings import Settings
from serving.accounts import AccountStore
from serving.auth import adopt_steward_token, steward_token
from serving.engine import VLLMEngine, engine_from_settings
from serving.main import DEFAULT_MAX_REQUEST_BYTES, create_app
from serving.rag import ChatService, llm_for
from serving.retriever import SafeRetriever
from serving.steward_service import StewardService


def engine_for(settings: Settings, log_path: Path) -> VLLMEngine:
    # the base model is converted only when we serve it ourselves
    model_dir = (
        Path() if settings.engine.url else resolve_model(settings.engine.model, settings.layout.models_dir)
    )
    return engine_from_settings(settings, model_dir=model_dir, log_path=log_path)


def chat_service(settings: Settings, engine_base_url: str, embedder: Embedder | None = None) -> ChatService:
    embedder = embedder or embedder_for(settings)
    retriever = SafeRetriever(
        settings.work_dir,
        embedder,
        top_k=settings.retrieval.top_k,
        min_similarity=settings.retrieval.min_similarity,
    )
    return ChatService(retriever, llm_for(settings.engine, engine_base_url), settings.answers)


@contextmanager
def running_stack(settings: Settings) -> Iterator[tuple[VLLMEngine, ChatService]]:
    """The engine up and healthy and a chat service over the current index; the engine stops on exit."""
    log_path = settings.layout.logs_dir / "vllm.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with engine_for(settings, log_path) as engine:
        yield engine, chat_service(settings, engine.base_url)


@contextmanager
def running_app(
    service: ChatService,
    *,
    host: str,
    port: int,
    steward: StewardService | None = None,
    steward_token: str | None = None,
    accounts: AccountStore | None = None,
    rate_limit_per_minute: int | None = None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
) -> Iterator[str]:
    """The app under uvicorn in a thread; yields its base URL once /healthz answers."""
    app = create_app(
        service, steward_service=steward, steward_token=steward_token, accounts=accounts,
        rate_limit_per_minute=rate_limit_per_minute, max_request_bytes=max_request_bytes,
    )  # fmt: skip
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError(f"the app did not come up on {url}")
        time.sleep(0.2)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serving_app(settings: Settings, service: ChatService) -> Iterator[str]:
    """running_app on the configured host and port with the steward workflow on; says where its token is
    (serving.auth.steward_token: settings, the environment, or a generated 0600 file), never the token."""
    token, origin = steward_token(settings)
    steward = StewardService(settings, service.retriever.embedder)
    accounts = AccountStore(settings.layout.steward_db)
    adopt_steward_token(accounts, origin)
    host, port, serving = settings.serving.host, settings.serving.port, settings.serving
    with running_app(
        service, host=host, port=port, steward=steward, steward_token=token, accounts=accounts,
        rate_limit_per_minute=serving.rate_limit_per_minute or None,
        max_request_bytes=serving.max_request_bytes,
    ) as url:  # fmt: skip
        print(f"steward page: {url}/steward (steward token: {origin})", flush=True)
        yield url
