"""Prefect flows. The ingestion flow is the ingestion run (pipelines.ingest) with each of its stages wrapped
in a Prefect task, so the run shows up stage by stage in Prefect's UI and logs; the order lives in the run,
not here. Stages pass documents in memory, so the task declares NO_CACHE: hashing thousands of documents for
a cache key would cost more than the stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from pipelines import ingest
from pipelines.core.settings import load_settings
from pipelines.observability.profiler import RunProfile


@task(cache_policy=NO_CACHE)
def stage_task(body: ingest.StageBody) -> None:
    body()


def _as_task(name: str, body: ingest.StageBody) -> None:
    stage_task.with_options(name=name)(body)


@flow(name="vetted-ingest", log_prints=True)
def ingest_flow(config: str | None = None, dotted: dict[str, Any] | None = None) -> dict[str, Any]:
    """load -> score -> tier -> redact -> chunk -> embed -> index -> report, every stage profiled.

    Args:
        config: the settings file (None: embedded defaults).
        dotted: settings on top of it, as flags give them ({"paths.corpus_dir": "..."}).
    """
    settings = load_settings(Path(config) if config else None, dotted)
    corpus = settings.resolve(settings.paths.corpus_dir)
    done = ingest.run(settings, corpus, settings.layout, run_stage=_as_task)
    summary = done.summary
    get_run_logger().info(
        "inputs %d = %d documents + %d quarantined (accounted)",
        summary["inputs"],
        summary["documents"],
        summary["quarantined"],
    )
    publish_artifacts(summary, done.profile)
    return summary


def publish_artifacts(summary: dict[str, Any], profile: RunProfile) -> None:
    description = f"I/O profile of run {summary['run_id']}"
    create_table_artifact(profile.rows(), key="io-profile", description=description)
    tiers = summary["tiers"]
    create_markdown_artifact(
        f"# Vetted run {summary['run_id']}\n\n{summary['inputs']} inputs = "
        f"{summary['documents']} documents + "
        f"{summary['quarantined']} quarantined.\n\nTiers: safe {tiers['safe']}, review {tiers['review']}, "
        f"unsafe {tiers['unsafe']}. Index build `{summary['index']['build_id']}` with "
        f"{summary['index']['chunks']} safe chunks.\n\nSteward report: `{summary['steward_report']}`",
        key="run-summary",
    )
