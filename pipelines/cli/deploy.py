"""`vetted deploy`: register the ingestion flow with the schedule in vetted.toml [schedule] and serve it.

    prefect server start                                   # terminal 1: API, scheduler and UI on :4200
    export PREFECT_API_URL=http://127.0.0.1:4200/api       # terminal 2
    vetted deploy                                          # runs `vetted ingest` on the schedule until Ctrl-C

The schedule lives in the Prefect server (its scheduler creates the runs); this process is the runner that
executes them, one at a time. Prefect's temporary server, which `vetted ingest` starts when no
PREFECT_API_URL is set, has no scheduler and stops with the process, so this command refuses to run without
a reachable server.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx

from pipelines.core.settings import ScheduleSettings

if TYPE_CHECKING:
    from prefect.schedules import Schedule

DEPLOYMENT_NAME = "scheduled"  # shown in the UI as vetted-ingest/scheduled
HEALTH_TIMEOUT_S = 5.0  # a server on loopback answers /health in milliseconds; 5 s allows a busy one
START_SERVER = (
    "start one with `prefect server start` (API, scheduler and UI on http://127.0.0.1:4200), then "
    "`export PREFECT_API_URL=http://127.0.0.1:4200/api` and run `vetted deploy` again"
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "deploy", help="run the ingestion flow on the [schedule] in vetted.toml (needs a Prefect server)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("--corpus", help="corpus folder (overrides paths.corpus_dir)")
    p.add_argument("--name", default=DEPLOYMENT_NAME, help=f"deployment name (default {DEPLOYMENT_NAME})")
    p.set_defaults(func=cmd_deploy)


def build_schedule(schedule: ScheduleSettings) -> Schedule:
    """The Prefect schedule [schedule] describes; a cron Prefect cannot read fails here, before any server
    is contacted, with the value and the fix."""
    from prefect.schedules import Cron, Interval

    active = schedule.enabled
    if schedule.interval_s is not None:
        return Interval(timedelta(seconds=schedule.interval_s), timezone=schedule.timezone, active=active)
    try:
        return Cron(schedule.cron, timezone=schedule.timezone, active=active)
    except ValueError as exc:
        raise SystemExit(
            f"schedule.cron = {schedule.cron!r} is not a cron expression Prefect accepts ({exc}): five "
            "fields, minute hour day-of-month month day-of-week, e.g. '0 2 * * *' for 02:00 every day"
        ) from exc


def require_api() -> str:
    """The Prefect API URL, checked to answer; SystemExit saying how to start a server otherwise."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if not url:
        raise SystemExit(f"vetted deploy needs a Prefect server; PREFECT_API_URL is not set: {START_SERVER}")
    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=HEALTH_TIMEOUT_S).raise_for_status()
    except httpx.HTTPError as exc:
        raise SystemExit(f"no Prefect server answers at PREFECT_API_URL={url} ({exc}): {START_SERVER}") \
            from exc
    return url


def cmd_deploy(args: argparse.Namespace) -> int:
    from prefect.types.entrypoint import EntrypointType

    from pipelines.cli.demo import resolved_paths
    from pipelines.cli.main import settings_from_args
    from pipelines.flows import scheduled_ingest_flow

    settings = settings_from_args(args)
    schedule = build_schedule(settings.schedule)
    url = require_api()
    config = args.config if args.config and args.config.exists() else None
    every = settings.schedule.interval_s
    when = f"every {every:g} s" if every else f"cron {settings.schedule.cron!r}"
    print(f"serving vetted-ingest/{args.name} ({when}, {settings.schedule.timezone}) against {url}; "
          f"work folder {settings.work_dir}; Ctrl-C stops (and pauses the schedule)", flush=True)  # fmt: skip
    scheduled_ingest_flow(settings).serve(
        name=args.name,
        schedule=schedule,
        parameters={"config": str(config.resolve()) if config else None, "dotted": resolved_paths(settings)},
        limit=1,  # this runner starts one run at a time; the work folder's lock covers every other process
        entrypoint_type=EntrypointType.MODULE_PATH,  # pipelines.flows:ingest_flow, from any folder
        print_starting_message=False,
    )
    return 0
