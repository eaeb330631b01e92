"""LoRA fine-tuning of the base model (SmolLM2-135M-Instruct, Llama architecture) on the safe tier's examples.

Runbook:
    vetted finetune data                              # WORK_DIR/training/examples.jsonl + data_card.json
    vetted finetune train [--steps N]                 # finetune.toml; WORK_DIR/models/tuned/ at the end
    vetted finetune train --resume                    # after a crash: the newest checkpoint that verifies

One recipe, in the order it runs: `setup` (model + peft LoRA on the attention and MLP projections, AdamW,
warmup + cosine, the tokenized training split), `train` (the loop; loss on the target tokens only),
`save_checkpoint` / `resume` (pipelines.training.state: one plain dict of adapter, optimizer, scheduler,
every RNG, the data position, config, data card hash, world size), `merge` (the adapter folded into the base
weights, exported as safetensors + tokenizer + manifest). fp32 on CPU, bf16 on a GPU, the same code. Every
stage runs inside the run profile (runs/<run>/io_profile.json); the loop's batches go through
`st.timed_batches` (DLIO's train_au figures).

Data order is a pure function of (sampler seed, epoch): each epoch is a seeded permutation of the training
split, so the position (epoch, step in epoch) and the RNG states are all a resumed run needs to draw the same
batches and the same numbers as a run never interrupted: on CPU, the same losses and adapter bit for bit.

Data parallel (`vetted finetune train --nproc N`, pipelines.training.launch): each of N processes takes its
slice of each step's examples and DDP averages the LoRA gradients (pipelines.training.distributed); a step is
batch_size x grad_accum x N examples, with the gradient of one process over grad_accum x N micro-batches.
Rank 0 alone writes checkpoints, the adapter, the merged model and the summaries. N=1 is the run above, with
no process group.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from curation.layout import WorkLayout
from pipelines.core.model_cache import TUNED_MANIFEST
from pipelines.observability.fsio import atomic_write_json
from pipelines.observability.profiler import RunProfile, new_run_id
from pipelines.training.checkpointing import Checkpointer
from pipelines.training.config import FinetuneConfig
from pipelines.training.data import Example, read_training_data
from pipelines.training.distributed import World, accumulating, joined, wrap
from pipelines.training.interval import IntervalDecision, decide_interval
from pipelines.training.state import Recipe, adapter_parameters, resume, run_config, save_checkpoint
from pipelines.training.weights import IGNORE, citation_marks, token_weights, weighted_loss

# run_config and Recipe are imported from here by the CLI and the flow; they live in pipelines.training.state
__all__ = ["Recipe", "run", "run_config"]

log = logging.getLogger(__name__)

StepHook = Callable[[int, float], None]


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


def global_batch(config: FinetuneConfig, world: World) -> int:
    """Examples per optimizer step over all ranks: batch_size x grad_accum on each of world.size."""
    return config.train.batch_size * config.train.grad_accum * world.size


def setup(
    layout: WorkLayout, base_model_dir: Path, config: FinetuneConfig, world: World | None = None
) -> Recipe:
    world = world or World()
    cfg = config.train
    seed_everything(cfg.seed)  # the same on every rank: the same LoRA init everywhere
    device = world.device()
    data = read_training_data(layout)
    train = [e for e in data.examples if e.split == "train"]
    tokenizer = AutoTokenizer.from_pretrained(base_model_dir)
    sequences = [tokenize(e, tokenizer, cfg.max_seq_len) for e in train]
    per_step = global_batch(config, world)
    if len(sequences) < per_step:
        raise ValueError(f"{len(sequences)} training examples cannot fill one step of {per_step} "
                         "(train.batch_size x train.grad_accum x processes): lower them or build more data")
    model = lora_model(base_model_dir, config, device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = config.optim
    optimizer = torch.optim.AdamW(trainable, lr=opt.lr, weight_decay=opt.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, config))
    return Recipe(config, layout, base_model_dir, data.card["sha256"], device, model, tokenizer, optimizer,
                  scheduler, sequences, steps_per_epoch=len(sequences) // per_step,
                  adapter=adapter_parameters(model), world=world, train_model=wrap(model, world))


def lora_model(base_model_dir: Path, config: FinetuneConfig, device: torch.device) -> Any:
    """The base model (bf16 on a GPU; fp32 on a CPU) with peft's LoRA on the configured projections."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    base: Any = AutoModelForCausalLM.from_pretrained(base_model_dir, dtype=dtype)
    lora = config.lora
    settings = LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                          target_modules=list(lora.target_modules), task_type="CAUSAL_LM")
    return get_peft_model(base.to(device), settings)


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
    """From the current position on: this rank's grad_accum micro-batches of each optimizer step, its slice
    of the step's global batch (an epoch's last examples that do not fill a step are left out, so every step
    has the same size)."""
    cfg = recipe.config.train
    per_step = global_batch(recipe.config, recipe.world)
    while True:
        epoch, in_epoch = divmod(recipe.step, recipe.steps_per_epoch)
        order = epoch_order(len(recipe.sequences), cfg.seed, epoch)
        ids = recipe.world.shard(order[in_epoch * per_step : (in_epoch + 1) * per_step])
        yield [collate([recipe.sequences[i] for i in ids[k : k + cfg.batch_size]], recipe)
               for k in range(0, len(ids), cfg.batch_size)]


def collate(rows: list[tuple[list[int], list[int]]], recipe: Recipe) -> dict[str, torch.Tensor]:
    """Right-padded to the longest row of the micro-batch; padding is masked and carries no loss. With a
    train.citation_weight or refusal_weight other than 1, `weights` holds each label's loss weight
    (pipelines.training.weights)."""
    pad = recipe.tokenizer.pad_token_id if recipe.tokenizer.pad_token_id is not None else 0
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (ids, labs) in enumerate(rows):
        input_ids[r, : len(ids)], labels[r, : len(ids)], mask[r, : len(ids)] = (
            torch.tensor(ids), torch.tensor(labs), 1)
    d = recipe.device
    batch = {"input_ids": input_ids.to(d), "attention_mask": mask.to(d), "labels": labels.to(d)}
    cfg = recipe.config.train
    if (cfg.citation_weight, cfg.refusal_weight) != (1.0, 1.0):
        marks = citation_marks(recipe.tokenizer)
        batch["weights"] = torch.tensor(
            [token_weights(row.tolist(), marks, cfg.citation_weight, cfg.refusal_weight) for row in labels],
            dtype=torch.float32, device=d)  # fmt: skip
    return batch


# --- train ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trained:
    decision: IntervalDecision | None  # the checkpoint interval chosen after the measured save
    tokens_by_rank: list[int]  # tokens each rank trained on (every rank ran: none is 0)


def train_step(recipe: Recipe, micro_batches: list[dict[str, torch.Tensor]]) -> float:
    """One optimizer step: the mean of the micro-batches' target-token losses (of every rank's micro-batches:
    DDP averages the gradients in the last backward, `world.mean` the loss that is logged)."""
    module = recipe.train_model
    module.train()
    total = 0.0
    for k, batch in enumerate(micro_batches):
        with accumulating(module, last=k == len(micro_batches) - 1):
            loss = weighted_loss(module, batch) if "weights" in batch else module(**batch).loss
            loss = loss / len(micro_batches)
            loss.backward()
        total += float(loss.detach())
    grads = [p.grad for group in recipe.optimizer.param_groups for p in group["params"] if p.grad is not None]
    # after DDP's all-reduce: the global batch's gradient, the same on every rank (and with one process)
    recipe.grad_norms.append(float(torch.nn.utils.get_total_norm(grads)))
    recipe.optimizer.step()
    recipe.scheduler.step()
    recipe.optimizer.zero_grad(set_to_none=True)
    recipe.step += 1
    total = recipe.world.mean(total)
    recipe.losses.append(total)
    return total


def first_save(recipe: Recipe, ckpt: Checkpointer, step_start: float, steps: int) -> IntervalDecision | None:
    """One real save, measured where it happens (rank 0), and the interval it implies, on every rank: they
    must all reach the same later saves, which gather their RNG states."""
    record = save_checkpoint(recipe, ckpt)
    decision = None
    if record is not None:
        ckpt.wait()
        decision = decide_interval(stall_s=record.stall_s, persist_s=record.persist_s,
                                   step_s=time.perf_counter() - step_start - record.persist_s,
                                   steps=steps, settings=recipe.config.checkpoint)
        log.info("checkpoint interval: %s", decision.reason)
    return recipe.world.from_main(decision)


def train(recipe: Recipe, profile: RunProfile, *, on_step: StepHook | None = None) -> Trained:
    """The loop, from the recipe's position to config.train.steps; checkpoints as measured (module doc)."""
    cfg, world = recipe.config.train, recipe.world
    decision: IntervalDecision | None = None
    with profile.stage("finetune_train") as st, Checkpointer(profile, recorder=st.io) as ckpt:
        started, tokens = recipe.step, 0
        t0 = time.perf_counter()
        for micro_batches in st.timed_batches(step_batches(recipe), samples=lambda b: len(b)):
            if recipe.step >= cfg.steps:
                break
            step_start = time.perf_counter()
            loss = train_step(recipe, micro_batches)
            tokens += sum(int(b["attention_mask"].sum()) for b in micro_batches)
            if world.is_main and (recipe.step % cfg.log_every == 0 or recipe.step == cfg.steps):
                log.info("step %d/%d loss %.4f lr %.2e", recipe.step, cfg.steps, loss,
                         recipe.scheduler.get_last_lr()[0])
            if decision is None and recipe.step < cfg.steps:  # measure one real save, then decide
                decision = first_save(recipe, ckpt, step_start, cfg.steps - started)
            elif decision is not None and decision.every_steps and recipe.step % decision.every_steps == 0 \
                    and recipe.step < cfg.steps:
                save_checkpoint(recipe, ckpt)
            if on_step is not None:
                on_step(recipe.step, loss)
        wall = time.perf_counter() - t0
        tokens_by_rank = world.gather(tokens)
        st.items(items_in=(recipe.step - started) * global_batch(recipe.config, world))
        st.note(tokens=sum(tokens_by_rank), tokens_per_s=sum(tokens_by_rank) / wall if wall else 0.0)
    return Trained(decision, tokens_by_rank)


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

    Under torchrun (WORLD_SIZE > 1) every rank runs this inside one process group; rank 0 alone saves and
    returns the summary, the others return {}. `profile`: the stage profiler of a larger run (the finetune
    flow's, whose data and evaluation stages share its run folder); a fresh one otherwise.
    """
    with joined() as world:
        profile = profile or RunProfile(run_id or f"finetune-{new_run_id()}")
        with profile.stage("finetune_setup") as st:
            recipe = setup(layout, base_model_dir, config, world)
            if resume_run:
                resume(recipe)
            st.items(items_in=len(recipe.sequences))
        log.info("rank %d of %d on %s: %d examples of each step's %d", world.rank, world.size,
                 recipe.device, global_batch(config, world) // world.size, global_batch(config, world))
        trained = train(recipe, profile, on_step=on_step)
        world.barrier()  # every rank has finished its last step before rank 0 merges and publishes
        return publish(recipe, profile, trained, merge_model=merge_model) if world.is_main else {}


def publish(recipe: Recipe, profile: RunProfile, trained: Trained, *, merge_model: bool) -> dict[str, Any]:
    """Rank 0's part: the adapter, the merged model, the profile and the training summary."""
    with profile.stage("finetune_save_adapter"):
        adapter = save_adapter(recipe)
    tuned = None
    if merge_model:
        with profile.stage("finetune_merge"):
            tuned = merge(recipe)
    folder = recipe.layout.run(profile.run_id)
    train_stage = next(s for s in profile.stages if s.stage == "finetune_train")
    summary = {
        "run_id": profile.run_id,
        "steps": recipe.step,
        "resumed_from_step": recipe.resumed_from,
        "losses": recipe.losses,
        "grad_norms": recipe.grad_norms,
        "data_card_sha256": recipe.data_card_sha256,
        "device": recipe.device.type,
        "world_size": recipe.world.size,
        "global_batch": global_batch(recipe.config, recipe.world),
        "tokens_by_rank": trained.tokens_by_rank,
        "tokens_per_s": train_stage.extra.get("tokens_per_s"),
        "checkpoint_decision": trained.decision.as_dict() if trained.decision else None,
        "checkpoints": [c.as_dict() for c in profile.checkpoints],
        "adapter": str(adapter),
        "tuned_model": str(tuned) if tuned else None,
    }
    profile.write(folder.io_profile)
    atomic_write_json(folder.training_summary, summary)
    return summary
