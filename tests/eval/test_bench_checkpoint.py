"""`python -m eval.bench.checkpoint`: its flags, and the figures it derives from the timings (the timings
themselves are the benchmark's, never asserted here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.bench.checkpoint import GOAL_STALL_SHARE, build_parser, summarize


def test_defaults_are_the_small_recipe_on_one_thread():
    args = build_parser().parse_args([])
    assert (args.reps, args.seq_len, args.threads) == (7, 64, 1)
    assert args.base_model is None and args.dir is None and args.json is None


def test_flags_are_read():
    argv = ["--reps", "9", "--seq-len", "512", "--dir", "/mnt/ckpt", "--json", "o.json"]
    args = build_parser().parse_args(argv)
    assert (args.reps, args.seq_len, args.dir, args.json) == (9, 512, Path("/mnt/ckpt"), Path("o.json"))


@pytest.mark.parametrize("flag, value", [("--reps", "0"), ("--seq-len", "-1"), ("--threads", "two")])
def test_a_count_below_one_or_not_a_number_is_refused(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([flag, value])
    assert exit_info.value.code == 2 and flag in capsys.readouterr().err


def samples(stall: list[float], sync: list[float], with_persist: list[float], without: list[float]):
    return {"stall_s": stall, "sync_save_s": sync, "step_with_persist_s": with_persist,
            "step_without_s": without}


def test_ratios_are_of_medians_and_the_step_ratio_also_by_repetition():
    result = summarize(samples([0.01, 0.03, 0.02], [0.4, 0.2, 0.5], [1.1, 3.0, 1.3], [1.0, 2.0, 1.2]))
    assert result["median"]["stall_s"] == 0.02 and result["median"]["sync_save_s"] == 0.4
    assert result["stall_over_sync_save"] == pytest.approx(0.05) and result["goal_met"] is True
    assert result["step_with_persist_over_without"] == pytest.approx(1.3 / 1.2)
    assert result["step_ratio_paired_median"] == pytest.approx(1.1)  # the median of 1.1, 1.5 and 1.083
    assert result["step_slower_in_reps"] == 3


def test_a_stall_over_a_tenth_of_the_sync_save_misses_the_goal():
    result = summarize(samples([0.05], [0.4], [1.0], [1.0]))
    assert result["stall_over_sync_save"] > GOAL_STALL_SHARE and result["goal_met"] is False
    assert result["step_slower_in_reps"] == 0
