"""vLLM engine lifecycle: run the OpenAI-compatible server as a child process, watch its health, restart it
after a crash, stop it and every process it started. The command it runs, the engine venv and its vLLM build
are serving.engine_launch's (its docstring has the runbook); their names are importable from here too.

The server runs under `serving/engine_guard.py`, the leader of its own process group: the group (API server,
engine core, workers) ends with the guard, and the guard ends when our process does, even by SIGKILL.

After `__enter__` a health watch thread polls /health every `health_interval_s`: `is_up()` and `status()`
say what it saw; a child that exited is restarted after a back-off, at most `max_restarts` times. A child that
runs but fails its health check is reported down, not killed: it may come back by itself.
An engine that runs elsewhere: `VLLMEngine.external("http://gpu-box:8000/v1")` (no child, health watch only).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal, TypedDict

import httpx

from pipelines.core.settings import Settings
from serving.engine_guard import live_group_pids
from serving.engine_launch import (
    LOG_TAIL_CHARS,
    EngineError,
    EngineFlavor,
    detect_flavor,
    find_engine_python,
    free_port,
    log_tail,
    vllm_command,
)

__all__ = [  # what callers import from here; the launch helpers live in serving.engine_launch
    "GUARD", "EngineError", "EngineFlavor", "EngineState", "EngineStatus", "VLLMEngine", "detect_flavor",
    "engine_from_settings", "find_engine_python", "free_port", "live_group_pids", "log_tail",
]

log = logging.getLogger(__name__)

HEALTH_POLL_S = 0.5  # startup takes 30-80 s on 2 CPU cores; polling faster only adds noise to the log
PROBE_TIMEOUT_S = 5.0  # /health answers in milliseconds even mid-generation; longer means hung
# vLLM shuts its engine core down on SIGTERM in about a second once loaded; while it loads the model it
# ignores SIGTERM, so a stop then takes the whole grace and ends in SIGKILL
STOP_GRACE_S = 20.0
_TICK_S = 0.05  # how soon the watch sees stop() (see VLLMEngine._sleep)
MAX_BACKOFF_S = 60.0  # restart delays double from restart_backoff_s up to this
GUARD = Path(__file__).with_name("engine_guard.py")

EngineState = Literal["starting", "up", "down", "restarting", "stopped"]


class EngineStatus(TypedDict):
    state: EngineState
    restarts: int  # restarts after a crash since start()
    last_error: str | None  # why it was last down (exit code, failed health check); kept once up again
    url: str  # the OpenAI-compatible root


class VLLMEngine:
    """One vLLM OpenAI-compatible server: a child process we own, or an external URL we only check.

    Use as a context manager: entering starts the child, waits for health and starts the health watch;
    leaving stops the watch and the whole process group (vLLM runs its engine core in a second process).
    """

    def __init__(
        self,
        *,
        model_dir: Path,
        served_name: str,
        python: Path,
        port: int | None = None,
        host: str = "127.0.0.1",
        max_model_len: int = 2048,  # longer = more KV cache per sequence; our RAG prompts fit in 2k
        startup_timeout_s: float = 300.0,
        log_path: Path | None = None,
        enforce_eager: bool = True,  # skips CUDA-graph capture: faster start, slower decode on GPU
        health_interval_s: float = 5.0,  # how stale is_up() may be; each poll is two loopback requests
        max_restarts: int = 3,  # after a crash; a model that crashes on every start is not retried forever
        restart_backoff_s: float = 2.0,  # the first restart's delay; doubles with each further restart
        server_argv: Sequence[str] | None = None,  # another OpenAI-compatible server instead of vLLM's
    ) -> None:
        self.model_dir = model_dir
        self.served_name = served_name
        self.python = python
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.max_model_len = max_model_len
        self.startup_timeout_s = startup_timeout_s
        self.log_path = log_path
        self.enforce_eager = enforce_eager
        self.health_interval_s = health_interval_s
        self.max_restarts = max_restarts
        self.restart_backoff_s = restart_backoff_s
        self.server_argv = list(server_argv) if server_argv is not None else None
        self.flavor: EngineFlavor | None = None
        self.startup_s: float | None = None
        self._root_url = f"http://{host}:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._external = False
        self._state: EngineState = "stopped"
        self._restarts = 0
        self._last_error: str | None = None
        self._lock = threading.Lock()  # one of start, restart, stop at a time on the child
        self._stopping = threading.Event()  # set by stop(): the watch and every wait end at once
        self._watch: threading.Thread | None = None

    @classmethod
    def external(
        cls,
        url: str,
        *,
        served_name: str | None = None,
        startup_timeout_s: float = 30.0,
        health_interval_s: float = 5.0,
    ) -> VLLMEngine:
        """An engine that runs elsewhere: no child process; `wait_healthy()` and the watch only check it."""
        root = httpx.URL(url.rstrip("/").removesuffix("/v1"))
        engine = cls(
            model_dir=Path(),
            served_name=served_name or "",
            python=Path(),
            port=root.port or (443 if root.scheme == "https" else 80),
            host=root.host,
            startup_timeout_s=startup_timeout_s,
            health_interval_s=health_interval_s,
        )
        engine._root_url = str(root).rstrip("/")
        engine._external = True
        return engine

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible root, e.g. `http://127.0.0.1:8001/v1`."""
        return f"{self._root_url}/v1"

    @property
    def pid(self) -> int | None:
        """The guard's pid, which is also the process group of the server and everything it starts."""
        proc = self._proc
        return proc.pid if proc else None

    def is_up(self) -> bool:
        """Whether a model call can be sent now: the last health check passed and our child still runs."""
        proc = self._proc
        if proc is not None and proc.poll() is not None:
            return False  # crashed since the last poll: say so before the watch does
        return self._state == "up"

    def status(self) -> EngineStatus:
        return EngineStatus(
            state=self._state, restarts=self._restarts, last_error=self._last_error, url=self.base_url
        )

    def command(self) -> tuple[list[str], dict[str, str]]:
        """The argv and the extra environment the server is started with (CPU or GPU flags)."""
        if self.server_argv is not None:
            return list(self.server_argv), {}
        if self.flavor is None:
            self.flavor = detect_flavor(self.python)
        return vllm_command(
            self.python, self.flavor, model_dir=self.model_dir, served_name=self.served_name,
            max_model_len=self.max_model_len, host=self.host, port=self.port,
            enforce_eager=self.enforce_eager,
        )  # fmt: skip

    def start(self) -> None:
        """Launch the server under its guard in a new process group, output to `log_path`; returns at once."""
        if self._proc is not None:
            return
        self._stopping.clear()
        self._restarts, self._last_error = 0, None
        self._set("starting")
        if self._external:
            return
        if self.server_argv is None and not (self.model_dir / "config.json").exists():
            log.warning("%s has no config.json; vLLM will likely refuse it", self.model_dir)
        with self._lock:
            self._spawn()

    def wait_healthy(self) -> None:
        """Wait for /health and /v1/models; raise with the log tail if the child dies or time runs out."""
        started = self._started_at or time.monotonic()
        error = self._await_health(started + self.startup_timeout_s)
        if error:
            tail = log_tail(self.log_path)
            self._last_error = error
            self.stop()  # a server that died or missed its deadline is not worth keeping
            raise EngineError(f"{error}\n--- log tail ---\n{tail}")
        self.startup_s = time.monotonic() - started
        self._set("up")
        log.info("vLLM healthy at %s after %.1f s", self.base_url, self.startup_s)

    def watch(self) -> None:
        """Start the health watch thread (once): it runs until stop()."""
        if self._watch is None or not self._watch.is_alive():
            self._watch = threading.Thread(target=self._watch_loop, name="vllm-health-watch", daemon=True)
            self._watch.start()

    def stop(self) -> None:
        """End the watch, then SIGTERM the process group, SIGKILL what is left after STOP_GRACE_S; safe to
        call twice."""
        self._stopping.set()
        watch = self._watch
        if watch is not None and watch is not threading.current_thread():
            watch.join(timeout=STOP_GRACE_S + PROBE_TIMEOUT_S + 10)  # a restart may be stopping a group
        with self._lock:
            self._stop_child()
        self._set("stopped")

    def __enter__(self) -> VLLMEngine:
        self.start()
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        self.watch()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _spawn(self) -> None:
        """Popen the guard, which starts the server (callers hold `_lock`)."""
        argv, extra_env = self.command()
        if self.log_path is None:  # a failed start is unexplained without vLLM's own output
            fd, name = tempfile.mkstemp(prefix=f"vllm-{self.served_name}-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        guard = [sys.executable, "-I", str(GUARD), str(os.getpid()), str(STOP_GRACE_S), "--", *argv]
        with self.log_path.open("ab") as log_fh:  # the child keeps its own copy of the descriptor
            self._proc = subprocess.Popen(
                guard,
                stdin=subprocess.DEVNULL,
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                env={**os.environ, **extra_env},
                start_new_session=True,  # own group: stop() signals vLLM's worker processes too
            )
        self._started_at = time.monotonic()
        log.info(
            "started vLLM %s pid=%d, log %s: %s",
            self.flavor or "(custom server)", self._proc.pid, self.log_path, " ".join(argv),
        )  # fmt: skip

    def _stop_child(self) -> None:
        """SIGTERM the child's group, SIGKILL it after STOP_GRACE_S (callers hold `_lock`)."""
        if self._proc is None:
            return
        pgid = self._proc.pid  # start_new_session made the guard its group's leader
        self._signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and (self._proc.poll() is None or live_group_pids(pgid)):
            time.sleep(0.2)
        if live_group_pids(pgid):
            log.warning("vLLM group %d ignored SIGTERM for %.0f s; killing it", pgid, STOP_GRACE_S)
            self._signal_group(pgid, signal.SIGKILL)
        self._proc.wait(timeout=10)
        self._proc = None

    def _await_health(self, deadline: float) -> str:
        """Poll until healthy (""), else say why not: the child exited, time ran out, or stop() was called."""
        error = "no answer yet"
        with self._client() as client:
            while True:
                proc = self._proc
                if proc is not None and proc.poll() is not None:
                    return f"vLLM exited with code {proc.returncode} during startup"
                error = self._probe(client)
                if not error:
                    return ""
                if time.monotonic() > deadline:
                    timeout = self.startup_timeout_s
                    return f"vLLM at {self._root_url} not healthy after {timeout:.0f} s ({error})"
                if self._sleep(HEALTH_POLL_S):
                    return f"stopped while waiting for {self._root_url} ({error})"

    def _sleep(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True as soon as stop() was called. Short relative sleeps, not
        Event.wait(timeout): a timed wait is an absolute-deadline pthread_cond_timedwait, which never returns
        under a shifted clock (libfaketime, `make test-clock-ahead`), and the watch would never poll."""
        for _ in range(max(1, round(seconds / _TICK_S))):
            if self._stopping.is_set():
                return True
            time.sleep(_TICK_S)
        return self._stopping.is_set()

    def _watch_loop(self) -> None:
        with self._client() as client:
            while not self._sleep(self.health_interval_s):
                proc = self._proc
                if proc is not None and proc.poll() is not None:
                    if not self._restart(f"vLLM exited with code {proc.returncode}"):
                        return  # gave up, or stop() was called: nothing left to watch
                    continue
                error = self._probe(client)
                if error and self._state != "down":
                    log.warning("vLLM at %s is down: %s", self._root_url, error)
                    self._set("down", error)
                elif not error and self._state != "up":
                    log.info("vLLM at %s answers again", self._root_url)
                    self._set("up")

    def _restart(self, reason: str) -> bool:
        """The child exited: stop what is left of its group and start it again after a back-off, at most
        max_restarts times. False when there is nothing left to watch (gave up, or stop() was called)."""
        while not self._stopping.is_set():
            log.error("%s\n--- log tail ---\n%s", reason, log_tail(self.log_path, LOG_TAIL_CHARS // 4))
            with self._lock:
                self._stop_child()  # the guard ended its group; this reaps it and clears the pid
            if self._restarts >= self.max_restarts:
                self._set("down", f"{reason}; gave up after {self._restarts} restarts (engine.max_restarts)")
                log.error("vLLM stays down: %s", self._last_error)
                return False
            delay = min(self.restart_backoff_s * 2**self._restarts, MAX_BACKOFF_S)
            self._restarts += 1
            self._set("restarting", reason)
            log.warning("restarting vLLM in %.1f s (%d of %d)", delay, self._restarts, self.max_restarts)
            if self._sleep(delay):
                return False
            with self._lock:
                if self._stopping.is_set():
                    return False
                self._spawn()
            reason = self._await_health(self._started_at + self.startup_timeout_s)
            if not reason:
                log.info("vLLM back at %s after restart %d", self.base_url, self._restarts)
                self._set("up")
                return True
        return False

    def _set(self, state: EngineState, error: str | None = None) -> None:
        self._state = state
        if error:
            self._last_error = error

    def _client(self) -> httpx.Client:
        # trust_env only for an external engine: our own child is on loopback and must not go via a proxy.
        return httpx.Client(timeout=PROBE_TIMEOUT_S, trust_env=self._external)

    def _probe(self, client: httpx.Client) -> str:
        """An empty string when healthy, else what is wrong (kept for the timeout message)."""
        try:
            health = client.get(f"{self._root_url}/health")
            if health.status_code != 200:
                return f"/health answered {health.status_code}"
            models = client.get(f"{self.base_url}/models")
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if models.status_code != 200:
            return f"/v1/models answered {models.status_code}"
        served = [m.get("id") for m in models.json().get("data", [])]
        if self.served_name and self.served_name not in served:
            return f"serves {served}, not {self.served_name!r}"
        return ""

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass  # already gone


def engine_from_settings(settings: Settings, *, model_dir: Path, log_path: Path) -> VLLMEngine:
    """The engine `vetted.toml` describes: its external URL when set, else a child serving `model_dir`."""
    eng = settings.engine
    if eng.url:
        return VLLMEngine.external(
            eng.url, served_name=eng.served_model_name, health_interval_s=eng.health_interval_s
        )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    return VLLMEngine(
        model_dir=model_dir,
        served_name=eng.served_model_name,
        python=settings.resolve(eng.engine_python),
        max_model_len=eng.max_model_len,
        startup_timeout_s=eng.startup_timeout_s,
        log_path=log_path,
        health_interval_s=eng.health_interval_s,
        max_restarts=eng.max_restarts,
    )
