"""The stage profiler: the one seam every stage runs in.

For each stage it records wall and CPU time, logical bytes (rchar/wchar) and device bytes
(read_bytes/write_bytes) from /proc/self/io plus live child processes (psutil, recursive), read/write
syscall counts, fsyncs (through pipelines.fsio), major page faults (mmap reads bypass rchar), and items in and
out. Field names follow DLIO / MLPerf Storage where one exists. Counters are process-wide: stages are
measured one at a time, as the flows run them. Child processes are sampled every CHILD_SAMPLE_S while a
stage runs (see _ChildSampler).
"""

from __future__ import annotations

import json
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from pipelines.fsio import atomic_write_json, fsync_stats

_IO_FIELDS = ("rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes")
CHILD_SAMPLE_S = 0.2  # how often live children are sampled: a child's I/O after its last sample is missed

Counters = dict[str, float]


def _proc_io(proc: psutil.Process) -> Counters | None:
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


def _children_io() -> dict[int, Counters]:
    out = {}
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return out
    for child in children:
        counters = _proc_io(child)
        if counters is not None:
            out[child.pid] = counters
    return out


def _self_snapshot() -> Counters:
    """This process's I/O, CPU (children that were waited for included), faults and fsyncs."""
    me = psutil.Process()
    totals = _proc_io(me) or dict.fromkeys(_IO_FIELDS, 0.0)
    cpu = me.cpu_times()
    totals["cpu_s"] = cpu.user + cpu.system + cpu.children_user + cpu.children_system
    self_ru = resource.getrusage(resource.RUSAGE_SELF)
    child_ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    totals["major_faults"] = self_ru.ru_majflt + child_ru.ru_majflt
    fs = fsync_stats()
    totals["fsync_count"], totals["fsync_s"] = fs.count, fs.seconds
    return totals


class _ChildSampler(threading.Thread):
    """Samples live child processes while a stage runs. /proc/self/io never includes children, and a child
    that exits takes its counters with it, so the last sample of each child is what the stage keeps."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.at_start = _children_io()
        self.last_seen: dict[int, Counters] = dict(self.at_start)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(CHILD_SAMPLE_S):
            self.last_seen.update(_children_io())

    def finish(self) -> Counters:
        self._stop_event.set()
        self.join()
        self.last_seen.update(_children_io())
        delta = dict.fromkeys(_IO_FIELDS, 0.0)
        for pid, counters in self.last_seen.items():
            base = self.at_start.get(pid, {})
            for key in _IO_FIELDS:
                delta[key] += counters[key] - base.get(key, 0.0)
        return delta


@dataclass(slots=True)
class StageRecord:
    stage: str
    wall_s: float = 0.0
    cpu_s: float = 0.0
    rchar: int = 0
    wchar: int = 0
    read_bytes: int = 0
    write_bytes: int = 0
    syscr: int = 0
    syscw: int = 0
    fsync_count: int = 0
    fsync_s: float = 0.0
    major_faults: int = 0
    items_in: int = 0
    items_out: int = 0
    started_at: float = 0.0
    extra: dict[str, float | int | str] = field(default_factory=dict)

    def derived(self) -> dict[str, float]:
        mb = 1e6
        wall = max(self.wall_s, 1e-9)
        return {
            "read_MB_per_second": self.rchar / mb / wall,
            "write_MB_per_second": self.wchar / mb / wall,
            "mean_bytes_per_read": self.rchar / self.syscr if self.syscr else 0.0,
            "mean_bytes_per_write": self.wchar / self.syscw if self.syscw else 0.0,
            "cpu_share": self.cpu_s / wall,
            "page_cache_read_share": 1 - self.read_bytes / self.rchar if self.rchar else 0.0,
            "items_per_second": self.items_out / wall,
        }


class StageHandle:
    """What a stage sees while it runs: it reports items and any extra figures of its own."""

    def __init__(self, record: StageRecord) -> None:
        self.record = record

    def items(self, *, items_in: int | None = None, items_out: int | None = None) -> None:
        if items_in is not None:
            self.record.items_in = items_in
        if items_out is not None:
            self.record.items_out = items_out

    def note(self, **figures: float | int | str) -> None:
        self.record.extra.update(figures)


@dataclass
class RunProfile:
    run_id: str
    stages: list[StageRecord] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)

    @contextmanager
    def stage(self, name: str) -> Iterator[StageHandle]:
        record = StageRecord(stage=name, started_at=time.time())
        sampler = _ChildSampler()
        sampler.start()
        before = _self_snapshot()
        start = time.perf_counter()
        try:
            yield StageHandle(record)
        finally:
            record.wall_s = time.perf_counter() - start
            after = _self_snapshot()
            children = sampler.finish()
            for key in _IO_FIELDS:
                setattr(record, key, int(after[key] - before[key] + children[key]))
            for key in ("major_faults", "fsync_count"):
                setattr(record, key, int(after[key] - before[key]))
            record.cpu_s = after["cpu_s"] - before["cpu_s"]
            record.fsync_s = after["fsync_s"] - before["fsync_s"]
            self.stages.append(record)

    def to_dict(self) -> dict[str, object]:
        total_wall = sum(s.wall_s for s in self.stages)
        return {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "host": {"cpus": psutil.cpu_count(), "memory_GB": round(psutil.virtual_memory().total / 1e9, 1)},
            "total_wall_s": total_wall,
            "stages": [asdict(s) | s.derived() for s in self.stages],
        }

    def write(self, path: Path) -> Path:
        atomic_write_json(path, self.to_dict())
        return path


def load_profile(path: Path) -> dict[str, object]:
    return json.loads(path.read_text(encoding="utf-8"))
