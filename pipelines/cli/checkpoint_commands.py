"""`vetted checkpoint plan`: how often a training job should checkpoint, and what it costs (io_plan's model).

    vetted checkpoint plan --nodes 1 --gpus-per-node 8 --model-params 8B --run-hours 4 --storage-GBps 2
    vetted checkpoint plan --nodes 2048 --gpus-per-node 8 --model-params 405B --run-hours 1300 \\
        --storage-GBps 1000 --async
"""

from __future__ import annotations

import argparse
import dataclasses
import json


def parameter_count(text: str) -> float:
    from pipelines.cli.io_commands import _number

    return _number(text)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "checkpoint", help="checkpoint interval and cost for a training job",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    cmds = parser.add_subparsers(dest="checkpoint_command", required=True)
    p = cmds.add_parser(
        "plan", help="checkpoint size, save time, expected failures, interval, stall share, work lost",
        description="Young/Daly interval from the job's size, its storage and node MTBF (README 'Sizing "
                    "storage').",
    )  # fmt: skip
    p.add_argument("--nodes", type=int, required=True, help="nodes in the job")
    p.add_argument("--gpus-per-node", type=int, required=True, help="GPUs per node")
    p.add_argument(
        "--model-params", type=parameter_count, required=True, help="parameters, e.g. 8B, 70B or 7e10"
    )
    p.add_argument("--run-hours", type=float, required=True, help="length of the training run")
    p.add_argument("--storage-GBps", type=float, required=True, help="aggregate storage bandwidth, GB/s")
    p.add_argument("--async", dest="async_save", action="store_true",
                   help="asynchronous saves: training stalls for the snapshot only, storage persists after")
    p.add_argument("--stall-target", type=float, default=0.05, help="stall share allowed (default 0.05)")
    p.add_argument("--mtbf-node-hours", type=float, default=6000.0,
                   help="mean hours between failures of one node (default 6000, from Llama 3's 54-day run)")
    p.add_argument("--checkpoint-bytes-per-param", type=float,
                   help="weights + optimizer state per parameter (default: MLPerf Storage's size for Llama 3 "
                        "8B/70B/405B, else 14)")
    p.add_argument("--snapshot-GBps-per-node", type=float, default=10.0,
                   help="device to host-memory copy rate of one node, for --async (default 10)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=cmd_plan)


def cmd_plan(args: argparse.Namespace) -> int:
    from pipelines.observability.io_plan import CheckpointTarget, checkpoint_plan, format_checkpoint_plan

    try:
        target = CheckpointTarget(
            nodes=args.nodes, gpus_per_node=args.gpus_per_node, model_params=args.model_params,
            run_hours=args.run_hours, storage_GBps=args.storage_GBps, stall_target=args.stall_target,
            mtbf_node_hours=args.mtbf_node_hours, checkpoint_bytes_per_param=args.checkpoint_bytes_per_param,
            async_save=args.async_save, snapshot_GBps_per_node=args.snapshot_GBps_per_node,
        )  # fmt: skip
    except ValueError as exc:
        raise SystemExit(f"vetted checkpoint plan: {exc}") from None
    result = checkpoint_plan(target)
    if args.json:
        shown = {"target": dataclasses.asdict(target), "plan": dataclasses.asdict(result)}
        print(json.dumps(shown, indent=2))
    else:
        print(format_checkpoint_plan(target, result))
    return 0
