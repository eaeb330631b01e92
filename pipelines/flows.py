"""Prefect flows: the ingestion flow puts the stages in order; each task is a thin wrapper that runs one
stage inside the stage profiler. Tasks pass documents in memory, so they declare NO_CACHE: hashing thousands
of documents for a cache key would cost more than the stage."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The machine reaches no analytics endpoint; without this the temporary server logs a failed send per run.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from curation.models import Document, Tier
from curation.policy import load_policy
from curation.sources import load_registry
from curation.steward import StewardDB
from pipelines import stages
from pipelines.embedding import Embedder, embedder_for
from pipelines.io.report import write_report as write_io_report
from pipelines.profiler import PROFILE_FILE, RunProfile, new_run_dir
from pipelines.settings import Settings, load_settings


@dataclass
class RunContext:
    settings: Settings
    profile: RunProfile
    run_dir: Path
    embedder: Embedder


@task(cache_policy=NO_CACHE)
def load_task(ctx: RunContext) -> stages.Loaded:
    s = ctx.settings
    with ctx.profile.stage("load") as st:
        loaded = stages.load_documents(
            s.resolve(s.paths.corpus_dir),
            load_registry(s.resolve(s.paths.sources_file)),
            max_file_mb=s.curation.max_file_mb,
            legacy_encoding=s.curation.legacy_encoding,
        )
        st.items(items_in=loaded.units, items_out=len(loaded.documents))
        st.note(quarantined=len(loaded.quarantined))
    return loaded


@task(cache_policy=NO_CACHE)
def score_task(ctx: RunContext, loaded: stages.Loaded) -> stages.Scores:
    s = ctx.settings
    with ctx.profile.stage("score") as st:
        scorers = stages.build_scorers(s, load_registry(s.resolve(s.paths.sources_file)), ctx.embedder)
        scores, seconds = stages.score_documents(loaded.documents, scorers)
        st.items(items_in=len(loaded.documents), items_out=len(scores))
        st.note(**{f"{name}_s": round(sec, 3) for name, sec in seconds.items()})
    return scores


@task(cache_policy=NO_CACHE)
def tier_task(ctx: RunContext, loaded: stages.Loaded, scores: stages.Scores) -> stages.Tiered:
    s = ctx.settings
    with ctx.profile.stage("tier") as st:
        overrides = StewardDB(ctx.settings.work_dir / "steward.db").overrides()
        tiered = stages.tier_documents(
            loaded.documents, scores, load_policy(s.resolve(s.paths.policy_file)), overrides
        )
        stages.write_tables(s.work_dir, loaded, scores, tiered)
        st.items(items_in=len(scores), items_out=len(tiered.decisions))
        st.note(**tiered.counts)
    return tiered


@task(cache_policy=NO_CACHE)
def chunk_task(ctx: RunContext, safe_docs: list[Document]) -> list[Any]:
    with ctx.profile.stage("chunk") as st:
        nodes = stages.chunk_documents(safe_docs, ctx.embedder, ctx.settings)
        st.items(items_in=len(safe_docs), items_out=len(nodes))
    return nodes


@task(cache_policy=NO_CACHE)
def embed_task(ctx: RunContext, nodes: list[Any]) -> list[Any]:
    with ctx.profile.stage("embed") as st:
        stages.embed_chunks(nodes, ctx.embedder)
        st.items(items_in=len(nodes), items_out=len(nodes))
        st.note(device=ctx.embedder.device)
    return nodes


@task(cache_policy=NO_CACHE)
def index_task(ctx: RunContext, nodes: list[Any], safe_docs: list[Document]) -> dict[str, Any]:
    with ctx.profile.stage("index") as st:
        info = stages.build_index(ctx.settings.work_dir, nodes, safe_docs, ctx.embedder, ctx.settings)
        st.items(items_in=len(nodes), items_out=info.n_chunks)
        st.note(build_id=info.build_id)
    return {"build_id": info.build_id, "path": str(info.path), "chunks": info.n_chunks}


@task(cache_policy=NO_CACHE)
def report_task(ctx: RunContext, loaded: stages.Loaded) -> tuple[Path, Path]:
    with ctx.profile.stage("report") as st:
        paths = stages.report_run(
            ctx.run_dir, ctx.profile.run_id, ctx.settings.work_dir / "documents.parquet", loaded.quarantined
        )
        st.items(items_in=len(loaded.documents), items_out=2)
    return paths


@flow(name="vetted-ingest", log_prints=True)
def ingest_flow(config: str | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """load -> score -> tier -> chunk -> embed -> index -> report, every stage profiled."""
    settings = load_settings(Path(config) if config else None, overrides)
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    run_id, run_dir = new_run_dir(settings.work_dir)
    ctx = RunContext(settings, RunProfile(run_id), run_dir, embedder_for(settings))

    loaded = load_task(ctx)
    scores = score_task(ctx, loaded)
    tiered = tier_task(ctx, loaded, scores)
    safe_docs = [d for d in loaded.documents if tiered.decisions[d.doc_id].tier is Tier.SAFE]
    nodes = embed_task(ctx, chunk_task(ctx, safe_docs))
    index = index_task(ctx, nodes, safe_docs)
    report_json, report_html = report_task(ctx, loaded)
    profile_path = ctx.profile.write(run_dir / PROFILE_FILE)
    write_io_report(profile_path, ctx.profile.to_dict())  # charts for people; the JSON stays the record
    summary = run_summary(ctx, loaded, tiered, index, report_html, profile_path)
    publish_artifacts(summary, ctx.profile)
    return summary


def run_summary(
    ctx: RunContext,
    loaded: stages.Loaded,
    tiered: stages.Tiered,
    index: dict[str, Any],
    report_html: Path,
    profile_path: Path,
) -> dict[str, Any]:
    from pipelines.fsio import atomic_write_json

    summary = {
        "run_id": ctx.profile.run_id,
        "inputs": loaded.units,
        "documents": len(loaded.documents),
        "quarantined": len(loaded.quarantined),
        "accounted": loaded.accounted,
        "tiers": tiered.counts,
        "index": index,
        "steward_report": str(report_html),
        "io_profile": str(profile_path),
    }
    atomic_write_json(ctx.run_dir / "summary.json", summary)
    logger = get_run_logger()
    logger.info(
        "inputs %d = %d documents + %d quarantined (%s)",
        loaded.units,
        len(loaded.documents),
        len(loaded.quarantined),
        "accounted" if loaded.accounted else "MISMATCH",
    )
    if not loaded.accounted:
        raise RuntimeError(f"input accounting failed: {summary}")
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
