"""The one place our writers make data durable. Every fsync goes through here so the profiler can count it
and time it (DLIO reports checkpoint persist time; an un-fsynced write only measures the page cache)."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(slots=True)
class FsyncCounter:
    count: int = 0
    seconds: float = 0.0


_lock = threading.Lock()
_counter = FsyncCounter()  # process-wide like /proc/self/io; the profiler reads deltas of it


def fsync_stats() -> FsyncCounter:
    with _lock:
        return FsyncCounter(_counter.count, _counter.seconds)


def fsync_fd(fd: int) -> None:
    start = time.perf_counter()
    os.fsync(fd)
    with _lock:
        _counter.count += 1
        _counter.seconds += time.perf_counter() - start


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        fsync_fd(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write, fsync, rename, fsync the folder: a crash leaves the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        fsync_fd(fh.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: object) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=str) + "\n")
