"""The ingestion scale plan: per-item costs read from a run's profile, parallel stages that shrink with GPUs
and their cores, global stages that do not, the CPU-only case at this machine's own embedding rate, and bad
input refused with what to do."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipelines.observability.ingest_plan import ScaleTarget, costs_from_profile, plan_scale
from tests.conftest import REPO_ROOT


def profile(*, rescored: int = 100) -> dict:
    def stage(name, cpu_s, items_in, items_out=None, extra=None):
        return {"stage": name, "cpu_s": cpu_s, "wall_s": cpu_s, "items_in": items_in,
                "items_out": items_out or items_in, "extra": extra or {}}  # fmt: skip

    scorers = {"age_s": 0.01, "trust_s": 0.01, "relevance_s": 4.0, "sensitive_s": 0.08, "duplicate_s": 0.02}
    return {
        "stages": [
            stage("load", 1.0, 100),
            stage("score", 4.5, 100, extra={"rescored": rescored, **scorers}),
            stage("tier", 0.0, 100),
            stage("chunk", 0.4, 80, 400),
            stage("embed", 20.0, 400),
            stage("index", 0.3, 400),
        ]
    }


def test_costs_are_per_item_from_the_profile():
    costs = costs_from_profile(profile())
    assert costs.parse_s_per_doc == pytest.approx(0.01)
    assert costs.score_s_per_doc == pytest.approx(0.001)  # age + trust + sensitive, not relevance/duplicate
    assert costs.duplicate_s_per_doc == pytest.approx(0.0002)
    assert costs.relevance_s_per_doc == pytest.approx(0.04)
    assert costs.embed_s_per_chunk == pytest.approx(0.05)
    assert (costs.safe_share, costs.chunks_per_safe_doc) == (0.8, 5.0)


def test_parallel_stages_shrink_with_gpus_and_global_ones_stay():
    costs = costs_from_profile(profile())
    one, eight = plan_scale(costs, ScaleTarget(documents=1e6, gpus=[1, 8], gpu_embeddings_per_s=1000))
    assert one.chunks == pytest.approx(4e6)
    for stage in ("parse", "score (CPU scorers)", "chunk", "embed", "score (relevance embeddings)"):
        assert eight.stages_h[stage] == pytest.approx(one.stages_h[stage] / 8), stage
    for stage in ("duplicates (global)", "index (global)"):
        assert eight.stages_h[stage] == pytest.approx(one.stages_h[stage]), stage
    assert one.stages_h["embed"] == pytest.approx(4e6 / 1000 / 3600)  # chunks at the GPU rate
    assert one.stages_h["index (global)"] == pytest.approx(4 * 129 / 3600)
    assert eight.wall_h < one.wall_h and eight.gpu_hours == pytest.approx(8 * eight.wall_h)
    assert 0 < eight.gpu_busy_share < one.gpu_busy_share < 1


def test_cpu_only_embeds_at_the_measured_rate_over_the_cores():
    [cpu] = plan_scale(costs_from_profile(profile()), ScaleTarget(documents=1e6, gpus=[0], cpu_cores=4))
    assert cpu.stages_h["embed"] == pytest.approx(4e6 * 0.05 / 4 / 3600)
    assert cpu.gpu_hours == 0 and cpu.gpu_busy_share == 0 and cpu.bottleneck == "embed"


@pytest.mark.parametrize(
    ("broken", "says"),
    [
        ({"stages": []}, "no load, score, chunk, embed, index stage"),
        (profile(rescored=10), "incremental"),
        ({"stages": [s for s in profile()["stages"] if s["stage"] != "embed"]}, "no embed stage"),
    ],
)
def test_profiles_that_cannot_be_scaled_are_refused(broken, says):
    with pytest.raises(ValueError, match=says):
        costs_from_profile(broken)


@pytest.mark.parametrize(
    "kwargs",
    [{"documents": 0, "gpus": [1]}, {"documents": 1e6, "gpus": []}, {"documents": 1e6, "gpus": [-1]}],
)
def test_bad_targets_are_refused(kwargs):
    with pytest.raises(ValueError):
        ScaleTarget(**kwargs)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli.main", "io", "scale", *args],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    )  # fmt: skip


def test_the_command_prints_the_plan_and_refuses_bad_input(tmp_path):
    path = tmp_path / "io_profile.json"
    path.write_text(json.dumps(profile()))
    done = _cli("--profile", str(path), "--documents", "10M", "--gpus", "1,8,64", "--json")
    assert done.returncode == 0, done.stderr
    plans = json.loads(done.stdout)["plans"]
    assert [p["gpus"] for p in plans] == [1, 8, 64]
    assert plans[0]["wall_h"] > plans[1]["wall_h"] > plans[2]["wall_h"]
    for args, says in [
        (("--profile", str(tmp_path / "missing.json"), "--documents", "1M"), "no I/O profile"),
        (("--profile", str(path), "--documents", "1M", "--gpus", "one"), "invalid literal"),
        (("--profile", str(path), "--documents", "-5"), "must be positive"),
    ]:
        bad = _cli(*args)
        assert bad.returncode != 0 and says in bad.stderr, bad.stderr
