"""Saves of a real torch model and AdamW state: stall and persist recorded apart, files durable."""

from __future__ import annotations

import os
import threading

import pytest
import torch

from pipelines.observability.fsio import atomic_write_bytes
from pipelines.observability.profiler import RunProfile
from pipelines.training import checkpointing
from pipelines.training.checkpointing import Checkpointer, load_checkpoint, snapshot_to_cpu


def _train_step(model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
    model(torch.randn(16, 256)).pow(2).mean().backward()
    opt.step()
    opt.zero_grad()


def test_saves_record_stall_and_persist_and_restore_the_snapshot(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    path = tmp_path / "ckpt" / "last.pt"
    profile = RunProfile("t")
    with profile.stage("train") as st, Checkpointer(profile, recorder=st.io) as ckpt:  # charged to train
        for step in range(3):
            _train_step(model, opt)
            ckpt.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step}, path)
            if step == 2:
                saved = {k: v.clone() for k, v in model.state_dict().items()}
        _train_step(model, opt)  # training goes on while the last save persists: the snapshot must not move

    records = profile.checkpoints
    assert [r.done for r in records] == [True, True, True] and not any(r.error for r in records)
    assert all(r.size_bytes == path.stat().st_size for r in records)
    assert all(r.snapshot_s > 0 and r.persist_s >= r.write_s + r.fsync_s * 0.99 for r in records)
    assert records[1].stall_s == records[1].waited_for_previous_s + records[1].snapshot_s
    stage = profile.stages[0]
    assert stage.fsync_count == 12  # each save: the file, its folder, the manifest, its folder
    # each save opens its temporary file and its folder on the persist thread (exact in the test below);
    # the training thread adds the modules torch imports on first use
    assert stage.files_opened >= 6
    assert stage.overlapped == ["checkpoint_persist"]  # the persists' kernel I/O is in train's wchar too
    assert stage.access["write"]["bytes"] >= 3 * path.stat().st_size * 0.99
    assert stage.access["write"]["sequential_share"] == 1.0

    restored = load_checkpoint(path)
    assert restored["step"] == 2
    for key, value in saved.items():
        assert torch.equal(restored["model"][key], value)
    assert set(restored["optimizer"]["state"][0]) >= {"exp_avg", "exp_avg_sq"}

    summary = profile.to_dict()["checkpoint_summary"]
    assert summary["num_checkpoints_write"] == 3
    size_gib = path.stat().st_size / 2**30
    assert summary["checkpoint_size_GB"] == pytest.approx(size_gib)
    mean_rate = sum(size_gib / r.persist_s for r in records) / 3
    assert summary["save_checkpoint_io_mean_GB_per_second"] == pytest.approx(mean_rate)
    assert summary["save_checkpoint_duration_mean_seconds"] == pytest.approx(
        sum(r.persist_s for r in records) / 3
    )
    assert summary["save_checkpoint_stall_mean_seconds"] > 0


def test_each_save_keeps_its_own_values_while_the_next_snapshot_reuses_its_tensors(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 64), torch.nn.ReLU(), torch.nn.Linear(64, 256))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    kept = []
    with Checkpointer(RunProfile("t")) as ckpt:
        for step in range(3):
            _train_step(model, opt)
            ckpt.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / f"{step}.pt")
            kept.append({k: v.clone() for k, v in model.state_dict().items()})
            _train_step(model, opt)  # the step beside the persist: the snapshot being written must not move
    for step, expected in enumerate(kept):
        restored = load_checkpoint(tmp_path / f"{step}.pt")["model"]
        assert all(torch.equal(restored[key], value) for key, value in expected.items())


def test_a_snapshot_into_an_earlier_one_writes_over_its_tensors_where_they_fit():
    state = {"w": torch.ones(3), "b": torch.zeros(2), "meta": [1, "x", (2.0, None)]}
    spare = snapshot_to_cpu(state)
    state["w"] += 1
    state["b"] = torch.zeros(5)  # another shape: a new tensor
    again = snapshot_to_cpu(state, into=spare)
    assert again["w"] is spare["w"] and again["w"] is not state["w"]
    assert torch.equal(again["w"], torch.full((3,), 2.0))
    assert again["b"] is not spare["b"] and again["b"].shape == (5,)
    assert again["meta"] == [1, "x", (2.0, None)]


def test_a_failed_persist_is_raised_in_the_training_thread(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the checkpoint folder should be")
    profile = RunProfile("t")
    ckpt = Checkpointer(profile)
    ckpt.save({"w": torch.zeros(4)}, blocker / "last.pt")
    with pytest.raises(RuntimeError, match="last.pt failed"):
        ckpt.wait()
    assert profile.checkpoints[0].error and not profile.checkpoints[0].done
    assert profile.to_dict()["checkpoint_summary"] == {}


def test_a_background_persist_is_not_counted_in_the_stage_running_meanwhile(tmp_path, monkeypatch):
    state = {"w": torch.randn(256, 256)}
    warm = Checkpointer(RunProfile("warm-up"))  # torch's first save imports modules (opens): not measured
    warm.save(state, tmp_path / "warm.pt")
    warm.wait()

    gate = threading.Event()
    real_persist = checkpointing.persist

    def persist_when_let(*args, **kwargs):
        assert gate.wait(timeout=30), "the test never let the persist run"
        real_persist(*args, **kwargs)

    monkeypatch.setattr(checkpointing, "persist", persist_when_let)
    profile = RunProfile("t")
    path = tmp_path / "ckpt" / "last.pt"
    with profile.stage("train"):
        ckpt = Checkpointer(profile)  # no recorder: the profile's checkpoint_io
        ckpt.save(state, path)
    with profile.stage("eval") as st:
        gate.set()  # the save from train persists now, while eval runs and writes its own file
        atomic_write_bytes(tmp_path / "eval.bin", os.urandom(1000), recorder=st.io)
        ckpt.wait()
    train, evaluation = profile.stages
    assert (evaluation.fsync_count, evaluation.files_opened) == (2, 2)  # its own write: file and folder
    assert evaluation.access["write"]["ops"] == 1 and evaluation.access["write"]["bytes"] == 1000
    assert (train.fsync_count, train.files_opened, train.access["write"]["ops"]) == (0, 0, 0)
    assert evaluation.overlapped == ["checkpoint_persist"]

    persisted = profile.checkpoint_io.snapshot()
    assert (persisted["fsync_count"], persisted["files_opened"]) == (4, 4)  # checkpoint + manifest
    both = path.stat().st_size + checkpointing.manifest_path(path).stat().st_size
    assert persisted["access"]["write"]["bytes"] == both
    written = profile.to_dict()["checkpoint_io"]["access"]["write"]
    assert written["bytes"] == both and written["sequential_share"] == 1.0
