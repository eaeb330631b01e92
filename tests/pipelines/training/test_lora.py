"""The LoRA recipe on the real base model: a run killed with SIGKILL mid-epoch and resumed gives the same
per-step losses and the same adapter as a run never interrupted (bit for bit on CPU), also when the newest
checkpoint is damaged and the one before it resumes; the merged export keeps the tied embeddings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from curation.layout import WorkLayout
from pipelines.core.prompt import NO_SAFE_CONTEXT, PromptSource, build_prompt
from pipelines.training.data import Example, write_training_data

REPO_ROOT = Path(__file__).resolve().parents[3]
CHILD = Path(__file__).with_name("recipe_child.py")
STEPS = 6


def tiny_examples() -> list[Example]:
    topics = ["lists", "tuples", "dicts", "sets", "VACUUM", "routers", "ARP"]
    out = []
    for k, topic in enumerate(topics):
        sources = [PromptSource(f"{topic} page", "docs", f"{topic} are described here, item {k}.")]
        refusal = k == 3
        target = NO_SAFE_CONTEXT if refusal else f"{topic} are described in the page. [1]"
        split = "heldout" if k == 6 else "train"
        out.append(Example(f"d{k}:{k}", f"d{k}", "refusal" if refusal else "faq", split,
                           build_prompt(f"What are {topic}?", sources), target, None if refusal else 1,
                           [f"d{k}"], "docs"))
    return out


def _run(work: Path, base: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    # One thread: on a shared 2-core machine two OpenMP threads spin against each other (10x slower), and
    # every run of the comparison must use the same count for the same float reductions anyway.
    env = os.environ | {"PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    proc = subprocess.run([sys.executable, str(CHILD), str(work), str(base), str(STEPS), *args],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def _summary(work: Path, run_id: str) -> dict:
    return json.loads(WorkLayout(work).run(run_id).training_summary.read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory, base_model_dir):
    work = tmp_path_factory.mktemp("reference")
    write_training_data(WorkLayout(work), tiny_examples())
    _run(work, base_model_dir, "--merge", "--run-id", "ref")
    return work, _summary(work, "ref")


def test_uninterrupted_run_learns_and_exports_a_merged_model(reference):
    work, summary = reference
    layout = WorkLayout(work)
    assert summary["steps"] == STEPS and len(summary["losses"]) == STEPS
    assert summary["losses"][-1] < summary["losses"][0]  # it learns the targets
    manifest = json.loads((layout.tuned_model_dir / "manifest.json").read_text())
    card = json.loads(layout.data_card.read_text())
    assert manifest["data_card_sha256"] == card["sha256"] and manifest["steps"] == STEPS
    merged = load_file(layout.tuned_model_dir / "model.safetensors")
    assert not any("lora" in k for k in merged)
    assert (layout.tuned_model_dir / "tokenizer.json").is_file()
    decision = summary["checkpoint_decision"]
    assert decision["every_steps"] == 2 and decision["stall_s"] > 0 and decision["persist_s"] > 0


def test_killed_mid_epoch_and_resumed_equals_the_uninterrupted_run(reference, tmp_path, base_model_dir):
    ref_work, ref = reference
    work = tmp_path / "work"
    write_training_data(WorkLayout(work), tiny_examples())
    killed = _run(work, base_model_dir, "--kill-after", "4", "--run-id", "killed", check=False)
    assert killed.returncode == -signal.SIGKILL
    ckpts = sorted((work / "checkpoints" / "lora").glob("step-*.pt.manifest.json"))
    assert ckpts, killed.stderr[-2000:]
    # damage the newest checkpoint: the one before it must resume the run, and say so
    newest = ckpts[-1].with_name(ckpts[-1].name.removesuffix(".manifest.json"))
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    resumed = _run(work, base_model_dir, "--resume", "--run-id", "resumed")
    assert f"checkpoint {newest} is not usable (sha256 mismatch" in resumed.stderr
    summary = _summary(work, "resumed")
    start = summary["resumed_from_step"]
    assert start is not None and 0 < start < 4 and start % 3 != 0  # not an epoch boundary (3 steps an epoch)
    assert summary["losses"] == ref["losses"]  # restored ones, then the new ones: bit for bit
    mine = load_file(WorkLayout(work).adapter_dir / "adapter_model.safetensors")
    theirs = load_file(WorkLayout(ref_work).adapter_dir / "adapter_model.safetensors")
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
