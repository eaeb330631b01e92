"""Prefect flows. The ingestion flow is the ingestion run (pipelines.ingest) with each of its stages wrapped
in a Prefect task, so the run shows up stage by stage in Prefect's UI and logs; the order lives in the run,
not here. Stages pass documents in memory, so the task declares NO_CACHE: hashing thousands of documents for
a cache key would cost more than the stage."""

from __future__ import annotations

import json
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


@flow(name="vetted-finetune", log_prints=True)
def finetune_flow(
    config: str | None = None,
    dotted: dict[str, Any] | None = None,
    finetune_config: str | None = None,
    steps: int | None = None,
    resume: bool = False,
    eval_limit: int | None = 40,
    eval_max_new_tokens: int = 160,
) -> dict[str, Any]:
    """data -> train -> merge -> evaluate (base vs tuned on the held-out documents), every stage profiled.

    Args:
        config: the settings file (None: embedded defaults); dotted: settings on top of it.
        finetune_config: the recipe (finetune.toml; None: built-in defaults, with their CPU table on a CPU).
        steps: optimizer steps instead of the recipe's; resume: continue from the newest good checkpoint
            (the examples already built are kept: a resumed run trains on the data it started with).
        eval_limit: held-out examples each model answers (None: all of them).
    """
    from eval.finetune_eval import compare, evaluate_model, heldout
    from pipelines.core.embedding import Embedder
    from pipelines.core.model_cache import TUNED_MANIFEST, ensure_base_model
    from pipelines.observability.fsio import atomic_write_json
    from pipelines.observability.profiler import new_run_id
    from pipelines.training.data import build_examples, read_training_data, token_counts, write_training_data
    from pipelines.training.lora import run as train_run
    from pipelines.training.lora import run_config

    settings = load_settings(Path(config) if config else None, dotted)
    layout = settings.layout
    logger = get_run_logger()
    profile = RunProfile(f"finetune-{new_run_id()}")
    base_dir = ensure_base_model(layout.models_dir)
    recipe_file = Path(finetune_config) if finetune_config else None
    recipe = run_config(layout, recipe_file, steps=steps, resume=resume)
    folder = layout.run(profile.run_id)

    def data() -> None:
        if resume and layout.training_examples.exists():
            return
        with profile.stage("finetune_data") as st:
            examples = build_examples(layout, settings.resolve(settings.paths.corpus_dir))
            write_training_data(layout, examples, tokens=token_counts(examples, base_dir), recorder=st.io)
            st.items(items_out=len(examples))

    trained: dict[str, Any] = {}

    def train() -> None:  # train, save the adapter, merge: lora.run's own stages in the same profile
        trained.update(train_run(layout, base_dir, recipe, resume_run=resume, profile=profile))

    evaluation: dict[str, Any] = {}

    def evaluate() -> None:
        examples = heldout(read_training_data(layout).examples, eval_limit)
        with profile.stage("finetune_evaluate") as st:
            embedder = Embedder(device=settings.embedding.device)
            limits = {"max_new_tokens": eval_max_new_tokens}
            base = evaluate_model(base_dir, examples, embedder, **limits)
            tuned = evaluate_model(layout.tuned_model_dir, examples, embedder, **limits)
            evaluation.update(compare(base, tuned))
            st.items(items_in=2 * len(examples))
        atomic_write_json(folder.path / "finetune_eval.json", evaluation | {"base": base, "tuned": tuned})

    for name, body in (("finetune_data", data), ("finetune_train", train), ("finetune_evaluate", evaluate)):
        _as_task(name, body)
    manifest_path = layout.tuned_model_dir / TUNED_MANIFEST
    figures = {k: evaluation[k] for k in ("base", "tuned", "met")}
    atomic_write_json(manifest_path, json.loads(manifest_path.read_text()) | {"eval": figures})
    profile.write(folder.io_profile)
    summary = trained | {"eval": evaluation}
    atomic_write_json(folder.training_summary, summary)
    logger.info("fine-tuned %d steps; held-out cited accuracy base %s -> tuned %s; goals met %s",
                trained["steps"], evaluation["base"]["cited_accuracy"], evaluation["tuned"]["cited_accuracy"],
                evaluation["met"])
    return summary
