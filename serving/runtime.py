"""Bring the chatbot up: the base model in the cache, the vLLM engine (a child process or an external URL),
the safe retriever, and the FastAPI app under uvicorn on loopback; `stop_on_signals` lets SIGTERM and SIGINT
take it down in order (the app, then the engine)."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import httpx
import uvicorn

from pipelines.core.embedding import Embedder, embedder_for
from pipelines.core.model_cache import resolve_model
from pipelines.core.settings import Settings
from serving.accounts import AccountStore
from serving.auth import adopt_steward_token, steward_token
from serving.engine import VLLMEngine, engine_from_settings
from serving.main import DEFAULT_CONVERSATION_TURNS, DEFAULT_MAX_REQUEST_BYTES, create_app
from serving.rag import ChatService, llm_for
from serving.retriever import SafeRetriever
from serving.steward_service import StewardService

log = logging.getLogger(__name__)
APP_GRACE_S = 5  # uvicorn's wait for in-flight requests on shutdown, before the engine they use stops


class StopRequested(BaseException):
    """SIGTERM or SIGINT arrived; a BaseException so that no `except Exception` on the way swallows it."""


@contextmanager
def stop_on_signals(signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)) -> Iterator[None]:
    """Turn the first of `signals` into StopRequested in the main thread, so every `with` inside unwinds: the
    app stops, then the engine's process group. Needed because uvicorn runs in a thread here and installs no
    handlers there, and SIGTERM's default (what systemd, `docker stop` and Kubernetes send) runs no cleanup.
    Signals during the unwinding are logged, not raised, so they cannot cut the engine's stop short."""

    def stopping(signum: int, frame: FrameType | None) -> None:
        log.warning("%s while stopping; the engine's group is being stopped", signal.Signals(signum).name)

    def stop(signum: int, frame: FrameType | None) -> None:
        for sig in signals:
            signal.signal(sig, stopping)
        raise StopRequested(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stop) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def engine_for(settings: Settings, log_path: Path) -> VLLMEngine:
    # the base model is converted only when we serve it ourselves
    model_dir = (
        Path() if settings.engine.url else resolve_model(settings.engine.model, settings.layout.models_dir)
    )
    return engine_from_settings(settings, model_dir=model_dir, log_path=log_path)


def chat_service(
    settings: Settings,
    engine_base_url: str,
    embedder: Embedder | None = None,
    engine_up: Callable[[], bool] | None = None,
) -> ChatService:
    """The chat service over the current index; `engine_up` (VLLMEngine.is_up) lets it answer 503 at once."""
    embedder = embedder or embedder_for(settings)
    retriever = SafeRetriever(
        settings.work_dir,
        embedder,
        top_k=settings.retrieval.top_k,
        min_similarity=settings.retrieval.min_similarity,
        search_threads=settings.index.search_threads,
    )
    return ChatService(
        retriever, llm_for(settings.engine, engine_base_url), settings.answers, engine_up=engine_up
    )


def launched_engine(settings: Settings) -> VLLMEngine:
    """The engine of `settings` with its process launched but not yet healthy (the base model converted
    first if it is not in the cache): the caller does other work while vLLM loads (30-80 s here, more on
    a busy machine), then enters `running_stack(settings, engine)`, which waits for it. The caller owns the
    engine until then: `stop()` it if that work fails."""
    log_path = settings.layout.logs_dir / "vllm.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    engine = engine_for(settings, log_path)
    engine.start()
    return engine


@contextmanager
def running_stack(
    settings: Settings, engine: VLLMEngine | None = None
) -> Iterator[tuple[VLLMEngine, ChatService]]:
    """The engine up, healthy and watched, and a chat service over the current index that asks the watch
    before each model call; the engine (its whole process group) stops on exit. `engine`: one already
    launched (`launched_engine`), else it is launched here."""
    if engine is None:
        log_path = settings.layout.logs_dir / "vllm.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        engine = engine_for(settings, log_path)
    with engine:  # start() is a no-op for a launched engine; the health wait counts from its launch
        yield engine, chat_service(settings, engine.base_url, engine_up=engine.is_up)


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
    conversation_turns: int = DEFAULT_CONVERSATION_TURNS,
) -> Iterator[str]:
    """The app under uvicorn in a thread; yields its base URL once /healthz answers."""
    app = create_app(
        service, steward_service=steward, steward_token=steward_token, accounts=accounts,
        rate_limit_per_minute=rate_limit_per_minute, max_request_bytes=max_request_bytes,
        conversation_turns=conversation_turns,
    )  # fmt: skip
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=APP_GRACE_S
    )
    server = uvicorn.Server(config)
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
        thread.join(timeout=APP_GRACE_S + 5)


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
        max_request_bytes=serving.max_request_bytes, conversation_turns=serving.conversation_turns,
    ) as url:  # fmt: skip
        print(f"chat page: {url}/ ; steward page: {url}/steward (steward token: {origin})", flush=True)
        yield url
