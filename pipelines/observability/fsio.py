"""The one place our writers make data durable, and the traced file our own reads and writes go through.

Every fsync goes through here so the profiler can count it and time it (DLIO reports checkpoint persist time;
an un-fsynced write only measures the page cache). TracedFile tallies each read and write we make (size,
offset, seconds), which gives the Darshan-style size histogram and sequential share
(pipelines.observability.access). The figures go into the recorder the caller hands over (a stage's `st.io`, a
checkpoint stream's recorder): no counter here is shared by the process, so two stages on two threads never
mix figures. recorder=None records nothing.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from pipelines.observability.recorder import IoRecorder


def fsync_fd(fd: int, *, recorder: IoRecorder | None = None) -> None:
    start = time.perf_counter()
    os.fsync(fd)
    if recorder is not None:
        recorder.add_fsync(time.perf_counter() - start)


def fsync_path(path: Path, *, recorder: IoRecorder | None = None) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        fsync_fd(fd, recorder=recorder)
    finally:
        os.close(fd)


class TracedFile:
    """A binary file whose reads and writes are tallied; anything else is passed to the file it wraps.

    Offsets are tracked here (not with tell(), which would cost a call each time), so each access knows
    whether it continued where the previous one of its kind ended.
    """

    def __init__(self, raw: IO[bytes], *, recorder: IoRecorder | None = None) -> None:
        self._raw = raw
        self._recorder = recorder
        self._pos = raw.tell() if raw.seekable() else 0
        self._end = {"read": 0, "write": 0}  # where the previous access of each kind ended

    def _tally(self, op: str, size: int, start: float) -> None:
        if size == 0:  # a read at end of file moves no data: left out, or every small file gets a 0-byte read
            return
        if self._recorder is not None:
            seconds = time.perf_counter() - start
            self._recorder.access.add(op, size, seconds, offset=self._pos, previous_end=self._end[op])
        self._pos += size
        self._end[op] = self._pos

    def write(self, data: Any) -> int:
        start = time.perf_counter()
        written = self._raw.write(data)
        size = memoryview(data).nbytes if written is None else written  # None: a non-blocking raw file
        self._tally("write", size, start)
        return size

    def read(self, size: int = -1) -> bytes:
        start = time.perf_counter()
        data = self._raw.read(size)
        self._tally("read", len(data), start)
        return data

    def readinto(self, buffer: Any) -> int:
        start = time.perf_counter()
        got = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        self._tally("read", got or 0, start)
        return int(got or 0)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._pos = self._raw.seek(offset, whence)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def __getattr__(self, name: str) -> Any:  # fileno, flush, close, seekable, name...
        return getattr(self._raw, name)

    def __enter__(self) -> TracedFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._raw.close()


def traced_open(path: Path, mode: str = "rb", *, recorder: IoRecorder | None = None) -> TracedFile:
    if "b" not in mode:
        raise ValueError(f"traced_open is for binary files; got mode {mode!r}")
    return TracedFile(open(path, mode), recorder=recorder)  # the TracedFile closes it


def atomic_write_bytes(path: Path, data: bytes, *, recorder: IoRecorder | None = None) -> None:
    """Write, fsync, rename, fsync the folder: a crash leaves the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with traced_open(tmp, "wb", recorder=recorder) as fh:
        fh.write(data)
        fh.flush()
        fsync_fd(fh.fileno(), recorder=recorder)
    os.replace(tmp, path)
    fsync_path(path.parent, recorder=recorder)


def atomic_write_text(path: Path, text: str, *, recorder: IoRecorder | None = None) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), recorder=recorder)


def atomic_write_json(path: Path, obj: object, *, recorder: IoRecorder | None = None) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=str) + "\n", recorder=recorder)
