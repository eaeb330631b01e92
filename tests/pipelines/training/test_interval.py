"""The checkpoint interval from one measured save: Daly's interval (io_plan) or none at all."""

from __future__ import annotations

import logging
import math

import pytest

from pipelines.observability.io_plan import daly_interval_s
from pipelines.observability.training_io import CheckpointRecord
from pipelines.training.checkpointing import latest_checkpoint, persist
from pipelines.training.config import LLAMA3_MTBF_DEVICE_HOURS, CheckpointSettings
from pipelines.training.interval import decide_interval


def test_llama3_default_is_one_interruption_per_50677_gpu_hours():
    assert LLAMA3_MTBF_DEVICE_HOURS == pytest.approx(50_677, abs=1)


def test_a_short_run_on_one_device_needs_no_intermediate_checkpoint():
    d = decide_interval(stall_s=0.03, persist_s=0.2, step_s=1.5, steps=300, settings=CheckpointSettings())
    assert d.every_steps == 0 and d.reason.startswith("no intermediate checkpoint needed")
    assert d.expected_failures == pytest.approx(450 / (50_677 * 3600), rel=1e-3)


def test_a_large_job_checkpoints_at_daly_interval():
    settings = CheckpointSettings(devices=16_384)
    d = decide_interval(stall_s=2.0, persist_s=5.0, step_s=10.0, steps=100_000, settings=settings)
    mtbf_s = LLAMA3_MTBF_DEVICE_HOURS * 3600 / 16_384  # 11,135 s: one failure every 3.1 h
    assert d.job_mtbf_s == pytest.approx(11_135, abs=1)
    assert d.young_interval_s == pytest.approx(math.sqrt(2 * 2.0 * 11_135), abs=1)  # 211 s by hand
    assert d.every_steps == math.ceil(daly_interval_s(2.0, mtbf_s) / 10.0) == 21  # Daly: 209.7 s
    assert d.stall_share == pytest.approx(2.0 / (210 + 2.0))


def test_a_persist_longer_than_the_interval_spaces_saves_out_and_config_wins():
    settings = CheckpointSettings(devices=16_384)
    slow = decide_interval(stall_s=2.0, persist_s=600.0, step_s=10.0, steps=100_000, settings=settings)
    assert slow.every_steps == 60  # one save in flight at a time
    fixed = decide_interval(stall_s=2.0, persist_s=5.0, step_s=10.0, steps=100_000,
                            settings=CheckpointSettings(every_steps=7))
    assert fixed.every_steps == 7 and "as configured" in fixed.reason


def test_a_truncated_checkpoint_is_skipped_for_the_previous_one(tmp_path, caplog):
    for step in (1, 2):
        persist({"step": step}, tmp_path / f"step-{step:08d}.pt", CheckpointRecord("", 0.0))
    newest = tmp_path / "step-00000002.pt"
    newest.write_bytes(newest.read_bytes()[:-7])
    with caplog.at_level(logging.WARNING):
        assert latest_checkpoint(tmp_path) == tmp_path / "step-00000001.pt"
    assert f"checkpoint {newest} is not usable (sha256 mismatch" in caplog.text
    (tmp_path / "step-00000001.pt.manifest.json").unlink()  # a save that never finished
    assert latest_checkpoint(tmp_path) is None
