"""The finetune flow end to end on a real work folder: data -> train -> merge -> evaluate, in real Prefect,
every stage in the run's profile, the evaluation's figures in the exported model's manifest."""

from __future__ import annotations

import json

import pytest

from curation.layout import WorkLayout
from pipelines.cli.main import main
from tests.pipelines.training.workdir import make_training_work_dir

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
