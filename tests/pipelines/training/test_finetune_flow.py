"""The finetune flow end to end on a real work folder: data -> train -> merge -> evaluate, in real Prefect,
every stage in the run's profile, the evaluation's figures in the exported model's manifest."""

from __future__ import annotations

import json

import pytest

from curation.layout import WorkLayout
from pipelines.cli.main import main
from tests.pipelines.training.workdir import REPO_ROOT, make_training_work_dir

TINY_RECIPE = """
[train]
steps = 2
max_seq_len = 384
batch_size = 1
grad_accum = 1
log_every = 1
[cpu.train]
steps = 2
"""


@pytest.fixture(scope="module")
def work(tmp_path_factory, test_corpus, embedder):
    return make_training_work_dir(tmp_path_factory.mktemp("finetune-flow"), test_corpus, embedder)


def test_the_flow_trains_merges_and_evaluates_base_against_tuned(work, prefect_harness, tmp_path):
    from pipelines.flows import finetune_flow

    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY_RECIPE)
    dotted = {"paths.work_dir": str(work.work_dir), "paths.corpus_dir": str(work.corpus_dir)}
    summary = finetune_flow(None, dotted, str(recipe), eval_limit=2, eval_max_new_tokens=12)
    layout = WorkLayout(work.work_dir)
    assert summary["steps"] == 2
    folder = layout.run(summary["run_id"])
    stages = [s["stage"] for s in json.loads(folder.io_profile.read_text())["stages"]]
    for stage in ("finetune_data", "finetune_setup", "finetune_train", "finetune_merge", "finetune_evaluate"):
        assert stage in stages
    evaluated = json.loads((folder.path / "finetune_eval.json").read_text())
    assert len(evaluated["base"]["rows"]) == len(evaluated["tuned"]["rows"]) == 2
    assert set(evaluated["met"]) == {"cited_accuracy", "token_f1", "groundedness", "correct_refusal"}
    manifest = json.loads((layout.tuned_model_dir / "manifest.json").read_text())
    card = json.loads(layout.data_card.read_text())
    assert manifest["data_card_sha256"] == card["sha256"] and manifest["steps"] == 2
    assert manifest["eval"]["tuned"]["examples"] == 2
    saved = json.loads(folder.training_summary.read_text())
    assert saved["eval"]["met"] == evaluated["met"]


# One step of a global batch of 2 (1 x 1 on each of two ranks): the least that makes both ranks train
TWO_PROCESS_RECIPE = TINY_RECIPE.replace("steps = 2", "steps = 1")


def test_the_flow_trains_on_two_processes_through_torchrun(tmp_path, test_corpus, embedder, base_model_dir,
                                                           prefect_harness, monkeypatch):
    """--nproc 2 on CPU: two gloo workers of torchrun train; rank 0's stages join the flow's profile."""
    from pipelines.flows import finetune_flow

    work = make_training_work_dir(tmp_path, test_corpus, embedder)
    layout = WorkLayout(work.work_dir)
    layout.models_dir.mkdir(parents=True)  # the session's converted base model: no second conversion
    (layout.models_dir / base_model_dir.name).symlink_to(base_model_dir, target_is_directory=True)
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))  # the workers import this checkout, not an installed one
    recipe = tmp_path / "two.toml"
    recipe.write_text(TWO_PROCESS_RECIPE)
    dotted = {"paths.work_dir": str(work.work_dir), "paths.corpus_dir": str(work.corpus_dir)}
    summary = finetune_flow(None, dotted, str(recipe), eval_limit=1, eval_max_new_tokens=4, nproc=2)
    assert summary["world_size"] == 2 and summary["steps"] == 1 and len(summary["tokens_by_rank"]) == 2
    assert min(summary["tokens_by_rank"]) > 0  # each rank trained on its slice
    folder = layout.run(summary["run_id"])
    assert json.loads(folder.training_summary.read_text())["world_size"] == 2
    stages = [s["stage"] for s in json.loads(folder.io_profile.read_text())["stages"]]
    assert stages == ["finetune_data", "finetune_launch", "finetune_setup", "finetune_train",
                      "finetune_save_adapter", "finetune_merge", "finetune_evaluate"]
    manifest = json.loads((layout.tuned_model_dir / "manifest.json").read_text())
    assert manifest["steps"] == 1 and manifest["eval"]["tuned"]["examples"] == 1
    assert any(layout.tuned_model_dir.glob("*.safetensors"))


def test_finetune_without_an_index_says_to_run_ingest(tmp_path, prefect_harness):
    with pytest.raises(SystemExit, match="run `vetted ingest` first"):
        main(["--work-dir", str(tmp_path), "finetune", "--steps", "1"])


def test_resume_without_a_checkpoint_fails_before_training(tmp_path, prefect_harness):
    with pytest.raises(SystemExit, match="no usable checkpoint"):
        main(["--work-dir", str(tmp_path), "finetune", "--resume"])


def test_bad_eval_limit_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--work-dir", str(tmp_path), "finetune", "--eval-limit", "0"])
    assert exc.value.code == 2 and "at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("nproc, message", [("0", "must be at least 1, got 0"),
                                            ("two", "takes a whole number, got 'two'")])
def test_bad_nproc_is_refused_before_anything_runs(tmp_path, capsys, nproc, message):
    with pytest.raises(SystemExit) as exc:
        main(["--work-dir", str(tmp_path), "finetune", "--nproc", nproc])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"--nproc {message}" in err.splitlines()[-1]
    assert not any(tmp_path.iterdir())  # nothing written
