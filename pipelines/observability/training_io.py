"""What a training loop needs from the profiler: per-step compute vs I/O wait, and checkpoint saves.

Field names follow DLIO's summary.json (dlio_benchmark/utils/statscounter.py), so figures compare with DLIO
and MLPerf Storage results: accelerator utilisation (AU) is compute time over the time of the steps, and
DLIO's "MB" and "GB" are binary (MiB, GiB): train_io_mean_MB_per_second = bytes / 2**20 / seconds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

MiB, GiB = 2**20, 2**30
T = TypeVar("T")


@dataclass(slots=True)
class StepStats:
    """Training steps of one stage: time waiting for the next batch (I/O) and time computing on it."""

    steps: int = 0
    compute_s: float = 0.0
    io_wait_s: float = 0.0
    samples: int = 0
    bytes_read: int = 0

    def add(self, *, compute_s: float, io_wait_s: float, samples: int = 0, bytes_read: int = 0) -> None:
        self.steps += 1
        self.compute_s += compute_s
        self.io_wait_s += io_wait_s
        self.samples += samples
        self.bytes_read += bytes_read

    def dlio_summary(self) -> dict[str, float]:
        """DLIO's training metrics; empty when no step was recorded."""
        total = self.compute_s + self.io_wait_s
        if not self.steps or total <= 0:
            return {}
        out = {
            "train_au_mean_percentage": 100.0 * self.compute_s / total,
            "train_throughput_mean_samples_per_second": self.samples / total,
            "step_compute_mean_seconds": self.compute_s / self.steps,
            "step_io_wait_mean_seconds": self.io_wait_s / self.steps,
        }
        if self.bytes_read:  # only when the loop said how many bytes each batch held
            out["train_io_mean_MB_per_second"] = self.bytes_read / MiB / total
        return out


def timed_batches(
    batches: Iterable[T],
    stats: StepStats,
    *,
    samples: Callable[[T], int] | None = None,
    nbytes: Callable[[T], int] | None = None,
) -> Iterator[T]:
    """Yield each batch; the time spent getting it is I/O wait, the time until the next is asked is compute.

    A loop that breaks early still records its last step's compute (the generator's close ends it).
    """
    source = iter(batches)
    while True:
        start = time.perf_counter()
        try:
            batch = next(source)
        except StopIteration:
            return
        got = time.perf_counter()
        try:
            yield batch
        finally:
            stats.add(
                compute_s=time.perf_counter() - got,
                io_wait_s=got - start,
                samples=samples(batch) if samples else 0,
                bytes_read=nbytes(batch) if nbytes else 0,
            )


@dataclass(slots=True)
class CheckpointRecord:
    """One checkpoint save. The stall is what training waits for (the previous save still in flight, then
    the snapshot to CPU); the persist runs in the background (write, fsync, atomic rename)."""

    path: str
    started_at: float
    size_bytes: int = 0
    waited_for_previous_s: float = 0.0
    snapshot_s: float = 0.0
    write_s: float = 0.0
    fsync_s: float = 0.0
    persist_s: float = 0.0
    done: bool = False
    error: str = ""

    @property
    def stall_s(self) -> float:
        return self.waited_for_previous_s + self.snapshot_s

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "started_at": self.started_at,
            "size_bytes": self.size_bytes,
            "stall_s": self.stall_s,
            "waited_for_previous_s": self.waited_for_previous_s,
            "snapshot_s": self.snapshot_s,
            "write_s": self.write_s,
            "fsync_s": self.fsync_s,
            "persist_s": self.persist_s,
            "done": self.done,
            "error": self.error,
        }


def checkpoint_summary(records: list[CheckpointRecord]) -> dict[str, float]:
    """DLIO's checkpoint metrics over the finished saves, plus the stall DLIO cannot see.

    DLIO saves synchronously, so its duration is the write; ours is the background persist (write + fsync +
    rename), and `save_checkpoint_stall_mean_seconds` is the part training actually waited for.
    """
    done = [r for r in records if r.done and not r.error and r.persist_s > 0]
    if not done:
        return {}
    rates = [r.size_bytes / GiB / r.persist_s for r in done]
    durations = [r.persist_s for r in done]
    return {
        "num_checkpoints_write": len(done),
        "checkpoint_size_GB": statistics.fmean(r.size_bytes for r in done) / GiB,
        "save_checkpoint_io_mean_GB_per_second": statistics.fmean(rates),
        "save_checkpoint_io_stdev_GB_per_second": statistics.pstdev(rates),
        "save_checkpoint_duration_mean_seconds": statistics.fmean(durations),
        "save_checkpoint_duration_stdev_seconds": statistics.pstdev(durations),
        "save_checkpoint_stall_mean_seconds": statistics.fmean(r.stall_s for r in done),
    }
