"""Processes the serving tests start and must leave behind none of: /proc walks, output read line by line
against a deadline, and `vetted serve` started until its chat API is up, with vLLM's process group found.

Shared by test_engine_lifecycle.py and test_engine_tuned.py; the fixture `no_leftover_processes` built on
`descendants` is in tests/serving/conftest.py.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO_ROOT

VETTED = REPO_ROOT / ".venv" / "bin" / "vetted"
READY_MARKER = "chat API http"  # what `vetted serve` prints once the engine and the chat API answer


def descendants(pid: int) -> set[int]:
    """Live (non-zombie) processes under pid, from /proc: children, their children, and so on."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def wait_for(condition: Callable[[], bool], timeout_s: float, poll_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll_s)
    return condition()


def is_running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def kill_group(pgid: int | None) -> None:
    if pgid is not None:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def read_lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """The process's output, line by line, from a thread (readline alone would block past any deadline)."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def wait_for_line(lines: queue.Queue[str], marker: str, timeout_s: float, seen: list[str]) -> str | None:
    """The first line holding `marker` within timeout_s (None if none came); every line read goes to seen."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        seen.append(line)
        if marker in line:
            return line
    return None


@dataclass
class Serving:
    """A `vetted serve` whose chat API is up."""

    proc: subprocess.Popen[str]
    lines: queue.Queue[str]
    seen: list[str]  # its output so far
    ready: str  # "... engine http://127.0.0.1:P/v1; chat API http://..."
    engine_group: int  # vLLM's process group: the engine's guard leads it
    processes: set[int]  # every process under `vetted serve` once it was up

    @property
    def engine_url(self) -> str:
        return self.ready.split("engine ", 1)[1].split()[0].rstrip(";")

    def tail(self, n: int = 40) -> str:
        return "".join(self.seen[-n:])


@contextmanager
def vetted_serve(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout_s: float = 420
) -> Iterator[Serving]:
    """`vetted ARGV` (a serve command) from the repo root (its vetted.toml names the engine venv), until it
    prints READY_MARKER; killed on the way out, its engine's process group with it, whatever the test did."""
    proc = subprocess.Popen(
        [str(VETTED), *argv], cwd=REPO_ROOT, env=None if env is None else dict(env),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    engine_group: int | None = None
    try:
        seen: list[str] = []
        lines = read_lines(proc)
        ready = wait_for_line(lines, READY_MARKER, timeout_s, seen)
        assert ready, "".join(seen[-40:])
        ours = descendants(proc.pid)  # the guard, vLLM's API server, its engine core and workers
        (engine_group,) = {os.getpgid(pid) for pid in ours} - {os.getpgid(proc.pid)}
        yield Serving(proc, lines, seen, ready, engine_group, ours)
    finally:
        proc.kill()
        proc.wait()
        kill_group(engine_group)
