"""The fine-tune evaluation's answers cache: the base model answers a held-out prompt once, on real weights.

A second `vetted finetune` on the same prompts reuses the base model's answers (~16 minutes of CPU
generation on the test corpus) and still scores them against the targets it has now; anything that changes
what greedy decoding would say (the prompt, the decoding settings, the weights) makes it generate again.
"""

from __future__ import annotations

import json
import shutil

import pytest

from eval.finetune_eval import answers_key, evaluate_model
from eval.metrics import token_f1
from pipelines.core.prompt import PromptSource, build_prompt
from pipelines.training.data import Example

GENERATE = {"max_new_tokens": 6}


def example(n: int, question: str) -> Example:
    sources = [
        PromptSource("VACUUM", "product-docs-postgresql", "VACUUM reclaims storage occupied by dead tuples."),
        PromptSource("Lists", "product-docs-python", "Lists are mutable sequences."),
    ]
    target = "[1] VACUUM reclaims storage occupied by dead tuples."
    return Example(f"d{n}:{n}", f"d{n}", "section", "heldout", build_prompt(question, sources), target, 1,
                   ["d0", "d1"], "product-docs-postgresql")  # fmt: skip


@pytest.fixture
def examples() -> list[Example]:
    return [example(0, "What does VACUUM do?"), example(1, "Are lists mutable?")]


def test_a_second_evaluation_reuses_every_answer_and_scores_against_the_new_targets(
    base_model_dir, examples, tmp_path
):
    first = evaluate_model(base_model_dir, examples, answers_cache=tmp_path, **GENERATE)
    assert first["summary"]["generated"] == 2 and first["summary"]["s_per_example"] > 0
    [cache_file] = tmp_path.glob("answers-*.json")
    assert len(json.loads(cache_file.read_text())) == 2

    examples[0].target = "[2] Lists are mutable sequences."  # the prompt is the same; the target moved
    second = evaluate_model(base_model_dir, examples, answers_cache=tmp_path, **GENERATE)
    assert second["summary"]["generated"] == 0 and second["summary"]["s_per_example"] is None
    assert [r["answer"] for r in second["rows"]] == [r["answer"] for r in first["rows"]]
    assert second["rows"][1] == first["rows"][1]
    answer = second["rows"][0]["answer"]
    assert second["rows"][0]["token_f1"] == round(token_f1(answer, "Lists are mutable sequences."), 4)


def test_a_new_prompt_or_new_decoding_settings_are_generated_again(base_model_dir, examples, tmp_path):
    evaluate_model(base_model_dir, examples, answers_cache=tmp_path, **GENERATE)
    more = [*examples, example(2, "What reclaims storage?")]
    again = evaluate_model(base_model_dir, more, answers_cache=tmp_path, **GENERATE)
    assert again["summary"]["generated"] == 1
    longer = evaluate_model(base_model_dir, examples, answers_cache=tmp_path, max_new_tokens=7)
    assert longer["summary"]["generated"] == 2
    assert len(list(tmp_path.glob("answers-*.json"))) == 2  # one file per weights x device x settings


def test_the_key_follows_the_weights_bytes(base_model_dir, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(base_model_dir, copy)
    assert answers_key(copy, "cpu", GENERATE) == answers_key(base_model_dir, "cpu", GENERATE)
    assert answers_key(copy, "cuda", GENERATE) != answers_key(copy, "cpu", GENERATE)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "rope_theta": 1.0}))
    assert answers_key(copy, "cpu", GENERATE) != answers_key(base_model_dir, "cpu", GENERATE)


def test_no_cache_folder_generates_everything_and_writes_nothing(base_model_dir, examples, tmp_path):
    result = evaluate_model(base_model_dir, examples, **GENERATE)
    assert result["summary"]["generated"] == 2 and not list(tmp_path.iterdir())


def test_an_interrupted_evaluation_keeps_the_answers_it_wrote(base_model_dir, examples, tmp_path,
                                                               monkeypatch):
    from eval import finetune_eval

    real = finetune_eval.generate_answers

    def killed_after_one(model_dir, todo, *, on_answer, **generate):
        def stop(e, answer):
            on_answer(e, answer)
            raise KeyboardInterrupt  # what Ctrl-C or a kill between two answers leaves

        return real(model_dir, todo, on_answer=stop, **generate)

    monkeypatch.setattr(finetune_eval, "generate_answers", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        evaluate_model(base_model_dir, examples, answers_cache=tmp_path, **GENERATE)
    monkeypatch.undo()
    resumed = evaluate_model(base_model_dir, examples, answers_cache=tmp_path, **GENERATE)
    assert resumed["summary"]["generated"] == 1
