"""`vetted io ...`: the storage I/O observatory's commands (registered by pipelines.cli.main).

vetted io report RUN               runs/RUN/io_report.html (RUN: run id, run folder, profile or "latest")
vetted io probe [--queries N]      index load (read vs mmap) and serving queries, cold and warm cache
vetted io plan --profile RUN ...   bandwidth, capacity and checkpoint interval for a target scale
vetted io scale --profile RUN ...  ingestion wall time and GPU-hours at a target scale on 1, 8, 64 GPUs
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict


def cmd_report(args: argparse.Namespace) -> int:
    from pipelines.cli.main import settings_from_args
    from pipelines.observability.io_report import write_io_report
    from pipelines.observability.profiler import find_profile, load_profile

    path = find_profile(args.run, settings_from_args(args).work_dir)
    print(write_io_report(path, load_profile(path)))
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from pipelines.cli.main import settings_from_args
    from pipelines.core.index_files import current_build
    from pipelines.observability.io_report import write_io_report
    from pipelines.observability.probe import probe_index, probe_retriever
    from pipelines.observability.profiler import PROFILE_FILE, RunProfile, new_run_dir
    from serving.retriever import SafeRetriever  # the command line composes the layers; the probe cannot

    settings = settings_from_args(args)
    build = current_build(settings.work_dir)
    if build is None:
        raise SystemExit(f"no index under {settings.work_dir / 'index'}: run `vetted ingest` first")
    run_id, run_dir = new_run_dir(settings.work_dir)
    profile = RunProfile(run_id)
    probe_index(profile, build, queries=args.queries)
    if not args.index_only:
        top_k, min_similarity = settings.retrieval.top_k, settings.retrieval.min_similarity
        probe_retriever(
            profile,
            settings,
            lambda embedder: SafeRetriever(
                settings.work_dir, embedder, top_k=top_k, min_similarity=min_similarity
            ),
        )
    path = profile.write(run_dir / PROFILE_FILE)
    for row in profile.rows():
        print(
            f"{row['stage']:<24} {row['wall_s']:>8.3f} s  read {row['rchar']:>12,} B  "
            f"device {row['read_bytes']:>12,} B  faults {row['major_faults']:>7,}"
        )
    notes = {str(s.extra["eviction_note"]) for s in profile.stages if "eviction_note" in s.extra}
    for note in sorted(notes):
        print(f"cold cache not fully cold: {note}")
    print(f"profile {path}\nreport {write_io_report(path, profile.to_dict())}")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from pipelines.cli.main import settings_from_args
    from pipelines.observability.io_plan import Target, format_plan, plan
    from pipelines.observability.profiler import find_profile, load_profile

    profile = load_profile(find_profile(args.profile, settings_from_args(args).work_dir))
    try:
        target = Target(
            documents=int(args.documents),
            nodes=args.nodes,
            gpus_per_node=args.gpus_per_node,
            model_params=args.model_params,
            run_hours=args.run_hours,
            storage_GBps=args.storage_GBps,
            stall_target=args.stall_target,
            mtbf_node_hours=args.mtbf_node_hours,
            checkpoint_bytes_per_param=args.checkpoint_bytes_per_param,
            worker_speedup=args.worker_speedup,
        )
        result = plan(profile, target, documents_measured=args.profile_documents)
    except ValueError as exc:
        raise SystemExit(f"vetted io plan: {exc}") from exc
    if args.json:
        print(json.dumps(asdict(result), indent=2))
    else:
        print(format_plan(result))
    return 0


def cmd_scale(args: argparse.Namespace) -> int:
    from pipelines.cli.main import settings_from_args
    from pipelines.observability.ingest_plan import (
        ScaleTarget,
        as_dict,
        costs_from_profile,
        format_scale,
        plan_scale,
    )
    from pipelines.observability.profiler import find_profile, load_profile

    try:
        profile = load_profile(find_profile(args.profile, settings_from_args(args).work_dir))
        gpus = [int(g) for g in args.gpus.split(",") if g.strip()]
        target = ScaleTarget(
            documents=args.documents,
            gpus=gpus,
            cores_per_gpu=args.cores_per_gpu,
            gpu_embeddings_per_s=args.gpu_embeddings_per_s,
            worker_speedup=args.worker_speedup,
        )
        costs = costs_from_profile(profile)
        plans = plan_scale(costs, target)
    except (ValueError, FileNotFoundError) as exc:  # a bad count, profile, or a profile that is not JSON
        raise SystemExit(f"vetted io scale: {exc}") from exc
    print(json.dumps(as_dict(costs, plans), indent=2) if args.json else format_scale(costs, target, plans))
    return 0


def _number(text: str) -> float:
    """Accepts 7e10, 70_000_000_000 and 70B / 7.5M / 120k for parameter and document counts."""
    scale = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}.get(text[-1:].lower())
    return float(text[:-1]) * scale if scale else float(text.replace("_", ""))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this area's subcommands to the `vetted` parser."""
    # the plan's own defaults, not a copy of them (the module imports nothing heavy)
    from pipelines.observability.ingest_plan import DEFAULT_CORES_PER_GPU, DEFAULT_GPU_EMBEDDINGS_PER_S

    io = sub.add_parser(
        "io",
        help="storage I/O: reports, probes and sizing",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    io_sub = io.add_subparsers(dest="io_command", required=True)

    p = io_sub.add_parser("report", help="render a run's I/O profile as an HTML page of charts")
    p.add_argument("run", help='run id under WORK_DIR/runs, a run folder, an io_profile.json, or "latest"')
    p.set_defaults(func=cmd_report)

    p = io_sub.add_parser("probe", help="index load read vs mmap and serving queries, cold and warm cache")
    p.add_argument("--queries", type=int, default=64, help="FAISS searches per stage (default 64)")
    p.add_argument(
        "--index-only", action="store_true", help="skip the serving path (no embedding model to load)"
    )
    p.set_defaults(func=cmd_probe)

    p = io_sub.add_parser(
        "plan",
        help="size storage for a target scale from a measured profile",
        description="Scale a measured I/O profile to a target; the model is in README 'Sizing storage'.",
    )
    p.add_argument("--profile", required=True, help="run id, run folder or io_profile.json measured here")
    p.add_argument("--documents", type=_number, required=True, help="documents at the target scale")
    p.add_argument("--nodes", type=int, required=True, help="nodes in the job")
    p.add_argument("--gpus-per-node", type=int, required=True, help="one worker per GPU")
    p.add_argument("--model-params", type=_number, required=True, help="parameters, e.g. 70B or 7e10")
    p.add_argument("--run-hours", type=float, required=True, help="length of the training run")
    p.add_argument("--storage-GBps", type=float, required=True, help="aggregate storage bandwidth, GB/s")
    p.add_argument(
        "--stall-target", type=float, default=0.05, help="checkpoint stall share allowed (default 0.05)"
    )
    p.add_argument(
        "--mtbf-node-hours",
        type=float,
        default=6000.0,
        help="mean hours between failures of one node (default 6000, from Llama 3's 54-day run)",
    )
    p.add_argument(
        "--checkpoint-bytes-per-param",
        type=float,
        default=14.0,
        help="weights + optimizer state per parameter (default 14: bf16 + fp32 master + Adam m, v)",
    )
    p.add_argument(
        "--worker-speedup", type=float, default=1.0, help="one target worker vs this machine (default 1)"
    )
    p.add_argument(
        "--profile-documents",
        type=int,
        help="documents the profile measured (default: the first stage's items in)",
    )
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=cmd_plan)

    p = io_sub.add_parser(
        "scale",
        help="ingestion wall time and GPU-hours at a target scale, from a measured run",
        description="The model is in pipelines/observability/ingest_plan.py and README 'Ingestion at scale'.",
    )
    p.add_argument("--profile", required=True, help="run id, run folder or io_profile.json of a full run")
    p.add_argument("--documents", type=_number, required=True, help="documents at the target scale, e.g. 10M")
    p.add_argument("--gpus", default="1,8,64", help="GPU counts to plan for, comma-separated (0 = CPU only)")
    p.add_argument(
        "--cores-per-gpu", type=int, default=DEFAULT_CORES_PER_GPU, help="CPU cores that come with each GPU"
    )
    p.add_argument(
        "--gpu-embeddings-per-s",
        type=float,
        default=DEFAULT_GPU_EMBEDDINGS_PER_S,
        help="MiniLM embeddings a second on one GPU (default: issue 15's goal, not measured here)",
    )
    p.add_argument(
        "--worker-speedup", type=float, default=1.0, help="one target core vs one core here (default 1)"
    )
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=cmd_scale)
