"""`engine.model` / `--model`: base, tuned or a folder, and a clear refusal of anything else."""

from __future__ import annotations

import json

import pytest

from pipelines.cli.main import main
from pipelines.core.model_cache import ModelCacheError, resolve_model


def test_tuned_before_any_finetune_says_how_to_make_one(tmp_path):
    with pytest.raises(ModelCacheError, match="run `vetted finetune`"):
        resolve_model("tuned", tmp_path / "models")


def test_a_half_written_tuned_folder_is_refused(tmp_path):
    tuned = tmp_path / "models" / "tuned"
    tuned.mkdir(parents=True)
    (tuned / "config.json").write_text("{}")  # the merge never wrote its manifest
    with pytest.raises(ModelCacheError, match="no fine-tuned model"):
        resolve_model("tuned", tmp_path / "models")
    (tuned / "manifest.json").write_text(json.dumps({"steps": 1}))
    assert resolve_model("tuned", tmp_path / "models") == tuned


def test_a_folder_that_is_no_model_is_refused(tmp_path):
    with pytest.raises(ModelCacheError, match="neither 'base', 'tuned' nor a model folder"):
        resolve_model(str(tmp_path), tmp_path / "models")
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model(str(tmp_path), tmp_path / "models") == tmp_path.resolve()


def test_eval_answers_with_a_wrong_model_fails_before_loading_anything(tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"id": "1", "question": "q?", "answer": "a", "doc": "d.txt"}\n')
    with pytest.raises(SystemExit, match="no fine-tuned model"):
        main(["--work-dir", str(tmp_path), "eval", "answers", "--docs", str(tmp_path), "--qa", str(qa),
              "--model", "tuned"])
