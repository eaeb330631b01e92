"""The engine's lifecycle: stopped by SIGTERM with `vetted serve`, no orphan after a SIGKILLed parent (both on
the real vLLM server), and the health watch's restarts (on a tiny OpenAI-compatible server: a real vLLM would
add a minute per start and nothing the watch can tell apart)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from serving.engine import GUARD, VLLMEngine, free_port, live_group_pids
from tests.conftest import REPO_ROOT
from tests.serving.processes import is_running, kill_group, read_lines, vetted_serve, wait_for, wait_for_line

# /health and /v1/models, as vLLM answers them; exits with 3 at start while CRASH_MARKER exists (a model that
# no longer loads), so every restart fails.
FAKE_ENGINE = """
import http.server, json, sys
from pathlib import Path

port, crash_marker = int(sys.argv[1]), Path(sys.argv[2])
if crash_marker.exists():
    sys.exit(3)
MODELS = json.dumps({"object": "list", "data": [{"id": "fake", "object": "model"}]}).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = {"/health": b"", "/v1/models": MODELS}.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""

# A parent that starts the real engine and waits: the test SIGKILLs it, as the OOM killer or `kill -9` would.
ENGINE_PARENT = """
import sys, time
from pathlib import Path
from serving.engine import VLLMEngine, find_engine_python

engine = VLLMEngine(model_dir=Path(sys.argv[1]), served_name="smollm2", python=find_engine_python(Path.cwd()),
                    log_path=Path(sys.argv[2]))
engine.start()
engine.wait_healthy()
engine.watch()
print("ready", engine.pid, flush=True)
time.sleep(600)
"""


def fake_server_argv(tmp_path: Path, port: int) -> list[str]:
    script = tmp_path / "fake_engine.py"
    script.write_text(FAKE_ENGINE)
    return [sys.executable, str(script), str(port), str(tmp_path / "crash-on-start")]


def fake_engine(tmp_path: Path, *, max_restarts: int) -> VLLMEngine:
    port = free_port()
    return VLLMEngine(
        model_dir=Path(),
        served_name="fake",
        python=Path(),
        port=port,
        startup_timeout_s=20,
        log_path=tmp_path / "engine.log",
        health_interval_s=0.1,
        max_restarts=max_restarts,
        restart_backoff_s=0.5,  # long enough that the test sees the engine down before it is back
        server_argv=fake_server_argv(tmp_path, port),
    )


def server_pid(engine: VLLMEngine) -> int:
    """The server under the engine's guard (the guard leads the process group)."""
    assert engine.pid is not None
    (pid,) = set(live_group_pids(engine.pid)) - {engine.pid}
    return pid


def test_a_crashed_server_is_restarted_and_up_again(tmp_path: Path, no_leftover_processes: None) -> None:
    engine = fake_engine(tmp_path, max_restarts=2)
    with engine:
        assert engine.is_up() and engine.status()["state"] == "up"
        first, group = server_pid(engine), engine.pid
        os.kill(first, signal.SIGKILL)
        assert wait_for(lambda: not engine.is_up(), 5)
        assert wait_for(engine.is_up, 20), engine.status()
        status = engine.status()
        assert status["state"] == "up" and status["restarts"] == 1
        assert status["last_error"] == "vLLM exited with code 137"  # 128 + SIGKILL, as the guard reports it
        assert engine.pid != group and server_pid(engine) != first
        assert live_group_pids(group or 0) == []  # the crashed group was reaped before the restart
        group = engine.pid
    assert engine.status()["state"] == "stopped" and not engine.is_up()
    assert live_group_pids(group or 0) == []


def test_gives_up_after_max_restarts_and_stays_down(tmp_path: Path, no_leftover_processes: None) -> None:
    engine = fake_engine(tmp_path, max_restarts=2)
    with engine:
        (tmp_path / "crash-on-start").touch()  # from now on the server exits with 3 as it starts
        os.kill(server_pid(engine), signal.SIGKILL)
        assert wait_for(lambda: engine.status()["restarts"] == 2 and engine.status()["state"] == "down", 30)
        time.sleep(0.5)  # several health intervals: the watch has given up, it does not try again
        status = engine.status()
        assert status["state"] == "down" and status["restarts"] == 2 and not engine.is_up()
        assert status["last_error"] == (
            "vLLM exited with code 3 during startup; gave up after 2 restarts (engine.max_restarts)"
        )
        assert engine.pid is None
    assert engine.status()["state"] == "stopped"


def test_external_engine_is_watched_down_and_up_without_a_restart(
    tmp_path: Path, no_leftover_processes: None
) -> None:
    port = free_port()
    argv = fake_server_argv(tmp_path, port)
    server = subprocess.Popen(argv)
    try:
        engine = VLLMEngine.external(
            f"http://127.0.0.1:{port}/v1", served_name="fake", startup_timeout_s=20, health_interval_s=0.1
        )
        with engine:
            assert engine.is_up() and engine.pid is None
            server.kill()
            server.wait()
            assert wait_for(lambda: engine.status()["state"] == "down", 5)
            assert not engine.is_up() and "ConnectError" in (engine.status()["last_error"] or "")
            server = subprocess.Popen(argv)  # the engine elsewhere comes back
            assert wait_for(engine.is_up, 20), engine.status()
            status = engine.status()
            assert status["restarts"] == 0 and status["url"] == f"http://127.0.0.1:{port}/v1"
    finally:
        server.kill()
        server.wait()


def test_guard_kills_a_server_that_ignores_sigterm(no_leftover_processes: None) -> None:
    """vLLM's API server ignores SIGTERM while it loads the model: the guard SIGKILLs it after its grace."""
    server = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    server += "print('loading', flush=True); time.sleep(600)"
    argv = [sys.executable, "-I", str(GUARD), str(os.getpid()), "1", "--", sys.executable, "-c", server]
    guard = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert guard.stdout is not None and guard.stdout.readline() == "loading\n"  # SIGTERM is ignored now
        assert len(live_group_pids(guard.pid)) == 2
        guard.send_signal(signal.SIGTERM)
        assert guard.wait(timeout=15) == 128 + signal.SIGKILL  # the server's end, as the guard reports it
        assert live_group_pids(guard.pid) == []
    finally:
        kill_group(guard.pid)
        guard.kill()
        guard.wait()


@pytest.mark.engine
def test_sigterm_stops_vetted_serve_and_its_engine(
    base_model_dir: Path, embedder, tmp_path: Path, no_leftover_processes: None
) -> None:
    from tests.serving.steward_workdir import make_work_dir

    work = tmp_path / "work"
    work.mkdir()
    make_work_dir(work, embedder)  # a small real index: `vetted serve` refuses to start without one
    argv = ["--work-dir", str(work), "serve", "--port", str(free_port()), "--model", str(base_model_dir)]
    with vetted_serve(argv) as serve:
        assert len(live_group_pids(serve.engine_group)) >= 3
        started = time.monotonic()
        serve.proc.send_signal(signal.SIGTERM)
        assert serve.proc.wait(timeout=60) == 0, serve.tail()
        assert time.monotonic() - started < 30
        stopped = wait_for_line(serve.lines, "SIGTERM: chat API and engine stopped", 5, serve.seen)
        assert stopped, serve.tail(5)
        assert live_group_pids(serve.engine_group) == []
        # none left behind, in the group or out of it
        assert [pid for pid in serve.processes if is_running(pid)] == []


@pytest.mark.engine
def test_sigkilled_parent_leaves_no_engine_behind(
    base_model_dir: Path, tmp_path: Path, no_leftover_processes: None
) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", ENGINE_PARENT, str(base_model_dir), str(tmp_path / "vllm.log")],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    group: int | None = None
    try:
        seen: list[str] = []
        ready = wait_for_line(read_lines(parent), "ready ", 420, seen)
        assert ready, "".join(seen[-40:])
        group = int(ready.split()[1])
        engine_pids = live_group_pids(group)  # guard, API server, engine core (and its helpers)
        assert len(engine_pids) >= 3
        parent.kill()  # SIGKILL: no handler, no atexit, no finally runs in the parent
        parent.wait()
        assert wait_for(lambda: live_group_pids(group or 0) == [], 30, poll_s=0.2), live_group_pids(group)
        log_text = (tmp_path / "vllm.log").read_text(errors="replace")
        assert f"parent {parent.pid} is gone" in log_text
    finally:
        parent.kill()
        parent.wait()
        kill_group(group)
