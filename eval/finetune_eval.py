"""Base vs fine-tuned on the held-out documents' RAFT prompts: the same production prompt, the same sources.

Each held-out example (pipelines.training.data: split "heldout", documents no training prompt ever held) is
the prompt the service would send (numbered sources, the gold one among real distractors, or distractors only)
and a target taken from the gold source. Both models answer it with transformers' greedy decoding on the same
device, so the comparison isolates the weights: no engine, no retriever variance. `vetted eval answers --model
tuned` measures the served path (vLLM, live retrieval) on a question file.

Per example: token F1 against the target; `cited_accuracy` (the answer cites the gold source's [n]);
`citation_precision` (share of the [n] it writes that are the gold one); groundedness against the prompt's
sources (eval.metrics.groundedness); for distractor-only prompts, whether it refused (`correct_refusal`), and
for the others whether it refused anyway (`false_refusal`).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from eval.metrics import groundedness, is_refusal, mean, token_f1
from pipelines.core.embedding import Embedder
from pipelines.observability.fsio import atomic_write_json
from pipelines.training.data import Example

_CITED = re.compile(r"\[(\d+)\]")
# Goals of the fine-tune issue, tuned against base on the held-out split.
GOALS = {
    "cited_accuracy": "tuned >= 0.7",
    "token_f1": "tuned >= 2 x base",
    "groundedness": "tuned >= base",
    "correct_refusal": "tuned >= base",
}


def generate_answers(
    model_dir: Path,
    examples: Sequence[Example],
    *,
    max_new_tokens: int = 160,
    repetition_penalty: float = 1.1,
    on_answer: Callable[[Example, str], None] | None = None,
) -> tuple[list[str], float]:
    """Greedy answers to each example's messages, and the seconds spent generating them; `on_answer` is
    called with each answer as soon as it is written."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    tokenizer: Any = AutoTokenizer.from_pretrained(model_dir)  # transformers' stubs type its returns loosely
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    model = model.to(device).eval()
    answers = []
    started = time.perf_counter()
    for e in examples:
        enc = tokenizer.apply_chat_template(
            e.messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(device)
        ids = enc["input_ids"]
        with torch.no_grad():
            out = model.generate(
                ids, attention_mask=enc["attention_mask"], max_new_tokens=max_new_tokens, do_sample=False,
                repetition_penalty=repetition_penalty, pad_token_id=tokenizer.eos_token_id,
            )  # fmt: skip
        answers.append(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip())
        if on_answer is not None:
            on_answer(e, answers[-1])
    return answers, time.perf_counter() - started


def score_example(e: Example, answer: str, embedder: Embedder | None) -> dict[str, Any]:
    cited = [int(n) for n in _CITED.findall(answer)]
    refused = is_refusal(answer)
    sources = e.messages[-1]["content"].rsplit("\n\nQuestion:", 1)[0]
    row: dict[str, Any] = {"example_id": e.example_id, "kind": e.kind, "answer": answer, "refused": refused}
    if e.gold_n is None:  # distractors only: the right answer is the refusal
        row["correct_refusal"] = float(refused)
        return row
    grounded = None if refused or embedder is None else groundedness(answer, [sources], embedder.embed)
    row |= {
        "token_f1": round(token_f1(answer, _CITED.sub(" ", e.target)), 4),
        "cited_accuracy": float(e.gold_n in cited),
        "citation_precision": (sum(n == e.gold_n for n in cited) / len(cited)) if cited else None,
        "false_refusal": float(refused),
        "groundedness": grounded,
    }
    return row


def answers_key(model_dir: Path, device: str, generate: dict[str, Any]) -> str:
    """What fixes a greedy answer besides the prompt: the weights and tokenizer (their bytes), the device
    (fp32 on a CPU and bf16 on a GPU answer differently) and the decoding settings."""
    h = hashlib.sha256(json.dumps({"device": device, **generate}, sort_keys=True).encode())
    files = sorted(p for p in model_dir.iterdir() if p.is_file() and p.suffix in (".safetensors", ".json"))
    for path in files:
        h.update(path.name.encode())
        with path.open("rb") as f:
            while block := f.read(1 << 24):
                h.update(block)
    return h.hexdigest()


def prompt_key(e: Example) -> str:
    return hashlib.sha256(json.dumps(e.messages, sort_keys=True).encode()).hexdigest()


def evaluate_model(
    model_dir: Path,
    examples: Sequence[Example],
    embedder: Embedder | None = None,
    *,
    answers_cache: Path | None = None,
    **generate: Any,
) -> dict[str, Any]:
    """Every held-out example answered and scored; the summary holds the means.

    answers_cache: a folder of answers already given by these same weights to these same prompts
    (`answers_key`): only the prompts it lacks are generated, each added as it is written. The flow
    passes it for the base model, whose weights never change, so a second `vetted finetune` on the same
    held-out prompts skips the base model's ~16 minutes of CPU generation; scores are always recomputed,
    since the targets may change while the prompts do not."""
    import torch

    answers: dict[str, str] = {}
    cache_file = None
    if answers_cache is not None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        cache_file = answers_cache / f"answers-{answers_key(model_dir, device, generate)[:24]}.json"
        if cache_file.exists():
            answers = json.loads(cache_file.read_text(encoding="utf-8"))
        cache_file.parent.mkdir(parents=True, exist_ok=True)
    todo = [e for e in examples if prompt_key(e) not in answers]

    def keep(e: Example, answer: str) -> None:  # each answer kept as it comes: a killed run loses one
        answers[prompt_key(e)] = answer
        if cache_file is not None:
            atomic_write_json(cache_file, answers)

    _, seconds = generate_answers(model_dir, todo, on_answer=keep, **generate) if todo else ([], 0.0)
    rows = [score_example(e, answers[prompt_key(e)], embedder) for e in examples]
    summary: dict[str, Any] = {
        "examples": len(rows),
        "generated": len(todo),  # the rest came from answers_cache
        "s_per_example": round(seconds / len(todo), 2) if todo else None,
    }
    for name in ("token_f1", "cited_accuracy", "citation_precision", "groundedness", "correct_refusal",
                 "false_refusal"):
        value = mean(r.get(name) for r in rows)
        summary[name] = None if value is None else round(value, 4)
    return {"model": str(model_dir), "summary": summary, "rows": rows}


def compare(base: dict[str, Any], tuned: dict[str, Any]) -> dict[str, Any]:
    """Base vs tuned summaries and whether each goal of the fine-tune issue holds."""
    b, t = base["summary"], tuned["summary"]

    def at_least(name: str, floor: float | None) -> bool | None:
        return None if t.get(name) is None or floor is None else t[name] >= floor

    met = {
        "cited_accuracy": at_least("cited_accuracy", 0.7),
        "token_f1": at_least("token_f1", None if b.get("token_f1") is None else 2 * b["token_f1"]),
        "groundedness": at_least("groundedness", b.get("groundedness")),
        "correct_refusal": at_least("correct_refusal", b.get("correct_refusal")),
    }
    return {"base": b, "tuned": t, "goals": GOALS, "met": met}


def heldout(examples: Sequence[Example], limit: int | None = None) -> list[Example]:
    """The held-out examples, answerable and refusals interleaved as built (seeded order), first `limit`."""
    kept = [e for e in examples if e.split == "heldout"]
    return kept[:limit] if limit else kept
