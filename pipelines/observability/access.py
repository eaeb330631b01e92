"""Darshan-style access counters for the reads and writes we make ourselves
(pipelines.observability.fsio.TracedFile), kept per recorder (pipelines.observability.recorder), so each stage
has its own.

Per operation (read, write): calls, bytes, seconds inside the call, a histogram of access sizes in Darshan's
bins (POSIX_SIZE_READ_0_100 ... POSIX_SIZE_READ_1G_PLUS, with K = 1024), and how many accesses were
consecutive (started exactly where the previous access of the same kind on the same file ended: Darshan's
POSIX_CONSEC_READS) or sequential (started at or after that point: POSIX_SEQ_READS, consecutive included). The
first access of a file counts as consecutive when it starts at offset 0, so a file read front to back is 100%
sequential. Sizes are those our code asks for (like Darshan's STDIO module): Python's buffered layer may merge
small writes into fewer system calls, which /proc/self/io's syscw counts.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

KiB, MiB, GiB = 1024, 1024**2, 1024**3
# Darshan's bucket edges (inclusive upper bounds), then everything above 1 GiB.
SIZE_BINS: tuple[tuple[int, str], ...] = (
    (100, "0_100"),
    (KiB, "100_1K"),
    (10 * KiB, "1K_10K"),
    (100 * KiB, "10K_100K"),
    (MiB, "100K_1M"),
    (4 * MiB, "1M_4M"),
    (10 * MiB, "4M_10M"),
    (100 * MiB, "10M_100M"),
    (GiB, "100M_1G"),
)
LAST_BIN = "1G_PLUS"
BIN_NAMES = tuple(name for _, name in SIZE_BINS) + (LAST_BIN,)
OPS = ("read", "write")


def size_bin(size: int) -> str:
    for upper, name in SIZE_BINS:
        if size <= upper:
            return name
    return LAST_BIN


@dataclass(slots=True)
class OpTally:
    ops: int = 0
    bytes: int = 0
    seconds: float = 0.0
    consecutive: int = 0
    sequential: int = 0
    sizes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BIN_NAMES, 0))

    def add(self, size: int, seconds: float, *, offset: int, previous_end: int) -> None:
        self.ops += 1
        self.bytes += size
        self.seconds += seconds
        self.consecutive += offset == previous_end
        self.sequential += offset >= previous_end
        self.sizes[size_bin(size)] += 1

    def merge(self, other: dict[str, Any]) -> None:
        """Add another tally of the same operation, given as its as_dict()."""
        self.ops += other["ops"]
        self.bytes += other["bytes"]
        self.seconds += other["seconds"]
        self.consecutive += other["consecutive"]
        self.sequential += other["sequential"]
        for name, count in other["sizes"].items():
            self.sizes[name] += count

    def as_dict(self) -> dict[str, Any]:
        return {
            "ops": self.ops,
            "bytes": self.bytes,
            "seconds": self.seconds,
            "consecutive": self.consecutive,
            "sequential": self.sequential,
            "sizes": dict(self.sizes),
        }


class AccessTally:
    """The accesses recorded by one pipelines.observability.recorder.IoRecorder; safe to add to from several
    threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ops = {op: OpTally() for op in OPS}

    def add(self, op: str, size: int, seconds: float, *, offset: int, previous_end: int) -> None:
        with self._lock:
            self._ops[op].add(size, seconds, offset=offset, previous_end=previous_end)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {op: tally.as_dict() for op, tally in self._ops.items()}

    def merge(self, snapshot: dict[str, dict[str, Any]]) -> None:
        """Add another tally's snapshot (from another thread or process) to this one."""
        with self._lock:
            for op, theirs in snapshot.items():
                self._ops[op].merge(theirs)


def access_delta(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The accesses between two snapshots, with the sequential and consecutive shares of each operation."""
    out: dict[str, Any] = {}
    for op in OPS:
        a, b = after[op], before[op]
        ops = a["ops"] - b["ops"]
        sequential, consecutive = a["sequential"] - b["sequential"], a["consecutive"] - b["consecutive"]
        out[op] = {
            "ops": ops,
            "bytes": a["bytes"] - b["bytes"],
            "seconds": a["seconds"] - b["seconds"],
            "sequential_share": sequential / ops if ops else 0.0,
            "consecutive_share": consecutive / ops if ops else 0.0,
            "sizes": {name: a["sizes"][name] - b["sizes"][name] for name in BIN_NAMES},
        }
    return out
