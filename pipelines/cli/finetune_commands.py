"""`vetted finetune [data|train]`: LoRA fine-tuning on the safe tier (pipelines/training/, finetune.toml).

    vetted finetune [--steps N] [--resume] [--eval-limit N] [--nproc N]
                                                 # the Prefect flow: data, train, merge, evaluate
    vetted finetune data [--seed S]              # examples.jsonl + data_card.json in WORK_DIR/training/
    vetted finetune train [--steps N] [--resume] [--finetune-config finetune.toml] [--nproc N]
                                                 # --nproc: N data-parallel processes through torchrun
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _positive_int(flag: str) -> Callable[[str], int]:
    """An argparse type for `flag`: a whole number >= 1, or exit 2 with a message that names the flag."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} takes a whole number, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{flag} must be at least 1, got {value}")
        return value

    return parse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("finetune", help="LoRA fine-tuning of the base model on the safe tier",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=_positive_int("--steps"), help="optimizer steps (overrides train.steps)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint that verifies")
    p.add_argument("--finetune-config", type=Path, default=Path("finetune.toml"),
                   help="recipe settings (default ./finetune.toml; built-in defaults when absent)")
    p.add_argument("--eval-limit", type=_positive_int("--eval-limit"), default=40,
                   help="held-out examples each model answers in the evaluation (default 40)")
    _add_nproc(p)
    p.add_argument("--prepare", action="store_true",
                   help="no index yet: build the demo corpus and ingest it first (what `make finetune` does)")
    p.set_defaults(func=cmd_flow)
    steps = p.add_subparsers(dest="finetune_command", required=False)
    d = steps.add_parser("data", help="build the RAFT examples and their data card from the safe tier")
    d.add_argument("--seed", type=int, default=0, help="split, distractor positions and refusals (default 0)")
    d.add_argument("--corpus", help="the corpus the work folder was curated from (FAQ pages' HTML; overrides "
                   "paths.corpus_dir)")
    d.set_defaults(func=cmd_data)
    t = steps.add_parser("train", help="train the LoRA adapter, checkpointing as measured; merge at the end")
    t.add_argument("--steps", type=_positive_int("--steps"), help="optimizer steps (overrides train.steps)")
    t.add_argument("--resume", action="store_true", help="continue from the newest checkpoint that verifies")
    t.add_argument("--finetune-config", type=Path, default=Path("finetune.toml"),
                   help="recipe settings (default ./finetune.toml; built-in defaults when absent)")
    _add_nproc(t)
    t.set_defaults(func=cmd_train)


def _add_nproc(parser: argparse.ArgumentParser) -> None:
    """--nproc, the same for the flow and `finetune train`: both train through launch.run_on."""
    parser.add_argument("--nproc", type=_positive_int("--nproc"), default=1,
                        help="data-parallel processes, one per GPU (NCCL) or CPU process (gloo), started by "
                        "torchrun; each takes its slice of every step's examples (default 1: no torchrun)")


def cmd_flow(args: argparse.Namespace) -> int:
    """The whole fine-tune as one Prefect flow (pipelines.flows.finetune_flow)."""
    from pipelines.cli.demo import resolved_paths
    from pipelines.cli.main import settings_from_args
    from pipelines.flows import finetune_flow
    from pipelines.training.data import MissingIndexError
    from pipelines.training.launch import LaunchError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = settings_from_args(args)
    config = args.config if args.config and args.config.exists() else None
    recipe = args.finetune_config if args.finetune_config.exists() else None
    if recipe is None and args.finetune_config != Path("finetune.toml"):
        raise SystemExit(f"fine-tuning config {args.finetune_config} not found")
    if args.prepare:
        _prepare(settings, str(config) if config else None)
    try:
        summary = finetune_flow(
            str(config) if config else None, resolved_paths(settings), str(recipe) if recipe else None,
            steps=args.steps, resume=args.resume, eval_limit=args.eval_limit, nproc=args.nproc,
        )  # fmt: skip
    except (MissingIndexError, ValueError, LaunchError) as exc:
        raise SystemExit(f"vetted finetune: {exc}") from None
    shown = {k: v for k, v in summary.items() if k not in ("checkpoints", "losses")}
    print(json.dumps(shown, indent=2))
    return 0


def _prepare(settings: Any, config: str | None) -> None:
    """The demo corpus, curated and indexed, unless the work folder already has an index to train from."""
    from pipelines.cli.demo import resolved_paths
    from pipelines.core.index_files import current_build
    from pipelines.fixtures.build import build_corpus
    from pipelines.flows import ingest_flow

    if current_build(settings.layout.root) is not None:
        print(f"index found in {settings.layout.index_dir}: training from it", flush=True)
        return
    corpus = settings.resolve(settings.paths.corpus_dir)
    built = build_corpus(corpus, "demo")
    print(f"no index yet: demo corpus {built.total} files in {corpus}; ingesting it", flush=True)
    ingest_flow(config, resolved_paths(settings))


def cmd_data(args: argparse.Namespace) -> int:
    from pipelines.cli.main import settings_from_args
    from pipelines.core.model_cache import ensure_base_model
    from pipelines.observability.profiler import RunProfile, new_run_id
    from pipelines.training.data import MissingIndexError, build_examples, token_counts, write_training_data

    settings = settings_from_args(args)
    layout = settings.layout
    profile = RunProfile(f"finetune-data-{new_run_id()}")
    try:
        with profile.stage("finetune_data") as st:
            examples = build_examples(layout, settings.paths.corpus_dir, seed=args.seed)
            tokens = token_counts(examples, ensure_base_model(layout.models_dir))
            data = write_training_data(layout, examples, tokens=tokens, recorder=st.io)
            st.items(items_out=len(examples))
    except MissingIndexError as exc:
        raise SystemExit(str(exc)) from None
    profile.write(layout.run(profile.run_id).io_profile)
    shown = data.card | {"documents": {k: len(v) for k, v in data.card["documents"].items()}}
    print(json.dumps(shown, indent=2))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from pipelines.cli.main import settings_from_args
    from pipelines.core.model_cache import ensure_base_model
    from pipelines.training.data import MissingIndexError, read_training_data
    from pipelines.training.launch import LaunchError, run_on
    from pipelines.training.lora import run_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = settings_from_args(args)
    layout = settings.layout
    config_path = args.finetune_config if args.finetune_config.exists() else None
    if config_path is None and args.finetune_config != Path("finetune.toml"):
        raise SystemExit(f"fine-tuning config {args.finetune_config} not found")
    try:
        config = run_config(layout, config_path, steps=args.steps, resume=args.resume, world_size=args.nproc)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    try:
        read_training_data(layout)  # before the base model is converted: no data, no point
    except MissingIndexError as exc:
        raise SystemExit(str(exc)) from None
    # converted once, here: N workers converting it at once would race for the same folder
    base = ensure_base_model(layout.models_dir)
    try:
        summary = run_on(args.nproc, layout, base, config, resume=args.resume)
    except LaunchError as exc:
        raise SystemExit(f"vetted finetune train: {exc}") from None
    print(json.dumps({k: v for k, v in summary.items() if k != "checkpoints"}, indent=2))
    return 0
