"""The fine-tuning recipe's settings (`finetune.toml`, every value commented there with its trade-off)."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

# Llama 3 (Meta 2024, "The Llama 3 Herd of Models", sec. 3.3.4): 419 unexpected interruptions in 54 days on
# 16,384 GPUs, i.e. one per 16,384 x 54 x 24 / 419 = 50,677 GPU-hours. io_plan's node default is the same
# figure per 8-GPU node (6,000 node-hours, rounded).
LLAMA3_MTBF_DEVICE_HOURS = 16_384 * 54 * 24 / 419


@dataclass(frozen=True, slots=True)
class LoraSettings:
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: tuple[str, ...] = (
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
    )


@dataclass(frozen=True, slots=True)
class OptimSettings:
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup_steps: int = 10
    min_lr_ratio: float = 0.1  # cosine decays to lr x this


@dataclass(frozen=True, slots=True)
class TrainSettings:
    steps: int = 300
    max_seq_len: int = 1536
    batch_size: int = 2
    grad_accum: int = 8
    seed: int = 0
    log_every: int = 10
    citation_weight: float = 20.0  # loss weight of a citation's digit tokens ([2]'s "2"); 1 = a plain mean
    refusal_weight: float = 0.25  # loss weight of a refusal target's tokens (the service's no-source answer)


@dataclass(frozen=True, slots=True)
class CheckpointSettings:
    every_steps: int = 0  # 0: chosen from one measured save, the MTBF and Daly's interval
    mtbf_device_hours: float = LLAMA3_MTBF_DEVICE_HOURS
    devices: int = 1
    max_expected_failures: float = 0.01  # below this over the planned run: no intermediate checkpoint
    keep: int = 2  # the newest two: when the newest is damaged, the one before it resumes the run


@dataclass(frozen=True, slots=True)
class FinetuneConfig:
    lora: LoraSettings = field(default_factory=LoraSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    checkpoint: CheckpointSettings = field(default_factory=CheckpointSettings)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinetuneConfig:
        """From finetune.toml's tables (or a checkpoint's config); an unknown key fails at once."""
        parts: dict[str, Any] = {}
        for f in fields(cls):
            section_type = {"lora": LoraSettings, "optim": OptimSettings, "train": TrainSettings,
                            "checkpoint": CheckpointSettings}[f.name]
            values = dict(data.get(f.name, {}))
            known = {g.name for g in fields(section_type)}
            unknown = set(values) - known
            if unknown:
                raise ValueError(f"[{f.name}]: unknown keys {sorted(unknown)}; known {sorted(known)}")
            if "target_modules" in values:
                values["target_modules"] = tuple(values["target_modules"])
            parts[f.name] = section_type(**values)
        unknown_sections = set(data) - {f.name for f in fields(cls)}
        if unknown_sections:
            raise ValueError(f"finetune config: unknown sections {sorted(unknown_sections)}")
        return cls(**parts).checked()

    def checked(self) -> FinetuneConfig:
        for name, value in (("train.steps", self.train.steps), ("train.batch_size", self.train.batch_size),
                            ("train.grad_accum", self.train.grad_accum), ("lora.rank", self.lora.rank),
                            ("train.max_seq_len", self.train.max_seq_len)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        for name, weight in (("citation_weight", self.train.citation_weight),
                             ("refusal_weight", self.train.refusal_weight)):
            if not weight > 0:
                raise ValueError(f"train.{name} must be > 0, got {weight}")
        return self

    def with_steps(self, steps: int) -> FinetuneConfig:
        return replace(self, train=replace(self.train, steps=steps)).checked()


# On a CPU the GPU-sized defaults take hours; these replace them there (finetune.toml's [cpu] table says why
# each): 60 steps x 4 sequences of up to 1,024 tokens, 12-17 minutes at this 2-core VM's 150-190 tokens/s.
CPU_DEFAULTS: dict[str, dict[str, Any]] = {
    "train": {"steps": 60, "max_seq_len": 1024, "batch_size": 1, "grad_accum": 4, "log_every": 2},
    "optim": {"lr": 5e-4, "warmup_steps": 2},
}


def load_config(path: Path | None, *, gpu: bool = True) -> FinetuneConfig:
    """The recipe from `path` (None: the built-in defaults); on a CPU (`gpu=False`) its [cpu] table on top."""
    if path is None:
        data: dict[str, Any] = {"cpu": CPU_DEFAULTS}
    elif not path.is_file():
        raise FileNotFoundError(f"fine-tuning config {path} not found (the repository has finetune.toml)")
    else:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    cpu = data.pop("cpu", {})
    if not gpu:
        for section, values in cpu.items():
            if not isinstance(values, dict):
                raise ValueError(f"[cpu.{section}] must be a table of the [{section}] keys it replaces")
            data[section] = dict(data.get(section, {})) | values
    return FinetuneConfig.from_dict(data)
