"""`vetted finetune train --nproc N`: N data-parallel processes of the LoRA recipe, started by torchrun.

    vetted finetune train --nproc 2
    # = python -m torch.distributed.run --standalone --nproc-per-node 2 -m pipelines.training.launch \
    #       WORK_DIR BASE_MODEL_DIR --config '{...}' --run-id finetune-... [--resume]

The parent (the CLI) resolves everything once: the settings, the config (finetune.toml, --steps, or a resumed
checkpoint's own, refused there for another number of processes), the training data and the base model, which
would otherwise be converted by N processes at once. Each worker gets the result on its command line, every
one the same run id, and runs `pipelines.training.lora.run`, which joins the process group from torchrun's
environment. On a CPU every worker gets OMP_NUM_THREADS=1: two OpenMP threads per process on a shared box spin
against the others, 10x slower (docs/benchmarks.md).

Why a child `python -m torch.distributed.run` rather than torchtune's way: `tune run --nproc_per_node N`
(torchtune/_cli/run.py) hands its parsed torchrun arguments to `torch.distributed.run.run(args)` inside the
CLI's own process, and runs a single-device recipe in that process with runpy. We keep the second half (N=1
is today's in-process run, no process group) but start torchrun as a child: the workers' environment (the
thread pin) is set on the child alone instead of on the caller's os.environ, which may be a test runner's or
a Prefect worker's, and the parent only waits for torchrun's exit status. Torchtune's `@record` is kept on
the worker's entry point, so torchrun reports which rank failed and its traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch.distributed.elastic.multiprocessing.errors import record

from curation.layout import WorkLayout
from pipelines.core.runtime_env import configure_process_environment
from pipelines.observability.profiler import RunProfile, new_run_id
from pipelines.training.config import FinetuneConfig
from pipelines.training.distributed import world_from
from pipelines.training.lora import run

WORKER = "pipelines.training.launch"


class LaunchError(RuntimeError):
    """The processes could not be started, or one of them failed; the message says which and why."""


def command(nproc: int, work_dir: Path, base_model_dir: Path, config: FinetuneConfig, *, run_id: str,
            resume: bool) -> list[str]:
    """torchrun on one node (--standalone: a local rendezvous on a free port), `nproc` workers of WORKER."""
    worker = [str(work_dir), str(base_model_dir), "--config", json.dumps(config.to_dict()),
              "--run-id", run_id]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "--module", WORKER, *worker, *(["--resume"] if resume else [])]


def launch(nproc: int, work_dir: Path, base_model_dir: Path, config: FinetuneConfig, *, run_id: str,
           resume: bool = False) -> int:
    """Run the recipe on `nproc` processes and wait; torchrun's exit status (0: every rank finished)."""
    cuda = torch.cuda.is_available()
    if cuda and nproc > torch.cuda.device_count():
        raise LaunchError(f"--nproc {nproc}: one GPU a process, and this machine has "
                         f"{torch.cuda.device_count()}")
    env = dict(os.environ) | ({} if cuda else {"OMP_NUM_THREADS": "1"})
    cmd = command(nproc, work_dir, base_model_dir, config, run_id=run_id, resume=resume)
    return subprocess.run(cmd, env=env, check=False).returncode


def run_on(nproc: int, layout: WorkLayout, base_model_dir: Path, config: FinetuneConfig, *,
           resume: bool = False, profile: RunProfile | None = None) -> dict[str, Any]:
    """The training summary of a run on `nproc` processes: one runs `lora.run` right here (no process group,
    no torchrun); more are launched, and rank 0's summary is read back from the run folder.

    `profile`: the stage profiler of a larger run (the finetune flow's). One process trains inside it; N
    processes write rank 0's stages under its run id, and it times the launch as stage "finetune_launch"
    (wall time, and the workers' I/O: the kernel folds a reaped child's counters into its parent's)."""
    if nproc == 1:
        return run(layout, base_model_dir, config, resume_run=resume, profile=profile)
    run_id = profile.run_id if profile else f"finetune-{new_run_id()}"
    with profile.stage("finetune_launch") if profile else nullcontext():
        code = launch(nproc, layout.root, base_model_dir, config, run_id=run_id, resume=resume)
    if code != 0:
        raise LaunchError(f"training on {nproc} processes failed: torchrun exited with {code} (the failing "
                           "rank's traceback is above)")
    summary: dict[str, Any] = json.loads(layout.run(run_id).training_summary.read_text(encoding="utf-8"))
    return summary


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=WORKER, description="one rank of `vetted finetune train --nproc N`")
    p.add_argument("work_dir", type=Path)
    p.add_argument("base_model_dir", type=Path)
    p.add_argument("--config", required=True, help="the resolved FinetuneConfig, as JSON")
    p.add_argument("--run-id", required=True, help="the same on every rank: rank 0 writes runs/<run-id>/")
    p.add_argument("--resume", action="store_true")
    return p


@record
def main(argv: list[str] | None = None) -> int:
    """One worker: the recipe with the parent's resolved inputs, its log lines tagged with its rank."""
    args = _parser().parse_args(argv)
    world = world_from(os.environ)
    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s rank {world.rank}/{world.size} %(name)s %(message)s")
    configure_process_environment()  # as the `vetted` entry point does: offline hub, no analytics
    run(WorkLayout(args.work_dir), args.base_model_dir, FinetuneConfig.from_dict(json.loads(args.config)),
        resume_run=args.resume, run_id=args.run_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
