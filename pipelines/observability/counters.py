"""What the kernel counts for this process; the profiler takes a snapshot before and after a stage and keeps
the difference. These figures are process-wide by nature: while two stages overlap in one process each sees
the other's share too (the profile says so: StageRecord.overlapped). What our own code does (fsyncs, files
opened, the access tally) is counted exactly per stage by pipelines.observability.recorder instead.

- /proc/self/io: logical bytes (rchar/wchar), device bytes (read_bytes/write_bytes), read/write calls.
- getrusage: major page faults (reads through mmap never show in rchar).
- block-I/O wait: delayacct_blkio_ticks, field 42 of /proc/<pid>/task/<tid>/stat, summed over live threads.
  The kernel fills it only when delay accounting is on (`sysctl kernel.task_delayacct=1`, or the `delayacct`
  boot flag since Linux 5.14); otherwise it reads 0 and we say so (io_wait_source).
- host I/O pressure: /proc/pressure/io "some" (PSI): time any task on the host stalled on I/O. Host-wide, so
  other processes count too; context, never this stage's own figure.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

IO_FIELDS = ("rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes")
CHILD_SAMPLE_S = 0.2  # how often live children are sampled: a child's I/O after its last sample is missed
_TICK_S = 0.02  # how soon the sampler sees it was told to stop (a stage's end waits at most this long)
DELAYACCT_SYSCTL = Path("/proc/sys/kernel/task_delayacct")
PSI_IO = Path("/proc/pressure/io")

Counters = dict[str, float]


def proc_io(proc: psutil.Process) -> Counters | None:
    try:
        io = proc.io_counters()
    except (psutil.Error, AttributeError):
        return None
    return {
        "rchar": io.read_chars,
        "wchar": io.write_chars,
        "syscr": io.read_count,
        "syscw": io.write_count,
        "read_bytes": io.read_bytes,
        "write_bytes": io.write_bytes,
    }


def descendant_pids() -> list[int]:
    """Children, grandchildren...: from /proc/<pid>/task/<tid>/children, a few reads of our own tasks.
    psutil's children(recursive=True) scans every process on the host (~2 ms for 80 processes), which the
    sampler would pay five times a second; it stays the fallback for kernels without CONFIG_PROC_CHILDREN."""
    me = os.getpid()
    if not os.path.exists(f"/proc/{me}/task/{me}/children"):
        try:
            return [c.pid for c in psutil.Process().children(recursive=True)]
        except psutil.Error:
            return []
    found: list[int] = []
    stack = [me]
    while stack:
        pid = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:  # the process ended
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                    kids = [int(k) for k in fh.read().split()]
            except OSError:  # the thread ended
                continue
            found += kids
            stack += kids
    return found


def children_io() -> dict[int, Counters]:
    out: dict[int, Counters] = {}
    for pid in descendant_pids():
        try:
            counters = proc_io(psutil.Process(pid))
        except psutil.Error:
            continue
        if counters is not None:
            out[pid] = counters
    return out


def delayacct_enabled() -> bool:
    try:
        return DELAYACCT_SYSCTL.read_text().strip() == "1"
    except OSError:
        return True  # kernels before 5.14 have no switch: accounting is on unless booted with nodelayacct


def blkio_wait_s() -> float | None:
    """Seconds this process's live threads waited on block I/O; None where the kernel does not account it."""
    if not delayacct_enabled():
        return None
    ticks = 0
    for task in os.scandir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:  # the thread ended between listing and reading
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()  # after "pid (comm) ", fields start at number 3
        ticks += int(fields[42 - 3])
    return ticks / os.sysconf("SC_CLK_TCK")


def host_io_pressure_s() -> float | None:
    try:
        some = PSI_IO.read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return int(some.rsplit("total=", 1)[1]) / 1e6


@dataclass(slots=True)
class Snapshot:
    """This process's cumulative kernel counters at one moment (children that were waited for included in
    CPU)."""

    io: Counters
    cpu_s: float
    major_faults: int
    blkio_s: float | None
    host_io_pressure_s: float | None


def take_snapshot() -> Snapshot:
    me = psutil.Process()
    cpu = me.cpu_times()
    self_ru = resource.getrusage(resource.RUSAGE_SELF)
    child_ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Snapshot(
        io=proc_io(me) or dict.fromkeys(IO_FIELDS, 0.0),
        cpu_s=cpu.user + cpu.system + cpu.children_user + cpu.children_system,
        major_faults=self_ru.ru_majflt + child_ru.ru_majflt,
        blkio_s=blkio_wait_s(),
        host_io_pressure_s=host_io_pressure_s(),
    )


class ChildSampler(threading.Thread):
    """Follows child processes while a stage runs, to correct this process's own counters for them.

    The kernel folds a child's I/O into its parent's /proc/<pid>/io when the parent reaps it (wait), so the
    counters of this process already hold every child reaped during the stage, exactly. What they lack is the
    children still running when the stage ends: their I/O is added. Children that were already running when
    the stage began (Prefect's local API server, a vLLM engine) serve many stages: their I/O during the stage
    is kept apart as background, or the API server's database writes would be charged to whichever stage ran.
    Such a child that ends during the stage is known by its last sample (taken every CHILD_SAMPLE_S).
    """

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.at_start = children_io()
        self.last_seen: dict[int, Counters] = dict(self.at_start)
        self._stop_event = threading.Event()

    def run(self) -> None:
        # Short relative sleeps, not Event.wait(timeout): a timed wait is an absolute-deadline
        # pthread_cond_timedwait, which never returns under a shifted clock (libfaketime, `make
        # test-clock-ahead`), and a sampler that never samples charges a background child's I/O to the stage.
        ticks = max(1, round(CHILD_SAMPLE_S / _TICK_S))
        while not self._stop_event.is_set():
            for _ in range(ticks):
                time.sleep(_TICK_S)
                if self._stop_event.is_set():
                    return
            self.last_seen.update(children_io())

    def finish(self) -> tuple[Counters, Counters]:
        """(what to add to this process's own counters, I/O of children that were already running)."""
        self._stop_event.set()
        self.join()
        alive = children_io()
        own, background = dict.fromkeys(IO_FIELDS, 0.0), dict.fromkeys(IO_FIELDS, 0.0)
        for pid, base in self.at_start.items():
            now = alive.get(pid)
            last = now or self.last_seen[pid]
            for key in IO_FIELDS:
                background[key] += last[key] - base[key]
                if now is None:  # ended and reaped: its whole life is now in a parent's counters
                    own[key] -= last[key]
        for pid, now in alive.items():
            if pid not in self.at_start:
                for key in IO_FIELDS:
                    own[key] += now[key]
        return own, background
