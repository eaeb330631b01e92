"""Checkpoint saves that record what they cost: the blocking stall and the background persist, apart.

    with Checkpointer(profile) as ckpt:
        for step in range(steps):
            ...
            if step % every == 0:
                ckpt.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step}, path)
    # leaving the block waits for the last save; the records are in profile.checkpoints

save() first waits for the save still in flight (one at a time: two would double host memory and split the
storage bandwidth), then snapshots the state to CPU, copying every tensor because training goes on changing
them: that wait plus the snapshot is the stall training sees. The copies go into the tensors of the previous
snapshot, durable by then, where shapes and dtypes match (DCP's staging does the same with
cache_staged_state_dict): no allocation and page faults on every save, for one snapshot's worth of host memory
kept between saves. A background thread then writes the snapshot with torch.save through a TracedFile,
fsyncs it, renames it into place and fsyncs the folder: the persist, DLIO's checkpoint duration. A crash
leaves the previous file or the new one, never half of one. Last, a manifest beside it
(`<name>.manifest.json`: sha256 and size of the bytes written) is written the same way: `latest_checkpoint`
trusts only a file whose manifest exists and whose bytes still match it, and falls back to the one before (a
file truncated or damaged after the rename, e.g. by a disk or a copy, is caught there).

The persist's fsyncs, file opens and accesses go into the recorder the Checkpointer is given: by default the
profile's own `checkpoint_io`, never whatever stage happens to be running when the background thread writes.
A training stage that wants its saves charged to itself says so: `Checkpointer(profile, recorder=st.io)`.
Its kernel figures (wchar, write_bytes) are process-wide and land in the stages running meanwhile, which
name "checkpoint_persist" in their `overlapped`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, cast

import torch

from pipelines.observability.fsio import atomic_write_json, fsync_fd, fsync_path, traced_open
from pipelines.observability.profiler import RunProfile
from pipelines.observability.recorder import IoRecorder, activate
from pipelines.observability.training_io import CheckpointRecord

PERSIST = "checkpoint_persist"  # the name a persist goes by in the stages' `overlapped`
MANIFEST_SUFFIX = ".manifest.json"

log = logging.getLogger(__name__)


def snapshot_to_cpu(state: Any, into: Any = None) -> Any:
    """A copy of a (nested) state dict that training can no longer change: tensors copied to CPU memory.

    `into`: an earlier snapshot that nothing reads any more; a tensor at the same place with the same shape
    and dtype is written over instead of allocating a new one.
    """
    if isinstance(state, torch.Tensor):
        if isinstance(into, torch.Tensor) and into.shape == state.shape and into.dtype == state.dtype:
            return into.copy_(state.detach())
        return state.detach().to("cpu", copy=True)
    if isinstance(state, int | float | str | bytes | None):  # immutable (bool is an int): nothing to copy
        return state
    if isinstance(state, dict):
        spare = into if isinstance(into, dict) else {}
        return {key: snapshot_to_cpu(value, spare.get(key)) for key, value in state.items()}
    if isinstance(state, list | tuple):
        spares = into if isinstance(into, list | tuple) and len(into) == len(state) else [None] * len(state)
        return type(state)(snapshot_to_cpu(value, spare) for value, spare in zip(state, spares, strict=True))
    return copy.deepcopy(state)


def persist(
    snapshot: Any, path: Path, record: CheckpointRecord, *, recorder: IoRecorder | None = None
) -> None:
    """torch.save to a temporary name, fsync, atomic rename, fsync the folder; times go into the record,
    fsyncs and accesses into `recorder`."""
    start = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    digest = hashlib.sha256()
    with traced_open(tmp, "wb", recorder=recorder) as fh:
        torch.save(snapshot, cast(IO[bytes], _Hashing(fh, digest)))
        fh.flush()
        record.write_s = time.perf_counter() - start
        record.size_bytes = os.fstat(fh.fileno()).st_size
        synced = time.perf_counter()
        fsync_fd(fh.fileno(), recorder=recorder)
    os.replace(tmp, path)
    fsync_path(path.parent, recorder=recorder)
    record.fsync_s = time.perf_counter() - synced
    manifest = {"file": path.name, "sha256": digest.hexdigest(), "size_bytes": record.size_bytes}
    atomic_write_json(manifest_path(path), manifest, recorder=recorder)
    record.persist_s = time.perf_counter() - start


class _Hashing:
    """A write-only file that hashes what passes through it (no second read of the checkpoint)."""

    def __init__(self, fh: Any, digest: Any) -> None:
        self.fh, self.digest = fh, digest

    def write(self, data: Any) -> int:
        self.digest.update(data)
        return int(self.fh.write(data))

    def flush(self) -> None:
        self.fh.flush()


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + MANIFEST_SUFFIX)


def verify(path: Path) -> str:
    """Why `path` cannot be trusted ("" when its bytes match its manifest)."""
    manifest = manifest_path(path)
    if not path.is_file() or not manifest.is_file():
        return "no manifest (the save never finished)" if path.is_file() else "missing"
    expected = json.loads(manifest.read_text(encoding="utf-8"))
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(8 << 20):
            digest.update(block)
    if digest.hexdigest() != expected["sha256"]:
        size = path.stat().st_size
        return f"sha256 mismatch ({size} bytes on disk, {expected['size_bytes']} written)"
    return ""


def latest_checkpoint(folder: Path, pattern: str = "*.pt") -> Path | None:
    """The newest checkpoint in `folder` (by name: zero-padded steps sort) that passes `verify`; each one
    skipped is logged with the reason."""
    for path in sorted(folder.glob(pattern), reverse=True):
        problem = verify(path)
        if not problem:
            return path
        log.warning("checkpoint %s is not usable (%s): trying the previous one", path, problem)
    return None


class Checkpointer:
    """Asynchronous checkpoint saves, one in flight, each recorded in the run profile; their own I/O goes
    into `recorder` (default: profile.checkpoint_io)."""

    def __init__(self, profile: RunProfile, *, recorder: IoRecorder | None = None) -> None:
        self.profile = profile
        self.recorder = profile.checkpoint_io if recorder is None else recorder
        self._thread: threading.Thread | None = None
        self._record: CheckpointRecord | None = None
        self._in_flight: Any = None  # the snapshot the persist thread is writing
        self._spare: Any = None  # the last durable snapshot: the next one is copied into its tensors

    def save(self, state: Any, path: Path) -> CheckpointRecord:
        """Snapshot `state` and persist it to `path` in the background; returns the (pending) record."""
        record = CheckpointRecord(path=str(path), started_at=time.time())
        start = time.perf_counter()
        self.wait()
        record.waited_for_previous_s = time.perf_counter() - start
        snapped = time.perf_counter()
        snapshot = snapshot_to_cpu(state, into=self._spare)
        self._spare, self._in_flight = None, snapshot
        record.snapshot_s = time.perf_counter() - snapped
        self.profile.checkpoints.append(record)
        # Not a daemon: the interpreter waits for a save in flight instead of killing it mid-write.
        self._thread = threading.Thread(
            target=self._persist, args=(snapshot, path, record), name="ckpt-persist"
        )
        self._record = record
        self._thread.start()
        return record

    def _persist(self, snapshot: Any, path: Path, record: CheckpointRecord) -> None:
        try:
            # This thread's opens count into the checkpoint recorder, as its fsyncs and writes do.
            with self.profile.running(PERSIST), activate(self.recorder):
                persist(snapshot, path, record, recorder=self.recorder)
        except Exception as exc:  # kept on the record, raised in the training thread
            record.error = f"{type(exc).__name__}: {exc}"
            return
        record.done = True
        log.info(
            "checkpoint %s: %.1f MB, stall %.3f s, persist %.3f s (fsync %.3f s)",
            path,
            record.size_bytes / 1e6,
            record.stall_s,
            record.persist_s,
            record.fsync_s,
        )

    def wait(self) -> None:
        """Block until the save in flight is durable; raise if it failed."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        record, self._record = self._record, None
        snapshot, self._in_flight = self._in_flight, None
        if record is not None and record.error:
            raise RuntimeError(f"checkpoint {record.path} failed: {record.error}")
        if snapshot is not None:  # written and no longer read: the next snapshot may write over it
            self._spare = snapshot

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.wait()


def load_checkpoint(path: Path, *, recorder: IoRecorder | None = None) -> Any:
    """Read a checkpoint back through a TracedFile (its reads show in `recorder`'s access histogram)."""
    with traced_open(path, "rb", recorder=recorder) as fh:
        return torch.load(fh, map_location="cpu", weights_only=True)
