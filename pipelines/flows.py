"""Prefect flows. The ingestion flow is the ingestion run (pipelines.ingest) with each of its stages wrapped
in a Prefect task, so the run shows up stage by stage in Prefect's UI and logs; the order lives in the run,
not here. Stages pass documents in memory, so the task declares NO_CACHE: hashing thousands of documents for
a cache key would cost more than the stage.

A run guards itself (pipelines.run_guards, settings [schedule]) so that it can run unattended: a stage is
retried only for transient errors, one run at a time holds the work folder (a second one is skipped and ends
in a Completed state named "Skipped"), and a failed run POSTs to the failure webhook. `vetted deploy` serves
`scheduled_ingest_flow(settings)`: the same flow with the run's time limit.

`[ray] runner = "ray"` (`vetted ingest --runner ray`): `ingest_flow_for(settings)` gives the flow
prefect-ray's RayTaskRunner, which connects to the cluster (or starts a local one) for the flow run, and the
run computes its score and embed stages on it (pipelines.runners.ray_runner). The stage tasks are still
called, not submitted: a stage reads and writes the run's in-memory state, which a Ray worker would only
get a copy of, so the stages run in the flow's process and farm their work out to Ray themselves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import Flow, flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, State

from pipelines import ingest
from pipelines.core.settings import ScheduleSettings, Settings, load_settings
from pipelines.observability.fsio import atomic_write_json
from pipelines.observability.profiler import RunProfile
from pipelines.run_guards import failure_payload, ingest_lock, lock_path, post_failure, retry_transient
from pipelines.runners import runner_for

SKIPPED = "Skipped"  # the state name of a run that found another ingestion holding the work folder


# A retried stage runs its body again on the run's in-memory state as the failed try left it (the run
# publishes nothing before its index swap: pipelines.ingest); the stage profiler records each try.
@task(cache_policy=NO_CACHE, retry_condition_fn=retry_transient)
def stage_task(body: ingest.StageBody) -> None:
    body()


def stage_runner(schedule: ScheduleSettings) -> ingest.StageRunner:
    """Each stage as a task named after it, with the retries the settings allow."""

    def run_stage(name: str, body: ingest.StageBody) -> None:
        stage_task.with_options(
            name=name, retries=schedule.retries, retry_delay_seconds=schedule.retry_delay_s
        )(body)

    return run_stage


def _as_task(name: str, body: ingest.StageBody) -> None:
    stage_task.with_options(name=name)(body)


def _settings_of(parameters: dict[str, Any]) -> Settings:
    config = parameters.get("config")
    return load_settings(Path(config) if config else None, parameters.get("dotted"))


def notify_failure(flow: Flow[..., Any], flow_run: Any, state: State[Any]) -> None:
    """on_failure / on_crashed hook: tell the webhook in [schedule] which run failed and why; never raises."""
    logger = get_run_logger()
    try:
        settings = _settings_of(flow_run.parameters)
    except Exception as exc:  # the settings themselves may be why the run failed
        logger.warning("failure webhook skipped: settings unreadable (%s)", exc)
        return
    schedule = settings.schedule
    if not schedule.failure_webhook_url:
        return
    if post_failure(schedule.failure_webhook_url, failure_payload(flow_run, state, settings.work_dir),
                    timeout_s=schedule.webhook_timeout_s):  # fmt: skip
        logger.info("failure reported to %s", schedule.failure_webhook_url)
    else:
        logger.warning("failure webhook %s not reached; see the log above", schedule.failure_webhook_url)


# Crashed (the run's process killed, e.g. out of memory) is not Failed in Prefect: both call the webhook.
@flow(name="vetted-ingest", log_prints=True, on_failure=[notify_failure], on_crashed=[notify_failure])
def ingest_flow(config: str | None = None, dotted: dict[str, Any] | None = None) -> dict[str, Any]:
    """load -> score -> tier -> redact -> chunk -> embed -> index -> report, every stage profiled.

    Args:
        config: the settings file (None: embedded defaults).
        dotted: settings on top of it, as flags give them ({"paths.corpus_dir": "..."}).
    """
    settings = load_settings(Path(config) if config else None, dotted)
    corpus = settings.resolve(settings.paths.corpus_dir)
    logger = get_run_logger()
    with ingest_lock(settings.layout) as holder:
        if holder is not None:
            message = f"skipped: another ingestion ({holder}) holds {lock_path(settings.layout)}"
            logger.warning(message)
            # A returned state becomes the run's final state ("Skipped" in the UI); callers get its data.
            skipped: Any = Completed(name=SKIPPED, message=message, data={"skipped": True, "reason": message})
            return skipped
        done = ingest.run(
            settings, corpus, settings.layout, run_stage=stage_runner(settings.schedule),
            runner=runner_for(settings),
        )  # fmt: skip
    summary = done.summary
    logger.info(
        "inputs %d = %d documents + %d quarantined (accounted)",
        summary["inputs"],
        summary["documents"],
        summary["quarantined"],
    )
    publish_artifacts(summary, done.profile)
    return summary


def ingest_flow_for(settings: Settings) -> Flow[..., Any]:
    """The ingestion flow on the task runner `[ray] runner` asks for (Prefect's default for local)."""
    if settings.ray.runner != "ray":
        return ingest_flow
    from pipelines.runners.ray_runner import task_runner

    return ingest_flow.with_options(task_runner=task_runner(settings.ray))


def scheduled_ingest_flow(settings: Settings) -> Flow[..., Any]:
    """The ingestion flow with the run's time limit from [schedule] (what `vetted deploy` serves)."""
    return ingest_flow_for(settings).with_options(timeout_seconds=settings.schedule.timeout_s)


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
    nproc: int = 1,
) -> dict[str, Any]:
    """data -> train -> merge -> evaluate (base vs tuned on the held-out documents), every stage profiled.

    Args:
        config: the settings file (None: embedded defaults); dotted: settings on top of it.
        finetune_config: the recipe (finetune.toml; None: built-in defaults, with their CPU table on a CPU).
        steps: optimizer steps instead of the recipe's; resume: continue from the newest good checkpoint
            (the examples already built are kept: a resumed run trains on the data it started with).
        eval_limit: held-out examples each model answers (None: all of them).
        nproc: data-parallel training processes, started by torchrun (pipelines.training.launch.run_on;
            1: in this process, no torchrun), as `vetted finetune train --nproc`.
    """
    from eval.finetune_eval import compare, evaluate_model, heldout
    from pipelines.core.embedding import Embedder
    from pipelines.core.model_cache import TUNED_MANIFEST, ensure_base_model
    from pipelines.observability.profiler import new_run_id
    from pipelines.training.data import build_examples, read_training_data, token_counts, write_training_data
    from pipelines.training.launch import run_on
    from pipelines.training.lora import run_config

    if nproc < 1:  # before the base model is converted: a bad value costs nothing
        raise ValueError(f"--nproc must be at least 1, got {nproc}")
    settings = load_settings(Path(config) if config else None, dotted)
    layout = settings.layout
    logger = get_run_logger()
    profile = RunProfile(f"finetune-{new_run_id()}")
    base_dir = ensure_base_model(layout.models_dir)
    recipe_file = Path(finetune_config) if finetune_config else None
    recipe = run_config(layout, recipe_file, steps=steps, resume=resume, world_size=nproc)
    folder = layout.run(profile.run_id)

    def data() -> None:
        if resume and layout.training_examples.exists():
            return
        with profile.stage("finetune_data") as st:
            examples = build_examples(layout, settings.resolve(settings.paths.corpus_dir))
            write_training_data(layout, examples, tokens=token_counts(examples, base_dir), recorder=st.io)
            st.items(items_out=len(examples))

    trained: dict[str, Any] = {}

    def train() -> None:  # train, save the adapter, merge: lora.run's own stages, in the same run folder
        trained.update(run_on(nproc, layout, base_dir, recipe, resume=resume, profile=profile))

    evaluation: dict[str, Any] = {}

    def evaluate() -> None:
        examples = heldout(read_training_data(layout).examples, eval_limit)
        with profile.stage("finetune_evaluate") as st:
            embedder = Embedder(device=settings.embedding.device)
            most = eval_max_new_tokens
            cache = layout.cache_dir / "finetune_base_answers"  # the base weights never change
            base = evaluate_model(base_dir, examples, embedder, answers_cache=cache, max_new_tokens=most)
            tuned = evaluate_model(layout.tuned_model_dir, examples, embedder, max_new_tokens=most)
            evaluation.update(compare(base, tuned))
            st.items(items_in=2 * len(examples))
        atomic_write_json(folder.path / "finetune_eval.json", evaluation | {"base": base, "tuned": tuned})

    for name, body in (("finetune_data", data), ("finetune_train", train), ("finetune_evaluate", evaluate)):
        _as_task(name, body)
    manifest_path = layout.tuned_model_dir / TUNED_MANIFEST
    figures = {k: evaluation[k] for k in ("base", "tuned", "met")}
    atomic_write_json(manifest_path, json.loads(manifest_path.read_text()) | {"eval": figures})
    write_finetune_profile(profile, folder.io_profile)
    summary = trained | {"eval": evaluation}
    atomic_write_json(folder.training_summary, summary)
    logger.info("fine-tuned %d steps on %d process(es); held-out cited accuracy base %s -> tuned %s; "
                "goals met %s", trained["steps"], trained["world_size"], evaluation["base"]["cited_accuracy"],
                evaluation["tuned"]["cited_accuracy"], evaluation["met"])
    return summary


def write_finetune_profile(profile: RunProfile, path: Path) -> None:
    """The flow's profile, with the stages rank 0 of a torchrun training wrote to the same file (setup, train,
    save, merge), in the order they started: the workers' profile lived in another process."""
    data: dict[str, Any] = profile.to_dict()
    if path.exists():
        mine = {s.stage for s in profile.stages}  # one process trained in this profile: nothing to add
        written = json.loads(path.read_text(encoding="utf-8"))
        theirs = [s for s in written["stages"] if s["stage"] not in mine]
        stages = sorted([*data["stages"], *theirs], key=lambda s: s["started_at"])
        data |= {"stages": stages, "total_wall_s": sum(s["wall_s"] for s in stages)}
        data |= {k: written[k] for k in ("checkpoints", "checkpoint_summary", "checkpoint_io")
                 if k in written and not profile.checkpoints}
    atomic_write_json(path, data)
