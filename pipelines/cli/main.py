"""The `vetted` command line. Every subcommand has --help; flags override vetted.toml.

vetted corpus demo|test [--out DIR]      build a corpus from Debian packages
vetted ingest [--corpus DIR]             run the ingestion flow (curate, index, report, I/O profile);
                                         --runner ray: its heavy stages on Ray (README "On Ray")
vetted serve [--port P] [--model M]      start vLLM (base, tuned or a folder) and the chat API on loopback
vetted demo                              all of the above, then three questions
vetted deploy                            run the ingestion flow on the [schedule] (needs a Prefect server)
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import threading
from pathlib import Path
from typing import Any

from pipelines.core.runtime_env import configure_process_environment
from pipelines.core.settings import Settings, load_settings

# Each area owns its subcommands in its own module: `register(sub)` adds them to the parser, and their
# handlers take the parsed args (use `settings_from_args(args)` for vetted.toml plus flags).
SUBCOMMAND_MODULES = (
    "pipelines.cli.curate", "pipelines.cli.io_commands", "pipelines.cli.eval_commands",
    "pipelines.cli.finetune_commands", "pipelines.cli.checkpoint_commands", "pipelines.cli.index_commands",
    "pipelines.cli.accounts_commands", "pipelines.cli.deploy",
)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """vetted.toml with the flags on top."""
    flags: dict[str, Any] = {}
    if getattr(args, "work_dir", None):
        flags["paths.work_dir"] = str(Path(args.work_dir).resolve())
    if getattr(args, "corpus", None):
        flags["paths.corpus_dir"] = str(Path(args.corpus).resolve())
    if getattr(args, "runner", None):
        flags["ray.runner"] = args.runner
    if getattr(args, "port", None):
        flags["serving.port"] = args.port
    if getattr(args, "model", None) and args.command == "serve":
        flags["engine.model"] = args.model
    config = args.config if args.config and args.config.exists() else None
    if args.config and config is None and args.config != Path("vetted.toml"):
        raise SystemExit(f"settings file {args.config} not found")
    return load_settings(config, flags)


def cmd_corpus(args: argparse.Namespace) -> int:
    from pipelines.fixtures.build import build_corpus

    settings = settings_from_args(args)
    out = Path(args.out) if args.out else settings.work_dir / "corpus" / args.size
    print(json.dumps(build_corpus(out, args.size, seed=args.seed).to_dict(), indent=2))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from pipelines.cli.demo import resolved_paths
    from pipelines.flows import ingest_flow_for

    settings = settings_from_args(args)
    config = args.config if args.config and args.config.exists() else None
    dotted = resolved_paths(settings) | {"ray.runner": settings.ray.runner}
    summary = ingest_flow_for(settings)(str(config) if config else None, dotted)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from pipelines.core.model_cache import ModelCacheError
    from serving.runtime import StopRequested, running_stack, serving_app, stop_on_signals
    from serving.telemetry import configure_json_logging

    settings = settings_from_args(args)
    configure_json_logging()  # one JSON object per line, with request ids; never a token
    try:  # SIGTERM or Ctrl-C, during startup too: the app stops, then the engine's whole process group
        with (
            stop_on_signals(),
            running_stack(settings) as (engine, service),
            serving_app(settings, service) as url,
        ):
            print(f"engine {engine.base_url}; chat API {url}/v1/chat (Ctrl-C or SIGTERM to stop)", flush=True)
            threading.Event().wait()
    except StopRequested as stop:
        print(f"{stop}: chat API and engine stopped", flush=True)
    except ModelCacheError as exc:  # `--model` names no servable model: raised before vLLM is started
        raise SystemExit(f"vetted serve: {exc}") from None
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.cli.demo import run_demo

    settings = settings_from_args(args)
    return run_demo(settings, args.config if args.config and args.config.exists() else None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vetted", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=Path("vetted.toml"),
        help="settings file (default ./vetted.toml; embedded defaults when absent)",
    )
    parser.add_argument("--work-dir", help="work folder (overrides paths.work_dir)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("corpus", help="build a corpus from Debian packages")
    p.add_argument("size", choices=["demo", "test"])
    p.add_argument("--out", help="corpus folder (default WORK_DIR/corpus/SIZE)")
    p.add_argument("--seed", type=int, default=7, help="sampling and fake-data seed")
    p.set_defaults(func=cmd_corpus)

    p = sub.add_parser(
        "ingest", help="curate a corpus, index its safe tier, write the report and I/O profile"
    )
    p.add_argument("--corpus", help="corpus folder (overrides paths.corpus_dir)")
    p.add_argument("--runner", choices=["local", "ray"],
                   help="local: this process; ray: score and embed on Ray (overrides ray.runner; "
                   "README 'On Ray')")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("serve", help="start the vLLM engine and the chat API on loopback")
    p.add_argument("--port", type=int, help="chat API port (overrides serving.port)")
    p.add_argument("--model", help="base, tuned (WORK_DIR/models/tuned, from `vetted finetune`) or a model "
                   "folder (overrides engine.model)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="corpus + ingest + serve, then ask three questions")
    p.add_argument("--port", type=int, help="chat API port (overrides serving.port)")
    p.set_defaults(func=cmd_demo)

    for module in SUBCOMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    configure_process_environment()  # before any subcommand imports Prefect or transformers
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
