"""Scheduled ingestion (`vetted deploy`, pipelines.run_guards): retries for transient errors only, one run per
work folder at a time, the failure webhook against a real local HTTP server, clear errors for a bad schedule
or a missing server, and the schedule itself: a real `prefect server start` on loopback, `vetted deploy`
serving the flow every few seconds, two completed runs, the second one incremental."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from prefect import flow
from prefect.flow_engine import FlowRunTimeoutError
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Failed
from pydantic import ValidationError

from pipelines.cli.deploy import build_schedule, require_api
from pipelines.core.settings import ScheduleSettings, load_settings
from pipelines.flows import SKIPPED, ingest_flow, scheduled_ingest_flow, stage_runner
from pipelines.ingest import AccountingError
from pipelines.run_guards import ingest_lock, is_transient, lock_path, post_failure, retry_transient
from tests.conftest import REPO_ROOT, TODAY, settings_for
from tests.pipelines.test_incremental import _write
from tests.pipelines.test_ingest import PAGES

HOLD_LOCK = """
import sys
from pathlib import Path
from curation.layout import WorkLayout
from pipelines.run_guards import ingest_lock
with ingest_lock(WorkLayout(Path(sys.argv[1]))) as taken:
    assert taken is None
    print("held", flush=True)
    sys.stdin.read()
"""
TWO_TICKS_BUDGET_S = 240  # server start (~15 s) + two ingestion runs of three pages, with room on 2 cores


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    """test_incremental's three pages with a fixed file date (ages never follow the clock)."""
    folder = tmp_path / "corpus" / "product-docs-python"
    folder.mkdir(parents=True)
    for name, text in PAGES.items():
        _write(folder, name, text)
    return folder.parent


# --- retries: transient errors only -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable"),
        OSError(errno.ETIMEDOUT, "Connection timed out"),
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        TimeoutError("timed out"),
        sqlite3.OperationalError("database is locked"),
        httpx.ConnectError("connection refused"),
    ],
    ids=repr,
)
def test_transient_errors_are_retried(exc):
    assert is_transient(exc)
    assert retry_transient(None, None, Failed(data=exc)) is True


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad policy value"),
        AccountingError("inputs 3 != 2 documents + 0 quarantined"),
        FileNotFoundError(errno.ENOENT, "corpus folder not found"),
        PermissionError(errno.EACCES, "Permission denied"),
        OSError(errno.ENOSPC, "No space left on device"),
        sqlite3.OperationalError("no such table: overrides"),
        FlowRunTimeoutError("Flow run exceeded timeout of 10 second(s)"),
    ],
    ids=repr,
)
def test_other_errors_fail_at_once(exc):
    assert not is_transient(exc)
    assert retry_transient(None, None, Failed(data=exc)) is False


def test_a_stage_is_retried_for_eagain_and_not_for_a_value_error(prefect_harness):
    calls = {"eagain": 0, "value": 0}

    def flaky() -> None:  # fails twice with EAGAIN, then works
        calls["eagain"] += 1
        if calls["eagain"] < 3:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

    def broken() -> None:
        calls["value"] += 1
        raise ValueError("not a transient problem")

    run_stage = stage_runner(ScheduleSettings(retries=2, retry_delay_s=0))

    @flow
    def two_stages() -> None:
        run_stage("flaky", flaky)
        run_stage("broken", broken)

    state = two_stages(return_state=True)
    assert state.is_failed() and "not a transient problem" in state.message
    assert calls == {"eagain": 3, "value": 1}


# --- one ingestion at a time --------------------------------------------------------------------------------


def test_a_second_run_while_the_first_holds_the_lock_is_skipped_and_says_so(tmp_path, corpus,
                                                                             prefect_harness):
    settings = settings_for(tmp_path / "work", corpus)
    holder = subprocess.Popen(  # another process holding the work folder's lock, as a running ingestion does
        [sys.executable, "-c", HOLD_LOCK, str(settings.work_dir)],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        state = ingest_flow(None, _dotted(settings), return_state=True)
    finally:
        holder.communicate("", timeout=30)  # closing its stdin ends it, and the kernel drops the lock
    assert state.is_completed() and state.name == SKIPPED
    message = state.message
    assert f"skipped: another ingestion (pid {holder.pid}) holds {lock_path(settings.layout)}" == message
    assert state.result() == {"skipped": True, "reason": message}
    assert not settings.layout.runs_dir.exists()  # nothing ran: no run folder, no summary
    with ingest_lock(settings.layout) as other:  # free again once the holder has gone
        assert other is None


def test_the_scheduled_flow_carries_the_time_limit_from_settings(tmp_path, corpus):
    settings = load_settings(None, {"paths.work_dir": str(tmp_path), "schedule.timeout_s": 90})
    assert scheduled_ingest_flow(settings).timeout_seconds == 90
    assert ingest_flow.timeout_seconds is None  # `vetted ingest` by hand has no limit


# --- the failure webhook ------------------------------------------------------------------------------------


@pytest.fixture()
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A real HTTP server on loopback that keeps every JSON body POSTed to it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def test_a_failed_run_posts_to_the_webhook(tmp_path, webhook, prefect_harness):
    url, received = webhook
    work = tmp_path / "work"
    dotted = {"paths.work_dir": str(work), "paths.corpus_dir": str(tmp_path / "no-such-corpus"),
              "schedule.failure_webhook_url": url}  # fmt: skip
    state = ingest_flow(None, dotted, return_state=True)
    assert state.is_failed()
    assert len(received) == 1
    sent = received[0]
    assert sent["flow_run_id"] == str(state.state_details.flow_run_id) and sent["flow_run_name"]
    assert sent["state"] == "Failed" and "no-such-corpus" in sent["message"]
    assert sent["work_dir"] == str(work) and sent["event"] == "vetted.ingest.failed"


def test_a_dead_webhook_is_logged_and_never_raises(tmp_path, caplog, prefect_harness):
    dead = f"http://127.0.0.1:{_free_port()}/hook"  # nothing listens there
    assert post_failure(dead, {"event": "x"}, timeout_s=1.0) is False
    assert "failure webhook" in caplog.text and "not reached" in caplog.text
    dotted = {"paths.work_dir": str(tmp_path / "work"), "paths.corpus_dir": str(tmp_path / "none"),
              "schedule.failure_webhook_url": dead}  # fmt: skip
    state = ingest_flow(None, dotted, return_state=True)
    assert state.is_failed() and "none" in state.message  # the run's own failure, not the webhook's


# --- bad input ----------------------------------------------------------------------------------------------


def test_a_bad_cron_or_timezone_is_a_clear_error():
    cron_help = r"schedule.cron = 'every night' is not a cron expression.*'0 2 \* \* \*'"
    with pytest.raises(SystemExit, match=cron_help):
        build_schedule(ScheduleSettings(cron="every night"))
    with pytest.raises(SystemExit, match="schedule.cron = '0 25"):
        build_schedule(ScheduleSettings(cron="0 25 * * *"))
    with pytest.raises(ValidationError, match="unknown timezone 'Mars/Olympus': use an IANA name"):
        load_settings(REPO_ROOT / "vetted.toml", {"schedule.timezone": "Mars/Olympus"})
    weekdays = build_schedule(ScheduleSettings(cron="30 1 * * 1-5", timezone="Europe/Berlin"))
    assert (weekdays.cron, weekdays.timezone) == ("30 1 * * 1-5", "Europe/Berlin")
    assert build_schedule(ScheduleSettings(interval_s=5)).interval.total_seconds() == 5


def test_deploy_without_a_server_says_how_to_start_one(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}  # no PREFECT_API_URL
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    argv = [sys.executable, "-m", "pipelines.cli.main", "--config", str(REPO_ROOT / "vetted.toml"), "deploy"]
    done = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "PREFECT_API_URL is not set" in done.stderr and "prefect server start" in done.stderr
    assert "export PREFECT_API_URL=http://127.0.0.1:4200/api" in done.stderr
    dead = f"http://127.0.0.1:{_free_port()}/api"  # set, but nothing listens there
    with temporary_settings(updates={PREFECT_API_URL: dead}), pytest.raises(SystemExit) as stop:
        require_api()
    assert f"no Prefect server answers at PREFECT_API_URL={dead}" in str(stop.value)
    assert "prefect server start" in str(stop.value)


# --- two ticks of the schedule on a real Prefect server -----------------------------------------------------


def test_the_schedule_runs_twice_and_the_second_run_is_incremental(tmp_path, corpus):
    deadline = time.monotonic() + TWO_TICKS_BUDGET_S
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",  # default 60: a tick would wait a minute
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",  # the runner asks for due runs every 2 s (default 10)
    }
    config = _write_config(tmp_path, corpus, interval_s=5)
    work = tmp_path / "work"
    with _process_group(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env, tmp_path / "server.log",
    ):  # fmt: skip
        _wait_healthy(api, deadline)
        with _process_group(
            [sys.executable, "-m", "pipelines.cli.main", "--config", str(config), "deploy"],
            env | {"PREFECT_API_URL": api}, tmp_path / "deploy.log",
        ):  # fmt: skip
            runs = _wait_completed_runs(api, 2, deadline, tmp_path / "deploy.log")
    assert [r["deployment_name"] for r in runs] == ["scheduled", "scheduled"]
    summaries = sorted(work.glob("runs/*/summary.json"))
    first, second = (json.loads(p.read_text()) for p in summaries[:2])
    assert (first["incremental"]["new"], first["incremental"]["unchanged"]) == (3, 0)
    inc = second["incremental"]
    assert (inc["new"], inc["changed"], inc["unchanged"], inc["deleted"]) == (0, 0, 3, 0)
    assert (inc["chunks_embedded"], inc["files_parsed"]) == (0, 0) and inc["vectors_reused"] > 0
    assert first["index"]["build_id"] == second["index"]["build_id"]  # nothing changed, the build stays


# --- helpers ------------------------------------------------------------------------------------------------


def _dotted(settings) -> dict[str, str]:
    return {"paths.work_dir": str(settings.work_dir), "paths.corpus_dir": str(settings.paths.corpus_dir),
            "paths.sources_file": str(REPO_ROOT / "sources.toml"),
            "paths.policy_file": str(REPO_ROOT / "policy.toml"), "curation.today": TODAY}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_config(tmp_path: Path, corpus: Path, *, interval_s: float) -> Path:
    """The test's vetted.toml: its own folders, the repo's sources and policy, a fixed day, a short tick."""
    config = tmp_path / "vetted.toml"
    config.write_text(
        f'[paths]\nwork_dir = "{tmp_path / "work"}"\ncorpus_dir = "{corpus}"\n'
        f'sources_file = "{REPO_ROOT / "sources.toml"}"\npolicy_file = "{REPO_ROOT / "policy.toml"}"\n\n'
        f'[curation]\ntoday = "{TODAY}"\n\n[schedule]\ninterval_s = {interval_s}\ntimeout_s = 180\n',
        encoding="utf-8",
    )
    return config


class _process_group:
    """A child in its own session, logging to a file; on exit SIGINT to its group, SIGKILL after 20 s."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.argv, self.env, self.log = argv, env, log

    def __enter__(self) -> subprocess.Popen:
        self.out = open(self.log, "w", encoding="utf-8")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(self.argv, cwd=REPO_ROOT, env=self.env, stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        return self.proc

    def __exit__(self, *exc_info) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait(timeout=20)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever the group still holds (the runner's children)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self.out.close()


def _wait_healthy(api: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail("the Prefect server never answered /api/health")


def _wait_completed_runs(api: str, count: int, deadline: float, log: Path) -> list[dict]:
    """Poll the server (Prefect's client) until `count` runs of the deployment completed, not skipped."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateName

    def named(*names: str) -> FlowRunFilter:
        return FlowRunFilter(state=FlowRunFilterState(name=FlowRunFilterStateName(any_=list(names))))

    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            done = client.read_flow_runs(flow_run_filter=named("Completed"), limit=10)
            failed = client.read_flow_runs(flow_run_filter=named("Failed", "Crashed", "TimedOut"), limit=1)
            if failed:
                pytest.fail(f"a scheduled run failed: {failed[0].state}\n{log.read_text()[-3000:]}")
            if len(done) >= count:
                names = {d.id: client.read_deployment(d.deployment_id).name for d in done}
                ordered = sorted(done, key=lambda r: r.start_time)[:count]
                return [{"id": r.id, "deployment_name": names[r.id]} for r in ordered]
            time.sleep(2)
    pytest.fail(f"fewer than {count} completed runs within the budget\n{log.read_text()[-3000:]}")
