"""`vetted finetune` fails at once, with what to do, on bad input."""

from __future__ import annotations

import pytest

from pipelines.cli.main import main


def test_data_without_an_index_says_to_run_ingest(tmp_path, capsys):
    with pytest.raises(SystemExit, match="run `vetted ingest` first"):
        main(["--work-dir", str(tmp_path), "finetune", "data"])


def test_train_without_data_says_to_build_it(tmp_path):
    with pytest.raises(SystemExit, match="vetted finetune data"):
        main(["--work-dir", str(tmp_path), "finetune", "train", "--steps", "1"])


BAD_STEPS = [("0", "at least 1"), ("ten", "whole number"), ("-3", "at least 1")]


@pytest.mark.parametrize("steps, message", BAD_STEPS)
def test_bad_steps_fail_before_anything_runs(tmp_path, capsys, steps, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["--work-dir", str(tmp_path), "finetune", "train", "--steps", steps])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written


def test_resume_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(SystemExit, match="no usable checkpoint"):
        main(["--work-dir", str(tmp_path), "finetune", "train", "--resume"])
