"""What a LoRA run holds, and the one plain dict a checkpoint makes of it: saved, verified, resumed.

A checkpoint (nanoGPT's habit: one dict) holds the adapter, optimizer, scheduler, every RNG of every rank,
the data position (epoch, step in epoch, the sampler's seed), the config, the data card hash and the number of
processes that trained it. Rank 0 writes it through pipelines.training.checkpointing.Checkpointer; every rank
reads it back on resume and takes its own RNG states from it.

A resumed run must draw the same examples per rank as the run it continues, so it keeps that run's config and
its world size: a different number of processes is refused (`check_resumable`), before any model loads.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from peft import get_peft_model_state_dict, set_peft_model_state_dict

from curation.layout import WorkLayout
from pipelines.training.checkpointing import Checkpointer, latest_checkpoint, load_checkpoint
from pipelines.training.config import FinetuneConfig, load_config
from pipelines.training.distributed import World

log = logging.getLogger(__name__)

# 2: "rng" became one state per rank; "world_size" and "grad_norms" were added (data-parallel runs)
CHECKPOINT_FORMAT = 2
CHECKPOINT_PATTERN = "step-*.pt"


@dataclass
class Recipe:
    """Everything a run holds; a checkpoint is `checkpoint_state()` of it."""

    config: FinetuneConfig
    layout: WorkLayout
    base_model_dir: Path
    data_card_sha256: str
    device: torch.device
    model: Any  # the peft model: its adapter is what is saved, merged and exported
    tokenizer: Any
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    sequences: list[tuple[list[int], list[int]]]  # (input ids, labels) of the training split
    steps_per_epoch: int
    adapter: dict[str, torch.nn.Parameter]  # what a checkpoint's "adapter" holds: `adapter_parameters(model)`
    world: World = field(default_factory=World)
    train_model: Any = None  # what the loop calls: DDP around `model` when distributed, else `model`
    step: int = 0  # optimizer steps done
    losses: list[float] = field(default_factory=list)  # one per optimizer step (the mean over ranks)
    grad_norms: list[float] = field(default_factory=list)  # one per step: the L2 norm of the LoRA gradient
    resumed_from: int | None = None

    @property
    def checkpoint_dir(self) -> Path:
        return checkpoint_dir(self.layout)


def checkpoint_dir(layout: WorkLayout) -> Path:
    return layout.checkpoints_dir / "lora"


# --- the RNGs ---------------------------------------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        # numpy's state holds an ndarray, which torch.load(weights_only=True) refuses: plain lists instead
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],  # type: ignore[index]
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_tuples(state["python"]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(value: Any) -> Any:
    """random.setstate wants the tuples it gave (a round trip may hand back lists)."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list | tuple) else value


# --- save ---------------------------------------------------------------------------------------------------


def adapter_parameters(model: Any) -> dict[str, torch.nn.Parameter]:
    """The adapter's parameters under the keys, and in the order, of peft's `get_peft_model_state_dict`.

    Found once, at setup: peft builds the whole model's state dict and filters and renames it on every call
    (27 of the 30 ms a checkpoint's state took to build here, before the snapshot). The Parameters, not their
    tensors, are kept: AdamW and `set_peft_model_state_dict` (a resume) write into them in place, DDP
    broadcasts into them in place, and a Parameter whose `.data` is swapped (a `.to(device)`) is still the one
    the model trains. tests/pipelines/training/test_state.py holds the two to the same keys and values.
    """
    by_storage = {param.data_ptr(): param for param in model.parameters()}
    found: dict[str, torch.nn.Parameter] = {}
    for key, tensor in get_peft_model_state_dict(model).items():
        param = by_storage.get(tensor.data_ptr())
        if param is None or param.shape != tensor.shape:
            raise ValueError(f"adapter tensor {key} is not a parameter of the model (a buffer, or a copy): "
                             "this peft config needs get_peft_model_state_dict at every save, not a cache")
        found[key] = param
    return found


def checkpoint_state(recipe: Recipe) -> dict[str, Any]:
    """Everything a resumed run needs, as one plain dict. Every rank must call it (it gathers their RNGs)."""
    epoch, in_epoch = divmod(recipe.step, recipe.steps_per_epoch)
    return {
        "format": CHECKPOINT_FORMAT,
        "adapter": {key: param.detach() for key, param in recipe.adapter.items()},  # the live tensors
        # built at every save (0.3 ms), never cached: AdamW creates its state at the first step and a
        # resume's load_state_dict replaces those tensors; it holds references to the live ones, as "adapter"
        "optimizer": recipe.optimizer.state_dict(),
        "scheduler": recipe.scheduler.state_dict(),
        "rng": recipe.world.gather(rng_state()),  # one per rank: each draws its own dropout masks
        "world_size": recipe.world.size,
        "data": {"epoch": epoch, "step_in_epoch": in_epoch, "sampler_seed": recipe.config.train.seed,
                 "steps_per_epoch": recipe.steps_per_epoch},
        "step": recipe.step,
        "losses": list(recipe.losses),
        "grad_norms": list(recipe.grad_norms),
        "config": recipe.config.to_dict(),
        "data_card_sha256": recipe.data_card_sha256,
        "base_model": str(recipe.base_model_dir),
    }


def save_checkpoint(recipe: Recipe, ckpt: Checkpointer) -> Any:
    """Snapshot now, persist in the background (rank 0; the others only hand over their RNG states and get
    None); older checkpoints beyond `checkpoint.keep` removed."""
    state = checkpoint_state(recipe)
    if not recipe.world.is_main:
        return None
    path = recipe.checkpoint_dir / f"step-{recipe.step:08d}.pt"
    record = ckpt.save(state, path)
    keep = recipe.config.checkpoint.keep
    # save() waited for the previous save, so every file listed is durable; the new one is still a temp name
    for old in sorted(recipe.checkpoint_dir.glob(CHECKPOINT_PATTERN))[:-keep]:
        old.unlink(missing_ok=True)
        old.with_name(old.name + ".manifest.json").unlink(missing_ok=True)
    return record


# --- resume -------------------------------------------------------------------------------------------------


def check_resumable(state: dict[str, Any], world_size: int, path: Path) -> None:
    """A checkpoint of this format, trained by as many processes as this run has: each rank's share of a
    step, and so the examples each one draws after the resume, depend on the number of processes."""
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is a format {state.get('format')} checkpoint, this recipe reads format "
                         f"{CHECKPOINT_FORMAT}: start without --resume")
    saved = state["world_size"]
    if saved != world_size:
        raise ValueError(f"{path} was trained by {saved} process(es), this run has {world_size}: resume it "
                         f"with --nproc {saved}, or start without --resume")


def resume(recipe: Recipe) -> Recipe:
    """Restore the newest checkpoint that verifies (a damaged one is logged and skipped)."""
    path = latest_checkpoint(recipe.checkpoint_dir, CHECKPOINT_PATTERN)
    if path is None:
        raise FileNotFoundError(f"no usable checkpoint in {recipe.checkpoint_dir}: start without --resume")
    state = load_checkpoint(path)
    check_resumable(state, recipe.world.size, path)
    if state["data_card_sha256"] != recipe.data_card_sha256:
        raise ValueError(f"{path} was trained on other data (data card {state['data_card_sha256'][:12]}, now "
                         f"{recipe.data_card_sha256[:12]}): start without --resume")
    if state["data"]["steps_per_epoch"] != recipe.steps_per_epoch:
        raise ValueError(f"{path}: {state['data']['steps_per_epoch']} steps an epoch, now "
                         f"{recipe.steps_per_epoch}: start without --resume")
    set_peft_model_state_dict(recipe.model, state["adapter"])
    recipe.optimizer.load_state_dict(state["optimizer"])
    recipe.scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"][recipe.world.rank])
    recipe.step, recipe.losses, recipe.resumed_from = state["step"], list(state["losses"]), state["step"]
    recipe.grad_norms = list(state["grad_norms"])
    log.info("resumed from %s (step %d, epoch %d, step %d in epoch)", path, recipe.step,
             state["data"]["epoch"], state["data"]["step_in_epoch"])
    return recipe


def run_config(layout: WorkLayout, path: Path | None, *, steps: int | None, resume: bool,
               world_size: int = 1) -> FinetuneConfig:
    """The recipe a run uses: `path`'s (its [cpu] tables without a GPU) with `steps`, or, resuming, the
    checkpoint's own config, which a different step count or number of processes may not change.
    ValueError says what to do."""
    if resume:
        newest = latest_checkpoint(checkpoint_dir(layout), CHECKPOINT_PATTERN)
        if newest is None:
            raise ValueError(f"no usable checkpoint in {layout.checkpoints_dir}: run without --resume")
        state = load_checkpoint(newest)
        kept = FinetuneConfig.from_dict(state["config"])
        if steps is not None and steps != kept.train.steps:
            raise ValueError(f"a resumed run keeps its config ({kept.train.steps} steps): drop --steps")
        check_resumable(state, world_size, newest)
        return kept
    config = load_config(path, gpu=torch.cuda.is_available())
    return config if steps is None else config.with_steps(steps)
