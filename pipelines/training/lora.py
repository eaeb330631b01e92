"""LoRA fine-tuning of the base model (SmolLM2-135M-Instruct, Llama architecture) on the safe tier's examples.

Runbook:
    vetted finetune data                              # WORK_DIR/training/examples.jsonl + data_card.json
    vetted finetune train [--steps N]                 # finetune.toml; WORK_DIR/models/tuned/ at the end
    vetted finetune train --resume                    # after a crash: the newest checkpoint that verifies

One recipe, in the order it runs: `setup` (model + peft LoRA on the attention and MLP projections, AdamW,
warmup + cosine, the tokenized training split), `train` (the loop; loss on the target tokens only),
`save_checkpoint` / `resume` (one plain dict: adapter, optimizer, scheduler, every RNG, the data position,
config, data card hash; written by pipelines.training.checkpointing.Checkpointer), `merge` (the adapter folded
into the base weights, exported as safetensors + tokenizer + manifest). fp32 on CPU, bf16 on a GPU, the same
code. Every stage runs inside the run profile (runs/<run>/io_profile.json); the loop's batches go through
`st.timed_batches` (DLIO's train_au figures).

Data order is a pure function of (sampler seed, epoch): each epoch is a seeded permutation of the training
split, so the position (epoch, step in epoch) and the RNG states are all a resumed run needs to draw the same
batches and the same numbers as a run never interrupted: on CPU, the same losses and adapter bit for bit.

How often to checkpoint is measured, not guessed: the first step is followed by one real save (its stall and
persist recorded), and pipelines.training.interval picks the interval (Daly 2006 via io_plan) or says that no
intermediate checkpoint is needed; the decision goes into the log and runs/<run>/training_summary.json.
"""

from __future__ import annotations

import logging
import math
import random
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict
from transformers import AutoModelForCausalLM, AutoTokenizer

from curation.layout import WorkLayout
from pipelines.core.model_cache import TUNED_MANIFEST
from pipelines.observability.fsio import atomic_write_json
from pipelines.observability.profiler import RunProfile, new_run_id
from pipelines.training.checkpointing import Checkpointer, latest_checkpoint, load_checkpoint
from pipelines.training.config import FinetuneConfig, load_config
from pipelines.training.data import Example, read_training_data
from pipelines.training.interval import IntervalDecision, decide_interval

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
IGNORE = -100  # label of a token the loss skips: the prompt and the padding
StepHook = Callable[[int, float], None]


@dataclass
class Recipe:
    """Everything a run holds; a checkpoint is `checkpoint_state()` of it."""

    config: FinetuneConfig
    layout: WorkLayout
    base_model_dir: Path
    data_card_sha256: str
    device: torch.device
    model: Any
    tokenizer: Any
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    sequences: list[tuple[list[int], list[int]]]  # (input ids, labels) of the training split
    steps_per_epoch: int
    step: int = 0  # optimizer steps done
    losses: list[float] = field(default_factory=list)  # one per optimizer step, from step 1
    resumed_from: int | None = None

    @property
    def checkpoint_dir(self) -> Path:
        return self.layout.checkpoints_dir / "lora"


# --- setup ----------------------------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # CUDA's generators too


def tokenize(example: Example, tokenizer: Any, max_seq_len: int) -> tuple[list[int], list[int]]:
    """The chat-templated prompt, then the target and end-of-turn; labels only on the target.

    A sequence too long keeps its target (up to half the length) and the END of its prompt (the question and
    the last sources): the system rule at the start is the same in every example, the cheapest to cut.
    """
    prompt = list(tokenizer.apply_chat_template(example.messages, add_generation_prompt=True, tokenize=True,
                                                return_dict=False))
    target = tokenizer(example.target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    target = target[: max(1, max_seq_len // 2)] if len(prompt) + len(target) > max_seq_len else target
    prompt = prompt[max(0, len(prompt) + len(target) - max_seq_len):]
    return prompt + target, [IGNORE] * len(prompt) + target


def setup(layout: WorkLayout, base_model_dir: Path, config: FinetuneConfig) -> Recipe:
    cfg = config.train
    seed_everything(cfg.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32  # bf16 on a GPU; fp32 on a CPU
    data = read_training_data(layout)
    train = [e for e in data.examples if e.split == "train"]
    tokenizer = AutoTokenizer.from_pretrained(base_model_dir)
    sequences = [tokenize(e, tokenizer, cfg.max_seq_len) for e in train]
    per_step = cfg.batch_size * cfg.grad_accum
    if len(sequences) < per_step:
        raise ValueError(f"{len(sequences)} training examples cannot fill one step of {per_step} "
                         "(train.batch_size x train.grad_accum): lower them or build more data")
    base: Any = AutoModelForCausalLM.from_pretrained(base_model_dir, dtype=dtype)
    base = base.to(device)
    lora = config.lora
    model = get_peft_model(base, LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                            target_modules=list(lora.target_modules), task_type="CAUSAL_LM"))
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = config.optim
    optimizer = torch.optim.AdamW(trainable, lr=opt.lr, weight_decay=opt.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, config))
    return Recipe(config, layout, base_model_dir, data.card["sha256"], device, model, tokenizer, optimizer,
                  scheduler, sequences, steps_per_epoch=len(sequences) // per_step)


def lr_factor(step: int, config: FinetuneConfig) -> float:
    """Linear warmup, then cosine down to min_lr_ratio at the last step."""
    warmup, total, floor = config.optim.warmup_steps, config.train.steps, config.optim.min_lr_ratio
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


# --- the data order ---------------------------------------------------------------------------------------


def epoch_order(n: int, sampler_seed: int, epoch: int) -> list[int]:
    """The permutation of the training split for `epoch`: a function of the seed and the epoch alone."""
    generator = torch.Generator().manual_seed(sampler_seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).tolist()


def step_batches(recipe: Recipe) -> Iterator[list[dict[str, torch.Tensor]]]:
    """From the current position on: one list of grad_accum micro-batches per optimizer step (an epoch's
    last examples that do not fill a step are left out, so every step has the same size)."""
    cfg = recipe.config.train
    while True:
        epoch, in_epoch = divmod(recipe.step, recipe.steps_per_epoch)
        order = epoch_order(len(recipe.sequences), cfg.seed, epoch)
        start = in_epoch * cfg.batch_size * cfg.grad_accum
        ids = order[start : start + cfg.batch_size * cfg.grad_accum]
        yield [collate([recipe.sequences[i] for i in ids[k : k + cfg.batch_size]], recipe)
               for k in range(0, len(ids), cfg.batch_size)]


def collate(rows: list[tuple[list[int], list[int]]], recipe: Recipe) -> dict[str, torch.Tensor]:
    """Right-padded to the longest row of the micro-batch; padding is masked and carries no loss."""
    pad = recipe.tokenizer.pad_token_id if recipe.tokenizer.pad_token_id is not None else 0
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (ids, labs) in enumerate(rows):
        input_ids[r, : len(ids)], labels[r, : len(ids)], mask[r, : len(ids)] = (
            torch.tensor(ids), torch.tensor(labs), 1)
    d = recipe.device
    return {"input_ids": input_ids.to(d), "attention_mask": mask.to(d), "labels": labels.to(d)}


# --- train ------------------------------------------------------------------------------------------------


def train_step(recipe: Recipe, micro_batches: list[dict[str, torch.Tensor]]) -> float:
    """One optimizer step: the mean of the micro-batches' target-token losses."""
    recipe.model.train()
    total = 0.0
    for batch in micro_batches:
        loss = recipe.model(**batch).loss / len(micro_batches)
        loss.backward()
        total += float(loss.detach())
    recipe.optimizer.step()
    recipe.scheduler.step()
    recipe.optimizer.zero_grad(set_to_none=True)
    recipe.step += 1
    recipe.losses.append(total)
    return total


def train(recipe: Recipe, profile: RunProfile, *, on_step: StepHook | None = None) -> IntervalDecision | None:
    """The loop, from the recipe's position to config.train.steps; checkpoints as measured (module doc)."""
    cfg, ckpt_cfg = recipe.config.train, recipe.config.checkpoint
    decision: IntervalDecision | None = None
    with profile.stage("finetune_train") as st, Checkpointer(profile, recorder=st.io) as ckpt:
        started, first_step = recipe.step, recipe.step
        tokens = 0
        t0 = time.perf_counter()
        for micro_batches in st.timed_batches(step_batches(recipe), samples=lambda b: len(b)):
            if recipe.step >= cfg.steps:
                break
            step_start = time.perf_counter()
            loss = train_step(recipe, micro_batches)
            tokens += sum(int(b["attention_mask"].sum()) for b in micro_batches)
            if recipe.step % cfg.log_every == 0 or recipe.step == cfg.steps:
                log.info("step %d/%d loss %.4f lr %.2e", recipe.step, cfg.steps, loss,
                         recipe.scheduler.get_last_lr()[0])
            if decision is None and recipe.step < cfg.steps:  # measure one real save, then decide
                record = save_checkpoint(recipe, ckpt)
                ckpt.wait()
                decision = decide_interval(stall_s=record.stall_s, persist_s=record.persist_s,
                                           step_s=time.perf_counter() - step_start - record.persist_s,
                                           steps=cfg.steps - first_step, settings=ckpt_cfg)
                log.info("checkpoint interval: %s", decision.reason)
            elif decision is not None and decision.every_steps and recipe.step % decision.every_steps == 0 \
                    and recipe.step < cfg.steps:
                save_checkpoint(recipe, ckpt)
            if on_step is not None:
                on_step(recipe.step, loss)
        wall = time.perf_counter() - t0
        st.items(items_in=(recipe.step - started) * cfg.batch_size * cfg.grad_accum)
        st.note(tokens=tokens, tokens_per_s=tokens / wall if wall else 0.0)
    return decision


# --- save_checkpoint / resume -----------------------------------------------------------------------------


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


def checkpoint_state(recipe: Recipe) -> dict[str, Any]:
    """Everything a resumed run needs, as one plain dict (nanoGPT's habit)."""
    epoch, in_epoch = divmod(recipe.step, recipe.steps_per_epoch)
    return {
        "format": CHECKPOINT_FORMAT,
        "adapter": get_peft_model_state_dict(recipe.model),
        "optimizer": recipe.optimizer.state_dict(),
        "scheduler": recipe.scheduler.state_dict(),
        "rng": rng_state(),
        "data": {"epoch": epoch, "step_in_epoch": in_epoch, "sampler_seed": recipe.config.train.seed,
                 "steps_per_epoch": recipe.steps_per_epoch},
        "step": recipe.step,
        "losses": list(recipe.losses),
        "config": recipe.config.to_dict(),
        "data_card_sha256": recipe.data_card_sha256,
        "base_model": str(recipe.base_model_dir),
    }


def save_checkpoint(recipe: Recipe, ckpt: Checkpointer) -> Any:
    """Snapshot now, persist in the background; older checkpoints beyond `checkpoint.keep` removed."""
    path = recipe.checkpoint_dir / f"step-{recipe.step:08d}.pt"
    record = ckpt.save(checkpoint_state(recipe), path)
    keep = recipe.config.checkpoint.keep
    # save() waited for the previous save, so every file listed is durable; the new one is still a temp name
    for old in sorted(recipe.checkpoint_dir.glob("step-*.pt"))[:-keep]:
        old.unlink(missing_ok=True)
        old.with_name(old.name + ".manifest.json").unlink(missing_ok=True)
    return record


def resume(recipe: Recipe) -> Recipe:
    """Restore the newest checkpoint that verifies (a damaged one is logged and skipped)."""
    path = latest_checkpoint(recipe.checkpoint_dir, "step-*.pt")
    if path is None:
        raise FileNotFoundError(f"no usable checkpoint in {recipe.checkpoint_dir}: start without --resume")
    state = load_checkpoint(path)
    if state["data_card_sha256"] != recipe.data_card_sha256:
        raise ValueError(f"{path} was trained on other data (data card {state['data_card_sha256'][:12]}, now "
                         f"{recipe.data_card_sha256[:12]}): start without --resume")
    if state["data"]["steps_per_epoch"] != recipe.steps_per_epoch:
        raise ValueError(f"{path}: {state['data']['steps_per_epoch']} steps an epoch, now "
                         f"{recipe.steps_per_epoch}: start without --resume")
    set_peft_model_state_dict(recipe.model, state["adapter"])
    recipe.optimizer.load_state_dict(state["optimizer"])
    recipe.scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    recipe.step, recipe.losses, recipe.resumed_from = state["step"], list(state["losses"]), state["step"]
    log.info("resumed from %s (step %d, epoch %d, step %d in epoch)", path, recipe.step,
             state["data"]["epoch"], state["data"]["step_in_epoch"])
    return recipe


def resume_config(layout: WorkLayout) -> FinetuneConfig | None:
    """The config a resumed run keeps: the newest usable checkpoint's own."""
    path = latest_checkpoint(layout.checkpoints_dir / "lora", "step-*.pt")
    return None if path is None else FinetuneConfig.from_dict(load_checkpoint(path)["config"])


def run_config(layout: WorkLayout, path: Path | None, *, steps: int | None, resume: bool) -> FinetuneConfig:
    """The recipe a run uses: `path`'s (its [cpu] tables without a GPU) with `steps`, or, resuming, the
    checkpoint's own config, which a different step count may not change. ValueError says what to do."""
    if resume:
        kept = resume_config(layout)
        if kept is None:
            raise ValueError(f"no usable checkpoint in {layout.checkpoints_dir}: run without --resume")
        if steps is not None and steps != kept.train.steps:
            raise ValueError(f"a resumed run keeps its config ({kept.train.steps} steps): drop --steps")
        return kept
    config = load_config(path, gpu=torch.cuda.is_available())
    return config if steps is None else config.with_steps(steps)


# --- merge ------------------------------------------------------------------------------------------------


def save_adapter(recipe: Recipe) -> Path:
    """The final adapter (peft's safetensors), the only save a run without intermediate checkpoints makes."""
    out = recipe.layout.adapter_dir
    recipe.model.save_pretrained(out, safe_serialization=True)
    return out


def merge(recipe: Recipe) -> Path:
    """Fold the adapter into the base weights and export models/tuned/ (published by rename)."""
    merged = recipe.model.merge_and_unload()
    # SmolLM2 ties the output head to the input embedding; LoRA never touches either, so they still agree.
    assert torch.equal(merged.lm_head.weight, merged.model.embed_tokens.weight), "lm_head != embed_tokens"
    out = recipe.layout.tuned_model_dir
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    merged.to(torch.float32).save_pretrained(staging, safe_serialization=True)
    recipe.tokenizer.save_pretrained(staging, save_jinja_files=False)  # the template where vLLM reads it
    atomic_write_json(staging / TUNED_MANIFEST, {
        "base_model": str(recipe.base_model_dir),
        "data_card_sha256": recipe.data_card_sha256,
        "steps": recipe.step,
        "config": recipe.config.to_dict(),
        "final_loss": recipe.losses[-1] if recipe.losses else None,
    })
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return out


# --- the whole run ----------------------------------------------------------------------------------------


def run(
    layout: WorkLayout, base_model_dir: Path, config: FinetuneConfig, *, resume_run: bool = False,
    merge_model: bool = True, on_step: StepHook | None = None, run_id: str | None = None,
    profile: RunProfile | None = None,
) -> dict[str, Any]:
    """setup, [resume], train, save the adapter, merge; the profile and summary in runs/<run>/.

    `profile`: the stage profiler of a larger run (the finetune flow's, whose data and evaluation stages
    share its run folder); a fresh one otherwise.
    """
    profile = profile or RunProfile(run_id or f"finetune-{new_run_id()}")
    with profile.stage("finetune_setup") as st:
        recipe = setup(layout, base_model_dir, config)
        if resume_run:
            resume(recipe)
        st.items(items_in=len(recipe.sequences))
    decision = train(recipe, profile, on_step=on_step)
    with profile.stage("finetune_save_adapter"):
        adapter = save_adapter(recipe)
    tuned = None
    if merge_model:
        with profile.stage("finetune_merge"):
            tuned = merge(recipe)
    folder = layout.run(profile.run_id)
    train_stage = next(s for s in profile.stages if s.stage == "finetune_train")
    summary = {
        "run_id": profile.run_id,
        "steps": recipe.step,
        "resumed_from_step": recipe.resumed_from,
        "losses": recipe.losses,
        "data_card_sha256": recipe.data_card_sha256,
        "device": recipe.device.type,
        "tokens_per_s": train_stage.extra.get("tokens_per_s"),
        "checkpoint_decision": decision.as_dict() if decision else None,
        "checkpoints": [c.as_dict() for c in profile.checkpoints],
        "adapter": str(adapter),
        "tuned_model": str(tuned) if tuned else None,
    }
    profile.write(folder.io_profile)
    atomic_write_json(folder.training_summary, summary)
    return summary
