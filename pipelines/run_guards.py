"""What keeps unattended ingestion runs safe: retries for transient errors only, one run at a time per work
folder, and a webhook call when a run fails. The ingestion flow (pipelines.flows) uses all three; `vetted
deploy` runs it on a schedule, where nobody watches the terminal.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from prefect.flow_engine import FlowRunTimeoutError
from prefect.task_engine import TaskRunTimeoutError

from curation.layout import WorkLayout

LOCK_NAME = "ingest.lock"  # the work folder's ingestion lock (WorkLayout has no slot for it; index/.lock is
# the index writer's own, held only around a swap, so it cannot say "a run is in progress")

# errno values that say "try again later": a busy or locked resource, a network or share that timed out or
# dropped the connection. ENOENT, EACCES, ENOSPC and the like are not here: a retry would fail the same way.
TRANSIENT_ERRNOS = frozenset(
    {
        errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.ETIMEDOUT, errno.ECONNRESET, errno.ECONNREFUSED,
        errno.ECONNABORTED, errno.EPIPE, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ESTALE,
    }
)  # fmt: skip
SQLITE_TRANSIENT = ("database is locked", "database is busy")  # another writer holds steward.db or a cache

log = logging.getLogger(__name__)


def is_transient(exc: BaseException) -> bool:
    """True for errors a retry can cure (EAGAIN, timeouts, dropped connections, a locked SQLite database);
    False for everything else: bad input, a bug or an accounting failure fails the same on every try."""
    if isinstance(exc, FlowRunTimeoutError | TaskRunTimeoutError):
        return False  # the run's own time budget (schedule.timeout_s) ran out: a retry would overrun it
    if isinstance(exc, sqlite3.OperationalError):
        return any(text in str(exc).lower() for text in SQLITE_TRANSIENT)
    if isinstance(exc, TimeoutError | ConnectionError | httpx.TransportError):
        return True
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's `retry_condition_fn`: retry a failed task only when its exception is transient."""
    if isinstance(state.data, BaseException):  # how Prefect hands over an exception raised in the task
        return is_transient(state.data)
    try:
        state.result()  # a stored result: re-raises the task's exception
    except Exception as exc:  # what was raised is the question here
        return is_transient(exc)
    return False


def lock_path(layout: WorkLayout) -> Path:
    return layout.root / LOCK_NAME


@contextmanager
def ingest_lock(layout: WorkLayout) -> Iterator[str | None]:
    """Hold the work folder's ingestion lock for the block; yields None when it was taken, else what the
    holder wrote (its pid) so the caller can skip and say who has it.

    A non-blocking flock: the kernel drops it when the holder exits, SIGKILL included, so a crashed run never
    leaves a stale lock behind (a lock file with a pid inside would).
    """
    path = lock_path(layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            yield fh.read().strip() or "unknown"
            return
        try:
            fh.truncate(0)
            fh.write(f"pid {os.getpid()}\n")
            fh.flush()
            yield None
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def failure_payload(flow_run: Any, state: Any, work_dir: Path) -> dict[str, Any]:
    return {
        "event": "vetted.ingest.failed",
        "flow_run_name": flow_run.name,
        "flow_run_id": str(flow_run.id),
        "deployment_id": str(flow_run.deployment_id) if flow_run.deployment_id else None,
        "state": state.name,
        "message": state.message,
        "work_dir": str(work_dir),
    }


def post_failure(url: str | None, payload: dict[str, Any], *, timeout_s: float) -> bool:
    """POST the payload; True when the webhook answered 2xx. Never raises: a dead webhook must not hide the
    run's own failure, so it is logged and the caller goes on."""
    if not url:
        return False
    try:
        response = httpx.post(url, json=payload, timeout=timeout_s)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("failure webhook %s not reached (%s): the run's failure is in Prefect's log", url, exc)
        return False
    return True
