"""The engine killed under load, end to end with the real vLLM server: streaming clients keep asking while the
engine's whole process group is SIGKILLed (an OOM kill, a crash). Clients get 503s that say the engine is
down, no request outlives its timeout, the health watch restarts the engine, and answers come back."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import pytest

from serving.accounts import AccountStore, Role
from serving.engine import VLLMEngine, find_engine_python, free_port, live_group_pids
from serving.rag import ChatService, make_llm
from serving.retriever import SafeRetriever
from serving.runtime import running_app
from tests.conftest import REPO_ROOT
from tests.serving.small_index import LIST_QUESTION, build_small_index

pytestmark = pytest.mark.engine

CLIENTS = 4
REQUEST_TIMEOUT_S = 30.0  # the model call's timeout in the service
CLIENT_TIMEOUT_S = REQUEST_TIMEOUT_S + 30  # a request that outlives this is a hung request
RECOVERY_S = 420.0  # a restart loads the model again: 30-80 s on 2 cores, more under a busy suite


def ask(url: str, token: str) -> tuple[int | str, float, str]:
    start = time.monotonic()
    body = {"question": LIST_QUESTION, "stream": True}
    try:
        reply = httpx.post(f"{url}/v1/chat", json=body, headers={"Authorization": f"Bearer {token}"},
                           timeout=CLIENT_TIMEOUT_S)  # fmt: skip
    except httpx.HTTPError as exc:
        return type(exc).__name__, time.monotonic() - start, str(exc)
    text = reply.text
    status: int | str = reply.status_code
    if status == 200 and "event: error" in text:
        status = "stream_error"  # the engine died after the first sentence: the stream said so and ended
    return status, time.monotonic() - start, text


def test_killed_engine_gives_503s_then_recovers(tmp_path, embedder, base_model_dir):
    (tmp_path / "work").mkdir()
    work = build_small_index(tmp_path / "work", embedder)
    accounts = AccountStore(work / "steward.db")
    accounts.add_user("ana", Role.STAFF)
    token = accounts.issue("ana", expires_days=1).token
    engine = VLLMEngine(
        model_dir=base_model_dir, served_name="vetted-smollm2", python=find_engine_python(REPO_ROOT),
        log_path=tmp_path / "vllm.log", health_interval_s=1.0, max_restarts=2, restart_backoff_s=1.0,
    )  # fmt: skip
    with engine:
        llm = make_llm(base_url=engine.base_url, model="vetted-smollm2", max_tokens=48, temperature=0.0,
                       context_window=2048, timeout=REQUEST_TIMEOUT_S)  # fmt: skip
        retriever = SafeRetriever(work, embedder, top_k=3, min_similarity=0.35)
        service = ChatService(retriever, llm, engine_up=engine.is_up)
        with running_app(service, host="127.0.0.1", port=free_port(), accounts=accounts) as url:
            assert ask(url, token)[0] == 200  # warm: the engine answers before the kill
            results: list[tuple[int | str, float, str]] = []
            stop = threading.Event()

            def client() -> None:
                while not stop.is_set():
                    results.append(ask(url, token))

            threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
            for t in threads:
                t.start()
            time.sleep(3)  # requests in flight
            group = engine.pid
            assert group is not None and len(live_group_pids(group)) >= 3
            os.killpg(group, signal.SIGKILL)
            deadline = time.monotonic() + RECOVERY_S
            while not (engine.status()["restarts"] >= 1 and engine.is_up()) and time.monotonic() < deadline:
                time.sleep(1)
            stop.set()
            for t in threads:
                t.join(timeout=CLIENT_TIMEOUT_S + 10)
            assert engine.status()["restarts"] == 1 and engine.is_up(), engine.status()
            assert live_group_pids(group) == []  # the killed group is gone; a new one serves
            after = ask(url, token)
    failed = [r for r in results if r[0] != 200]
    assert failed, "the kill was not seen by any client"
    for status, _, text in failed:
        assert status in (503, "stream_error"), (status, text[:300])
        assert "engine" in text
    assert max(seconds for _, seconds, _ in results) < CLIENT_TIMEOUT_S  # no request hung
    assert after[0] == 200 and "event: answer" in after[2]  # recovered
