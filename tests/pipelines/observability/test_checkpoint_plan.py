"""`vetted checkpoint plan`: the seed's two cases worked by hand, and its bad input."""

from __future__ import annotations

import json
import math

import pytest

from pipelines.cli.main import main
from pipelines.observability.io_plan import CheckpointTarget, checkpoint_plan, daly_interval_s


def test_one_node_for_four_hours_needs_no_intermediate_checkpoint(capsys):
    assert main(["checkpoint", "plan", "--nodes", "1", "--gpus-per-node", "8", "--model-params", "8B",
                 "--run-hours", "4", "--storage-GBps", "2", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    assert plan["size_GB"] == 105.0  # MLPerf Storage's Llama 3 8B checkpoint
    assert plan["save_s"] == pytest.approx(52.5)  # 105 GB / 2 GB/s
    assert plan["expected_failures"] == pytest.approx(4 / 6000)
    # Daly: sqrt(2 x 52.5 x 21.6e6) = 47,623 s = 13.2 h, longer than the 4 h run
    assert plan["daly_interval_s"] == pytest.approx(math.sqrt(2 * 52.5 * 21.6e6), rel=2e-3)
    assert plan["intermediate_needed"] is False and plan["stall_share"] == 0.0
    assert plan["work_lost_per_failure_s"] == pytest.approx(2 * 3600)  # half the run


def test_thousands_of_nodes_for_months_checkpoint_every_few_minutes(capsys):
    args = ["checkpoint", "plan", "--nodes", "2048", "--gpus-per-node", "8", "--model-params", "405B",
            "--run-hours", "1300", "--storage-GBps", "1000"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "5,290 GB (MLPerf Storage's checkpoint of Llama 3 405B)" in text
    c = checkpoint_plan(CheckpointTarget(nodes=2048, gpus_per_node=8, model_params=405e9, run_hours=1300,
                                         storage_GBps=1000))
    mtbf_s = 6000 * 3600 / 2048  # 10,547 s
    assert c.save_s == pytest.approx(5.29)
    assert c.expected_failures == pytest.approx(1300 * 3600 / mtbf_s)  # 444
    assert c.interval_s == pytest.approx(daly_interval_s(5.29, mtbf_s))  # ~331 s
    assert c.stall_share == pytest.approx(5.29 / (c.interval_s + 5.29))
    assert c.work_lost_per_failure_s == pytest.approx(c.interval_s / 2 + 5.29 / 2)
    assert f"every {c.interval_s / 60:.3g} min" in text


def test_async_stalls_for_the_snapshot_and_never_overlaps_two_persists():
    sync = checkpoint_plan(CheckpointTarget(nodes=2048, gpus_per_node=8, model_params=405e9, run_hours=1300,
                                            storage_GBps=1000))
    asy = checkpoint_plan(CheckpointTarget(nodes=2048, gpus_per_node=8, model_params=405e9, run_hours=1300,
                                           storage_GBps=1000, async_save=True))
    assert asy.stall_s == pytest.approx(5290 / 2048 / 10)  # each node's shard to host memory at 10 GB/s
    assert asy.stall_share < sync.stall_share / 4
    assert asy.interval_s >= asy.save_s  # the next snapshot waits for no persist
    slow = checkpoint_plan(CheckpointTarget(nodes=2048, gpus_per_node=8, model_params=405e9, run_hours=1300,
                                            storage_GBps=5, async_save=True))
    assert slow.interval_s == pytest.approx(5290 / 5)  # storage-bound: one persist per interval


def test_an_explicit_bytes_per_param_beats_the_mlperf_size():
    c = checkpoint_plan(CheckpointTarget(nodes=1, gpus_per_node=8, model_params=8e9, run_hours=4,
                                         storage_GBps=2, checkpoint_bytes_per_param=2))
    assert c.size_GB == 16.0 and "x 2 B" in c.size_source


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [("--nodes", "0", "nodes must be > 0"), ("--storage-GBps", "-1", "storage_GBps must be > 0"),
     ("--stall-target", "1.5", "stall_target"), ("--checkpoint-bytes-per-param", "0", "must be > 0")],
)
def test_bad_input_is_refused_with_the_reason(flag, value, message):
    args = {"--nodes": "4", "--gpus-per-node": "8", "--model-params": "70B", "--run-hours": "10",
            "--storage-GBps": "10"} | {flag: value}
    with pytest.raises(SystemExit, match=message):
        main(["checkpoint", "plan", *[x for kv in args.items() for x in kv]])


def test_an_unreadable_parameter_count_is_an_argument_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["checkpoint", "plan", "--nodes", "4", "--gpus-per-node", "8", "--model-params", "lots",
              "--run-hours", "10", "--storage-GBps", "10"])
    assert exc.value.code == 2 and "--model-params" in capsys.readouterr().err
