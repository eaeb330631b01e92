"""The stage profiler: the one seam every stage runs in.

For each stage it records wall and CPU time, logical bytes (rchar/wchar) and device bytes
(read_bytes/write_bytes) from /proc/self/io plus the child processes the stage starts, read/write syscall
counts, fsyncs (through pipelines.observability.fsio), major page faults (mmap reads bypass rchar), files
opened, the time spent waiting on I/O, a Darshan-style access histogram of the reads and writes we make
ourselves, training steps (compute vs I/O wait) and items in and out. pipelines.observability.counters says
where each figure comes from and where it is unavailable. Field names follow DLIO / MLPerf Storage where one
exists.

Two kinds of figure, two scopes:
- ours (fsyncs, files opened, accesses) go into the stage's own recorder, `st.io`
(pipelines.observability.recorder),
  which the stage hands to what it writes (`atomic_write_json(path, obj, recorder=st.io)`); files opened are
  those opened on the stage's thread. They are exact even while other stages run on other threads.
- the kernel's (/proc/self/io, CPU, faults, block-I/O wait, children) are process-wide by nature: while two
  stages of a profile overlap, each one's kernel figures hold the other's too, and each record names the
  others in `overlapped` (empty when stages run one at a time, as the flows run them). A background
  checkpoint persist counts as "checkpoint_persist" there.
Children are sampled every CHILD_SAMPLE_S; the I/O of children that were already running (Prefect's API
server, a vLLM engine) is kept apart as background_io.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil

from curation.layout import RunFolder, WorkLayout, time_ordered_id
from pipelines.observability.counters import IO_FIELDS, ChildSampler, Snapshot, take_snapshot
from pipelines.observability.fsio import atomic_write_json
from pipelines.observability.recorder import Figures, IoRecorder, activate
from pipelines.observability.training_io import CheckpointRecord, StepStats, checkpoint_summary, timed_batches

T = TypeVar("T")


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
    files_opened: int = 0
    # Block-I/O wait from delay accounting where the kernel keeps it ("delayacct"); otherwise the time inside
    # the reads, writes and fsyncs we make ourselves ("instrumented", a lower bound: library I/O is missed).
    io_wait_s: float = 0.0
    io_wait_source: str = "instrumented"
    instrumented_io_s: float = 0.0
    host_io_pressure_s: float | None = None  # PSI "some", host-wide: other processes' stalls count too
    items_in: int = 0
    items_out: int = 0
    started_at: float = 0.0
    # Stages of the same profile (and "checkpoint_persist") that ran at the same time in this process: the
    # kernel figures above are shared with them. Our own figures (fsyncs, opens, access) are not.
    overlapped: list[str] = field(default_factory=list)
    access: dict[str, Any] = field(default_factory=dict)
    background_io: dict[str, int] = field(default_factory=dict)  # children already running: not in the totals
    steps: StepStats = field(default_factory=StepStats)
    extra: dict[str, float | int | str] = field(default_factory=dict)

    def fill(
        self,
        before: Snapshot,
        after: Snapshot,
        children: dict[str, float],
        background: dict[str, float],
        ours: Figures,
    ) -> None:
        """Set the counters from two kernel snapshots of this process, the I/O of its children, and the
        summary of the stage's own recorder."""
        for key in IO_FIELDS:
            setattr(self, key, int(after.io[key] - before.io[key] + children[key]))
        self.background_io = {key: int(value) for key, value in background.items()}
        self.cpu_s = after.cpu_s - before.cpu_s
        self.major_faults = after.major_faults - before.major_faults
        self.fsync_count, self.fsync_s = ours["fsync_count"], ours["fsync_s"]
        self.files_opened, self.access = ours["files_opened"], ours["access"]
        self.instrumented_io_s = self.fsync_s + sum(self.access[op]["seconds"] for op in ("read", "write"))
        if before.blkio_s is not None and after.blkio_s is not None:
            self.io_wait_s, self.io_wait_source = after.blkio_s - before.blkio_s, "delayacct"
        else:
            self.io_wait_s, self.io_wait_source = self.instrumented_io_s, "instrumented"
        if before.host_io_pressure_s is not None and after.host_io_pressure_s is not None:
            self.host_io_pressure_s = after.host_io_pressure_s - before.host_io_pressure_s

    def derived(self) -> dict[str, float]:
        mb = 1e6
        wall = max(self.wall_s, 1e-9)
        out = {
            "read_MB_per_second": self.rchar / mb / wall,
            "write_MB_per_second": self.wchar / mb / wall,
            "mean_bytes_per_read": self.rchar / self.syscr if self.syscr else 0.0,
            "mean_bytes_per_write": self.wchar / self.syscw if self.syscw else 0.0,
            "cpu_share": self.cpu_s / wall,
            # Summed over threads with delayacct: several threads waiting at once can push it past 1.
            "io_share": self.io_wait_s / wall,
            "page_cache_read_share": 1 - self.read_bytes / self.rchar if self.rchar else 0.0,
            "items_per_second": self.items_out / wall,
        }
        if self.host_io_pressure_s is not None:
            out["host_io_pressure_share"] = self.host_io_pressure_s / wall
        return out | self.steps.dlio_summary()

    def row(self) -> dict[str, Any]:
        """The short table row (Prefect artifact, report table)."""
        d = self.derived()
        return {
            "stage": self.stage,
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "rchar": self.rchar,
            "wchar": self.wchar,
            "read_bytes": self.read_bytes,
            "write_bytes": self.write_bytes,
            "fsyncs": self.fsync_count,
            "major_faults": self.major_faults,
            "files_opened": self.files_opened,
            "io_share": round(d["io_share"], 4),
            "io_wait_source": self.io_wait_source,
            "items_in": self.items_in,
            "items_out": self.items_out,
        }


class StageHandle:
    """What a stage sees while it runs: it reports items, training steps and any extra figures of its own,
    and hands `io` (its recorder) to the writers it calls."""

    def __init__(self, record: StageRecord, io: IoRecorder) -> None:
        self.record = record
        self.io = io

    def items(self, *, items_in: int | None = None, items_out: int | None = None) -> None:
        if items_in is not None:
            self.record.items_in = items_in
        if items_out is not None:
            self.record.items_out = items_out

    def note(self, **figures: float | int | str) -> None:
        self.record.extra.update(figures)

    def record_step(
        self, *, compute_s: float, io_wait_s: float, samples: int = 0, bytes_read: int = 0
    ) -> None:
        """One training step timed by the loop itself."""
        self.record.steps.add(
            compute_s=compute_s, io_wait_s=io_wait_s, samples=samples, bytes_read=bytes_read
        )

    def timed_batches(
        self,
        batches: Iterable[T],
        *,
        samples: Callable[[T], int] | None = None,
        nbytes: Callable[[T], int] | None = None,
    ) -> Iterator[T]:
        """`for batch in st.timed_batches(loader, samples=len): ...`: waiting for a batch is I/O, the body is
        compute (DLIO's accelerator utilisation)."""
        return timed_batches(batches, self.record.steps, samples=samples, nbytes=nbytes)


@dataclass
class RunProfile:
    run_id: str
    stages: list[StageRecord] = field(default_factory=list)
    # appended by pipelines.training.checkpointing
    checkpoints: list[CheckpointRecord] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    # fsyncs, opens and accesses of checkpoint persists not charged to a stage
    # (pipelines.training.checkpointing)
    checkpoint_io: IoRecorder = field(default_factory=IoRecorder, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    _running: dict[object, tuple[str, list[str]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @contextmanager
    def stage(self, name: str) -> Iterator[StageHandle]:
        """Profile the block as stage `name`; the handle's `io` counts the opens of this thread."""
        record = StageRecord(stage=name, started_at=time.time())
        handle = StageHandle(record, IoRecorder())
        with self.running(name, record.overlapped), activate(handle.io):
            sampler = ChildSampler()
            sampler.start()
            before = take_snapshot()
            start = time.perf_counter()
            try:
                yield handle
            finally:
                record.wall_s = time.perf_counter() - start
                after = take_snapshot()
                record.fill(before, after, *sampler.finish(), handle.io.summary())
                with self._lock:
                    self.stages.append(record)

    @contextmanager
    def running(self, name: str, overlapped: list[str] | None = None) -> Iterator[list[str]]:
        """Mark `name` as running in this process while the block runs. `overlapped` (yielded) collects the
        names of everything else of this profile that ran at any moment of the block, and they get `name`."""
        mine = [] if overlapped is None else overlapped
        token = object()
        with self._lock:
            for other, theirs in self._running.values():
                _add_once(theirs, name)
                _add_once(mine, other)
            self._running[token] = (name, mine)
        try:
            yield mine
        finally:
            with self._lock:
                del self._running[token]

    def to_dict(self) -> dict[str, object]:
        total_wall = sum(s.wall_s for s in self.stages)
        return {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "host": {"cpus": psutil.cpu_count(), "memory_GB": round(psutil.virtual_memory().total / 1e9, 1)},
            "total_wall_s": total_wall,
            "stages": [asdict(s) | s.derived() for s in self.stages],
            "checkpoints": [c.as_dict() for c in self.checkpoints],
            "checkpoint_summary": checkpoint_summary(self.checkpoints),
        } | self._checkpoint_io()

    def _checkpoint_io(self) -> dict[str, Figures]:
        """The checkpoint persists' own fsyncs, opens and accesses, where a training run has any."""
        if not self.checkpoints:
            return {}
        return {"checkpoint_io": self.checkpoint_io.summary()}

    def rows(self) -> list[dict[str, Any]]:
        return [s.row() for s in self.stages]

    def write(self, path: Path) -> Path:
        atomic_write_json(path, self.to_dict())
        return path


def _add_once(names: list[str], name: str) -> None:
    if name not in names:
        names.append(name)


PROFILE_FILE = RunFolder.IO_PROFILE


def new_run_id() -> str:
    """Sorts by start time (curation.layout.time_ordered_id)."""
    return time_ordered_id()


def new_run_dir(work_dir: Path) -> tuple[str, Path]:
    """A fresh `runs/<run-id>/` folder."""
    run = WorkLayout(work_dir).run(new_run_id())
    run.path.mkdir(parents=True)
    return run.run_id, run.path


def load_profile(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def find_profile(run: str, work_dir: Path) -> Path:
    """A run's profile from a run id, a run folder or the profile file itself; "latest" = the newest run."""
    given, layout = Path(run), WorkLayout(work_dir)
    candidates = [given, given / PROFILE_FILE, layout.run(run).io_profile]
    if run == "latest" and (latest := latest_profile(work_dir)) is not None:
        candidates.insert(0, latest)
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"no I/O profile for {run!r}: give a run id under {layout.runs_dir} or a path")


def latest_profile(work_dir: Path) -> Path | None:
    """The newest profile under `runs/` (by modification time: a probe run counts as a run too)."""
    profiles = list(WorkLayout(work_dir).runs_dir.glob(f"*/{PROFILE_FILE}"))
    return max(profiles, key=lambda p: p.stat().st_mtime) if profiles else None
