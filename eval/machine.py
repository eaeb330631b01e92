"""The machine a number was measured on: every eval and benchmark result carries it."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, object]:
    """CPU model, the cores this process may use, and the GPU torch sees (None on a CPU-only machine)."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "gpu": gpu,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }


def describe(info: dict[str, object]) -> str:
    gpu = f", GPU {info['gpu']}" if info.get("gpu") else ", no GPU"
    return f"{info['cpu']}, {info['cores']} cores{gpu}"
