"""The adapter a checkpoint holds is peft's own: the Parameters cached at setup (pipelines.training.state
`adapter_parameters`) give the keys, the order and the values of `get_peft_model_state_dict`, after
optimizer steps and after a resume, in the saved file as in the state."""

from __future__ import annotations

import torch
from peft import get_peft_model_state_dict

from curation.layout import WorkLayout
from pipelines.observability.profiler import RunProfile
from pipelines.training.checkpointing import Checkpointer, load_checkpoint
from pipelines.training.config import FinetuneConfig
from pipelines.training.data import write_training_data
from pipelines.training.lora import setup, step_batches, train_step
from pipelines.training.state import checkpoint_state, resume, save_checkpoint
from tests.pipelines.training.test_lora import tiny_examples

TINY = {"train": {"steps": 4, "max_seq_len": 64, "batch_size": 1, "grad_accum": 1, "seed": 5},
        "optim": {"warmup_steps": 1}}


def _assert_peft_adapter(adapter: dict[str, torch.Tensor], model) -> None:
    expected = get_peft_model_state_dict(model)
    assert list(adapter) == list(expected)  # the same keys in the same order: the file's layout
    assert all(torch.equal(adapter[key], expected[key]) for key in expected)


def test_the_checkpoint_adapter_is_peft_state_dict_after_steps_and_a_resume(tmp_path, base_model_dir):
    torch.set_num_threads(1)
    layout = WorkLayout(tmp_path / "work")
    write_training_data(layout, tiny_examples())
    recipe = setup(layout, base_model_dir, FinetuneConfig.from_dict(TINY))
    batches = step_batches(recipe)
    for _ in range(2):  # AdamW writes into the cached Parameters: LoRA's B moves off zero
        train_step(recipe, next(batches))
    _assert_peft_adapter(checkpoint_state(recipe)["adapter"], recipe.model)
    assert any(float(p.detach().abs().max()) > 0 for key, p in recipe.adapter.items() if "lora_B" in key)

    with Checkpointer(RunProfile("t")) as ckpt:
        record = save_checkpoint(recipe, ckpt)
    saved = load_checkpoint(record.path)
    _assert_peft_adapter(saved["adapter"], recipe.model)
    assert saved["optimizer"]["state"].keys() == recipe.optimizer.state_dict()["state"].keys()

    train_step(recipe, next(batches))  # step 3 moves every adapter tensor off the saved ones
    assert not any(torch.equal(param, saved["adapter"][key]) for key, param in recipe.adapter.items())
    resume(recipe)  # loads step 2 back: into the cached Parameters, or the assertions below fail
    assert recipe.step == 2
    _assert_peft_adapter(saved["adapter"], recipe.model)
    _assert_peft_adapter(checkpoint_state(recipe)["adapter"], recipe.model)
