"""`vetted serve --model tuned` on a model fine-tuned for real: the recipe's own `vetted finetune train` (two
steps, 64 tokens, on the examples of a small real work folder) merges into WORK_DIR/models/tuned, and the real
vLLM server loads that folder and answers through the chat API. Without a tuned model the command refuses,
before any engine starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
import torch
from safetensors.torch import load_file

from curation.layout import WorkLayout
from pipelines.core.model_cache import BASE_MODEL_NAME
from pipelines.training.config import LoraSettings
from pipelines.training.data import build_examples, write_training_data
from serving.engine import free_port, live_group_pids
from tests.conftest import REPO_ROOT
from tests.pipelines.training.workdir import make_training_work_dir
from tests.serving.processes import VETTED, vetted_serve

TOKEN = "vt-test-steward-token"  # the legacy steward token: an admin, so it may use the staff chat API
# Two steps, 64 tokens a sequence: seconds on one core, and still a real step of the recipe (a measured save
# after step 1, then the merge). The learning rate is high so that two steps move the weights visibly.
TINY_RECIPE = """
[optim]
lr = 1e-3
warmup_steps = 1
[train]
steps = 2
max_seq_len = 64
batch_size = 1
grad_accum = 1
log_every = 1
"""
# vetted.toml's defaults, except: absolute paths (this file is not in the repo), generative answers (the
# model's own text, not a quote of the sources) and short ones (CPU decoding).
SERVE_SETTINGS = f"""
[paths]
sources_file = "{REPO_ROOT / 'sources.toml'}"
policy_file = "{REPO_ROOT / 'policy.toml'}"
[engine]
engine_python = "{REPO_ROOT / '.venv-vllm' / 'bin' / 'python'}"
max_tokens = 32
[answers]
mode = "generative"
[serving]
rate_limit_per_minute = 0
"""


def env() -> dict[str, str]:
    # one OpenMP thread: two spin against each other on a shared 2-core machine (docs/benchmarks.md)
    return os.environ | {"OMP_NUM_THREADS": "1", "VETTED_STEWARD_TOKEN": TOKEN}


@pytest.fixture(scope="module")
def tuned_work(tmp_path_factory, test_corpus, embedder, base_model_dir) -> Path:
    """A curated, indexed work folder whose models/tuned/ the real `vetted finetune train` wrote."""
    root = tmp_path_factory.mktemp("tuned")
    wd = make_training_work_dir(root, test_corpus, embedder)
    layout = WorkLayout(wd.work_dir)
    write_training_data(layout, build_examples(layout, wd.corpus_dir, seed=0))
    layout.models_dir.mkdir(parents=True, exist_ok=True)
    (layout.models_dir / BASE_MODEL_NAME).symlink_to(base_model_dir)  # ensure_base_model reuses it
    recipe = root / "tiny.toml"
    recipe.write_text(TINY_RECIPE)
    train = subprocess.run(
        [str(VETTED), "--work-dir", str(wd.work_dir), "finetune", "train", "--finetune-config", str(recipe)],
        cwd=REPO_ROOT, env=env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    return wd.work_dir


def test_the_merge_moves_the_projections_and_keeps_the_tied_head(tuned_work: Path, base_model_dir: Path):
    tuned_dir = WorkLayout(tuned_work).tuned_model_dir
    manifest = json.loads((tuned_dir / "manifest.json").read_text())
    assert manifest["steps"] == 2 and (tuned_dir / "tokenizer.json").is_file()
    tuned = load_file(tuned_dir / "model.safetensors")
    base = load_file(base_model_dir / "model.safetensors")
    assert tuned.keys() == base.keys()  # no lora_A/lora_B left over, nothing lost
    targets = LoraSettings().target_modules
    moved = {k for k in base if not torch.equal(tuned[k], base[k])}
    projections = {k for k in base if k.rsplit(".", 2)[-2] in targets}
    assert len(projections) == 30 * len(targets)  # SmolLM2-135M: 30 layers
    assert moved == projections  # the LoRA delta reached every adapted projection, and nothing else
    # The head is tied: no lm_head tensor of its own, the config still says so, and the embedding it reuses
    # is the base's (a tie broken by the merge would give a model that collapses on reload).
    assert "lm_head.weight" not in tuned
    assert json.loads((tuned_dir / "config.json").read_text())["tie_word_embeddings"] is True
    assert torch.equal(tuned["model.embed_tokens.weight"], base["model.embed_tokens.weight"])


@pytest.mark.engine
@pytest.mark.usefixtures("no_leftover_processes")
def test_vetted_serve_tuned_loads_it_in_vllm_and_answers(tuned_work: Path, tmp_path: Path) -> None:
    settings = tmp_path / "vetted.toml"
    settings.write_text(SERVE_SETTINGS)
    port = free_port()
    argv = ["--config", str(settings), "--work-dir", str(tuned_work), "serve", "--model", "tuned"]
    with vetted_serve([*argv, "--port", str(port)], env=env()) as serve:
        models = httpx.get(f"{serve.engine_url}/models", timeout=10).json()["data"]
        assert [(m["id"], m["root"]) for m in models] == [
            ("vetted-smollm2", str(WorkLayout(tuned_work).tuned_model_dir))
        ]
        completion = httpx.post(
            f"{serve.engine_url}/chat/completions",
            json={"model": "vetted-smollm2", "messages": [{"role": "user", "content": "What is Python?"}],
                  "max_tokens": 16, "temperature": 0.0},
            timeout=120,
        )  # fmt: skip
        assert completion.status_code == 200, completion.text
        assert completion.json()["choices"][0]["message"]["content"].strip()
        reply = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat", json={"question": "What is Python?"},
            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=180,
        )  # fmt: skip
        assert reply.status_code == 200, reply.text
        answer = reply.json()
        assert answer["mode"] == "generative" and answer["has_safe_context"]
        assert answer["answer"].strip() and answer["usage"]["completion_tokens"] > 0  # the tuned model spoke
        assert any(c["path"].startswith("product-docs-python/faq/") for c in answer["citations"])
        serve.proc.send_signal(signal.SIGTERM)
        assert serve.proc.wait(timeout=60) == 0, serve.tail()
        assert live_group_pids(serve.engine_group) == []


def test_serve_tuned_without_a_tuned_model_refuses_before_starting_vllm(tmp_path: Path) -> None:
    work = tmp_path / "work"
    done = subprocess.run(
        [str(VETTED), "--work-dir", str(work), "serve", "--model", "tuned", "--port", str(free_port())],
        cwd=REPO_ROOT, env=env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"vetted serve: no fine-tuned model at {work / 'models' / 'tuned'}: run `vetted finetune` "
        "(or `make finetune`) first, or serve the base model"
    )
    assert "Traceback" not in done.stderr
    assert not (work / "logs" / "vllm.log").exists()  # the engine's log is opened when it is spawned
