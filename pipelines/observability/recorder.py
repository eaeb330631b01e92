"""The I/O figures our own code records, owned by one recorder per stage (or per checkpoint stream, or per
worker) and handed explicitly to what it records.

An IoRecorder holds what our helpers can count exactly: fsyncs (count, seconds) through
pipelines.observability.fsio, the Darshan-style access tally of our TracedFile reads and writes
(pipelines.observability.access), and files opened. Two stages on two threads each get their own figures; a
worker process sends its figures back as a plain dict (`snapshot()`) and the parent `merge`s them, so a figure
is neither lost nor counted twice.

Files opened come from Python's `open` audit event (PEP 578). Linux keeps no per-process count of opens and
/proc/self/fd is only a snapshot, so the hook is the one exact count we have; opens made inside native code
(FAISS, pyarrow, torch's C++ writer) raise no event and are missed.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pipelines.observability.access import AccessTally, access_delta

PSEUDO_FS = ("/proc/", "/sys/", "/dev/")  # not storage (and how we measure): opens there are not counted
Figures = dict[str, Any]  # {"fsync_count", "fsync_s", "files_opened", "access": AccessTally.snapshot()}


class IoRecorder:
    """fsyncs, accesses and opens of one unit of work; safe to share between the threads doing that work."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fsync_count = 0
        self._fsync_s = 0.0
        self._files_opened = 0
        self.access = AccessTally()  # locks on its own

    def add_fsync(self, seconds: float) -> None:
        with self._lock:
            self._fsync_count += 1
            self._fsync_s += seconds

    def add_open(self) -> None:
        with self._lock:  # nothing inside may open a file: the audit hook calls this
            self._files_opened += 1

    def snapshot(self) -> Figures:
        """The figures so far as a plain dict (JSON- and pickle-safe: what a worker process sends back)."""
        with self._lock:
            out: Figures = {
                "fsync_count": self._fsync_count,
                "fsync_s": self._fsync_s,
                "files_opened": self._files_opened,
            }
        return out | {"access": self.access.snapshot()}

    def summary(self) -> Figures:
        """The figures as a profile stores them: access with its sequential and consecutive shares."""
        return figures_delta(empty_figures(), self.snapshot())

    def merge(self, other: IoRecorder | Mapping[str, Any]) -> None:
        """Add another recorder's figures (or its snapshot, sent back from another thread or process)."""
        figures = other.snapshot() if isinstance(other, IoRecorder) else other
        with self._lock:
            self._fsync_count += int(figures["fsync_count"])
            self._fsync_s += float(figures["fsync_s"])
            self._files_opened += int(figures["files_opened"])
        self.access.merge(figures["access"])


def figures_delta(before: Figures, after: Figures) -> Figures:
    """What was recorded between two snapshots of one recorder; access as shares (access_delta's form)."""
    return {
        "fsync_count": after["fsync_count"] - before["fsync_count"],
        "fsync_s": after["fsync_s"] - before["fsync_s"],
        "files_opened": after["files_opened"] - before["files_opened"],
        "access": access_delta(before["access"], after["access"]),
    }


def empty_figures() -> Figures:
    return IoRecorder().snapshot()


class _OpenDispatch:
    """The process's one `open` audit hook, which counts each open into the recorders active on the thread
    that opened the file, and nowhere else.

    CPython has no way to remove an audit hook (PEP 578: sys.addaudithook only adds), so one hook per process
    is installed on first use and lives as long as the interpreter; which recorders it feeds is per thread
    (a threading.local stack), pushed and popped by `activate`. This is the one piece of process state the
    observatory keeps, because the hook itself is process state.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._install_lock = threading.Lock()
        self._installed = False

    def stack(self) -> list[IoRecorder]:
        stack: list[IoRecorder] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def install(self) -> None:
        with self._install_lock:
            if not self._installed:
                sys.addaudithook(self._hook)
                self._installed = True

    def _hook(self, event: str, args: tuple[object, ...]) -> None:
        # Runs on every audit event of the process: the common cases return at once. Must never raise: an
        # exception here would fail the caller's open.
        if event != "open":
            return
        active: list[IoRecorder] | None = getattr(self._local, "stack", None)
        if not active:
            return
        path = args[0]
        if isinstance(path, int):  # open(fd): no new file
            return
        text = os.fsdecode(path) if isinstance(path, bytes | os.PathLike) else str(path)
        if text.startswith(PSEUDO_FS):
            return
        for recorder in dict.fromkeys(active):  # a recorder active twice (nested) counts an open once
            recorder.add_open()


_opens = _OpenDispatch()


@contextmanager
def activate(recorder: IoRecorder) -> Iterator[IoRecorder]:
    """Count the files this thread opens into `recorder` while the block runs (the stage profiler does this
    for its own thread; a worker thread of the same stage can do it too)."""
    _opens.install()
    stack = _opens.stack()
    stack.append(recorder)
    try:
        yield recorder
    finally:
        # By identity from the end: a block that exits out of order never pops another block's recorder.
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is recorder:
                del stack[i]
                break
