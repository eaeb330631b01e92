"""The sizing model against numbers worked by hand (the arithmetic is in each comment)."""

from __future__ import annotations

import json
import math

import pytest

from pipelines.cli.main import main
from pipelines.observability.io_plan import (
    Target,
    checkpoint_plan,
    daly_interval_s,
    format_plan,
    plan,
    stall_share,
    young_interval_s,
)

PROFILE = {
    "run_id": "measured",
    "stages": [
        # 100 documents: 1 GB read plus 1000 mmap faults (4096 B each), 0.5 GB written, 100 s on one worker
        {"stage": "embed", "items_in": 100, "rchar": 1e9, "wchar": 5e8, "major_faults": 1000, "wall_s": 100.0}
    ],
}


def target(**changes) -> Target:
    base = dict(
        documents=10_000,
        nodes=1000,
        gpus_per_node=8,
        model_params=1e9,
        run_hours=100,
        storage_GBps=10,
        mtbf_node_hours=5000,
    )
    return Target(**(base | changes))


def test_young_and_daly_intervals():
    # delta 1.4 s, M 18000 s: Young sqrt(2 x 1.4 x 18000) = sqrt(50400) = 224.4994 s
    assert young_interval_s(1.4, 18000) == pytest.approx(224.4994, abs=1e-4)
    # Daly: x = 1.4 / 36000 = 3.8889e-5; 224.4994 x (1 + 0.0062361/3 + 3.8889e-5/9) - 1.4 = 223.5670 s
    assert daly_interval_s(1.4, 18000) == pytest.approx(223.5670, abs=1e-3)
    assert daly_interval_s(50_000, 18000) == 18000  # delta >= 2M: checkpoint every M


def test_checkpoint_plan_at_a_thousand_nodes():
    c = checkpoint_plan(target())
    assert c.size_GB == 14.0  # 1e9 parameters x 14 B
    assert c.save_s == pytest.approx(1.4)  # 14 GB / 10 GB/s
    assert c.job_mtbf_hours == 5.0  # 5000 node-hours / 1000 nodes
    assert c.expected_failures == pytest.approx(20.0)  # 100 h / 5 h
    assert c.daly_interval_s == pytest.approx(223.5670, abs=1e-3)
    assert c.stall_share == pytest.approx(1.4 / (223.5670 + 1.4), rel=1e-5)  # 0.6223 %
    # A 5 % stall means tau = 19 delta. Young: sqrt(36000 delta) = 19 delta, delta = 99.72 s, 0.1404 GB/s.
    # Daly subtracts delta from the interval: with u = sqrt(delta), 189.74 (1 + u/569.2 + u^2/324000) = 20 u
    # gives u = 9.649, delta = 93.1 s, so 14 GB / 93.1 s = 0.1504 GB/s.
    assert c.needed_GBps == pytest.approx(0.1504, rel=1e-3)
    delta = 14.0 / c.needed_GBps
    assert stall_share(delta, daly_interval_s(delta, 18000)) == pytest.approx(0.05, rel=1e-6)
    assert c.async_persist_GBps == pytest.approx(14.0 / 223.5670, rel=1e-5)
    assert c.intermediate_needed


def test_a_short_run_on_one_node_needs_no_intermediate_checkpoint():
    c = checkpoint_plan(target(nodes=1, run_hours=1, mtbf_node_hours=6000))
    assert not c.intermediate_needed  # Daly's interval (~2.16 h for a 1.4 s save) outlasts the 1 h run
    assert "no intermediate checkpoint needed" in format_plan(plan(PROFILE, target(nodes=1, run_hours=1)))


def test_stage_bandwidth_scales_with_documents_and_workers():
    # scale 10,000 / 100 = 100; 10 nodes x 4 GPUs x speedup 2 = pace 80
    t = target(nodes=10, gpus_per_node=4, worker_speedup=2.0)
    [s] = plan(PROFILE, t).stages
    assert s.read_GB == pytest.approx(100.4096)  # (1e9 + 1000 x 4096) x 100 / 1e9
    assert s.write_GB == pytest.approx(50.0)
    assert s.compute_hours * 3600 == pytest.approx(125.0)  # 100 s x 100 / 80
    assert s.demand_read_GBps == pytest.approx(100.4096 / 125)  # 0.8033 GB/s
    assert s.demand_write_GBps == pytest.approx(0.4)
    assert s.storage_hours * 3600 == pytest.approx(15.04096)  # 150.4096 GB at 10 GB/s
    assert s.bound == "compute"
    [slow] = plan(PROFILE, target(nodes=10, gpus_per_node=4, worker_speedup=2.0, storage_GBps=1)).stages
    assert slow.bound == "storage" and slow.hours * 3600 == pytest.approx(150.4096)


def test_bad_targets_fail_with_the_field_named():
    with pytest.raises(ValueError, match="storage_GBps must be > 0"):
        target(storage_GBps=0)
    with pytest.raises(ValueError, match="stall_target"):
        target(stall_target=1.5)


def test_plan_command_prints_the_plan_and_json(tmp_path, capsys):
    profile = tmp_path / "io_profile.json"
    profile.write_text(json.dumps(PROFILE))
    args = ["io", "plan", "--profile", str(profile), "--documents", "10k", "--nodes", "1000"]
    args += ["--gpus-per-node", "8", "--model-params", "1B", "--run-hours", "100", "--storage-GBps", "10"]
    args += ["--mtbf-node-hours", "5000"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "Checkpoint: 1,000,000,000 parameters x 14 B = 14 GB" in text and "Daly 3.73 min" in text
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert math.isclose(data["checkpoint"]["save_s"], 1.4) and data["stages"][0]["stage"] == "embed"
