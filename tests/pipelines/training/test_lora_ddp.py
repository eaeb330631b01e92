"""`vetted finetune train --nproc 2`: two gloo processes on CPU, launched by torchrun, train the adapter that
one process trains over the same global batch (data parallelism's whole point: the same gradient, DDP's mean
over ranks of each rank's mean over its micro-batches); rank 0 alone writes; a checkpoint of two processes
resumes on two, bit for bit, and is refused on one.

Runs the real CLI in child processes (torchrun must own its workers' process tree) on the tiny recipe of
test_lora.py at max_seq_len 64; about 1.5-2 minutes on a loaded 2-core machine."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from curation.layout import WorkLayout
from pipelines.cli.main import main
from pipelines.training.checkpointing import latest_checkpoint, load_checkpoint
from pipelines.training.data import write_training_data
from pipelines.training.distributed import World, world_from
from pipelines.training.state import CHECKPOINT_PATTERN, checkpoint_dir
from tests.pipelines.training.test_lora import tiny_examples

REPO_ROOT = Path(__file__).resolve().parents[3]
STEPS = 3
# 6 training examples; a global batch of 4: 1 x 2 per rank on two ranks, 1 x 4 on one; a save after every step
# but the last (steps 1 and 2), so a resume has a checkpoint that is not the end of the run
RECIPE = """
[train]
steps = 3
max_seq_len = 64
batch_size = 1
grad_accum = {grad_accum}
seed = 5
log_every = 1
[optim]
warmup_steps = 2
[checkpoint]
every_steps = 1
"""


def _work_dir(root: Path, base_model_dir: Path) -> Path:
    """The tiny examples, and the session's converted base model linked in (no second conversion)."""
    work = root / "work"
    layout = WorkLayout(work)
    write_training_data(layout, tiny_examples())
    layout.models_dir.mkdir(parents=True)
    (layout.models_dir / base_model_dir.name).symlink_to(base_model_dir, target_is_directory=True)
    return work


def _cli(work: Path, grad_accum: int, *args: str) -> subprocess.CompletedProcess[str]:
    """`vetted finetune train` in a child process, on RECIPE with `grad_accum`."""
    recipe = work.parent / f"recipe-{grad_accum}.toml"
    recipe.write_text(RECIPE.format(grad_accum=grad_accum))
    # One thread: the launcher pins the workers to one anyway, and the one-process run must match them
    env = os.environ | {"PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    cmd = [sys.executable, "-m", "pipelines.cli.main", "--work-dir", str(work), "finetune", "train",
           "--finetune-config", str(recipe), *args]
    return subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)


def _train(work: Path, grad_accum: int, *args: str) -> tuple[dict, str]:
    """A run that must succeed: (its printed summary, its stderr: every rank's log)."""
    proc = _cli(work, grad_accum, *args)
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout), proc.stderr


def _adapter(work: Path) -> dict[str, torch.Tensor]:
    return load_file(WorkLayout(work).adapter_dir / "adapter_model.safetensors")


@pytest.fixture(scope="module")
def one(tmp_path_factory, base_model_dir):
    work = _work_dir(tmp_path_factory.mktemp("one-process"), base_model_dir)
    summary, _ = _train(work, 4)
    return work, summary


@pytest.fixture(scope="module")
def two(tmp_path_factory, base_model_dir):
    work = _work_dir(tmp_path_factory.mktemp("two-processes"), base_model_dir)
    summary, log = _train(work, 2, "--nproc", "2")
    return work, summary, log


def test_two_processes_train_the_adapter_of_one_process_over_the_same_global_batch(one, two):
    (one_work, one_summary), (two_work, two_summary, log) = one, two
    assert two_summary["world_size"] == 2 and one_summary["world_size"] == 1
    assert two_summary["global_batch"] == one_summary["global_batch"] == 4
    assert "rank 0 of 2" in log and "rank 1 of 2" in log  # both ranks set up and trained
    assert len(two_summary["tokens_by_rank"]) == 2 and min(two_summary["tokens_by_rank"]) > 0
    assert sum(two_summary["tokens_by_rank"]) == one_summary["tokens_by_rank"][0]  # the same examples, split
    losses = two_summary["losses"]
    assert len(losses) == STEPS and all(math.isfinite(x) for x in losses)
    assert losses == pytest.approx(one_summary["losses"], abs=1e-5)
    # Adam hardly notices a gradient scaled (say, summed over ranks instead of averaged): its norm does
    assert two_summary["grad_norms"] == pytest.approx(one_summary["grad_norms"], rel=1e-5)
    mine, theirs = _adapter(two_work), _adapter(one_work)
    assert mine.keys() == theirs.keys()
    assert max(float((mine[k] - theirs[k]).abs().max()) for k in mine) <= 1e-5
    # LoRA's B starts at zero: it moved, so the equality above compares trained adapters
    assert max(float(t.abs().max()) for k, t in mine.items() if "lora_B" in k) > 1e-4


def test_rank_0_alone_writes_the_checkpoints_adapter_merged_model_and_summary(two):
    work, summary, log = two
    layout = WorkLayout(work)
    assert (layout.adapter_dir / "adapter_model.safetensors").is_file()
    manifest = json.loads((layout.tuned_model_dir / "manifest.json").read_text())
    assert manifest["steps"] == STEPS
    assert json.loads(layout.run(summary["run_id"]).training_summary.read_text())["world_size"] == 2
    # the checkpoint's adapter under peft's names, as the final adapter has them: no DDP "module." prefix
    newest = latest_checkpoint(checkpoint_dir(layout), CHECKPOINT_PATTERN)
    assert newest is not None and load_checkpoint(newest)["adapter"].keys() == _adapter(work).keys()
    saves = [line for line in log.splitlines() if " MB, stall " in line]  # the Checkpointer's line per save
    assert len(saves) == STEPS - 1 and all(" rank 0/2 " in line for line in saves)
    steps = [line for line in log.splitlines() if " loss " in line and " lr " in line]
    assert len(steps) == STEPS and all(" rank 0/2 " in line for line in steps)


def test_a_two_process_checkpoint_resumes_on_two_processes_bit_for_bit(two, tmp_path, base_model_dir):
    ref_work, ref, _ = two
    work = _work_dir(tmp_path, base_model_dir)
    shutil.copytree(WorkLayout(ref_work).checkpoints_dir, WorkLayout(work).checkpoints_dir)
    summary, _ = _train(work, 2, "--nproc", "2", "--resume")
    assert summary["resumed_from_step"] == STEPS - 1
    assert summary["losses"] == ref["losses"] and summary["grad_norms"] == ref["grad_norms"]
    mine, theirs = _adapter(work), _adapter(ref_work)
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)


def test_a_two_process_checkpoint_is_refused_on_one_process(two):
    work, _, _ = two
    refused = r"trained by 2 process\(es\), this run has 1: resume it with --nproc 2"
    with pytest.raises(SystemExit, match=refused):
        main(["--work-dir", str(work), "finetune", "train", "--resume"])


def test_a_failing_rank_fails_the_command_and_says_so(tmp_path, base_model_dir):
    work = _work_dir(tmp_path, base_model_dir)
    proc = _cli(work, 4, "--nproc", "2")  # a global batch of 1 x 4 x 2 = 8 from 6 training examples
    assert proc.returncode == 1
    assert "6 training examples cannot fill one step of 8" in proc.stderr
    assert "training on 2 processes failed: torchrun exited with 1" in proc.stderr
    assert not (work / "runs").exists() and not WorkLayout(work).adapter_dir.exists()


def test_the_ranks_slices_partition_each_step_in_rank_order():
    step = [7, 3, 9, 1, 4, 0, 8, 2]
    slices = [World(rank, 4).shard(step) for rank in range(4)]
    assert slices == [[7, 3], [9, 1], [4, 0], [8, 2]]  # disjoint, contiguous, together the whole step
    assert World().shard(step) == step  # one process: the whole step, as before
    assert world_from({}) == World(0, 1, 0) and not world_from({"WORLD_SIZE": "1"}).distributed
    assert world_from({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == World(1, 2, 1)


BAD_NPROC = [("0", "must be at least 1, got 0"), ("-2", "must be at least 1, got -2"),
             ("two", "takes a whole number, got 'two'")]


@pytest.mark.parametrize("nproc, message", BAD_NPROC)
def test_bad_nproc_fails_before_anything_runs(tmp_path, capsys, nproc, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["--work-dir", str(tmp_path), "finetune", "train", "--nproc", nproc])
    assert exit_info.value.code == 2 and f"--nproc {message}" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written
