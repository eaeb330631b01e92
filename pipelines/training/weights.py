"""Per-token loss weights for the fine-tuning loop (pipelines.training.lora): the citation and the refusal."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch

from pipelines.core.prompt import NO_SAFE_CONTEXT

IGNORE = -100  # label of a token the loss skips: the prompt and the padding

# --- token weights: the citation and the refusal ---------------------------------------------------------
# Two decisions decide an answer's worth, and a plain mean over the target tokens hears neither well:
# - which source: a target is ~100 tokens and one of them (the "2" of "[2]") says which source it cites,
#   ~1% of the loss; train.citation_weight counts each citation digit as that many tokens;
# - whether to answer: a fifth of the examples (RAFT's distractor-only prompts) teach one fixed sentence, the
#   easiest target there is; after ~60 CPU steps the model says it to most held-out questions it could
#   answer (docs/results.md). train.refusal_weight scales those targets' tokens (< 1: heard less).
# The loss is sum(w x cross-entropy) / (number of target tokens): a weight moves a token's share of the
# step, and with every w = 1 it is transformers' own mean.


@dataclass(frozen=True, slots=True)
class CitationMarks:
    opens: frozenset[int]  # "[" and " [" (a citation after a word)
    digits: frozenset[int]
    closes: frozenset[int]  # every token that starts with "]": "]", "].", "],", "]:" ...
    refusal: tuple[int, ...]  # the no-source answer's tokens, then end-of-turn: a refusal target's labels


@functools.cache  # one per tokenizer: the vocabulary scan is ~5 ms, a micro-batch asks again
def citation_marks(tokenizer: Any) -> CitationMarks:
    """The token ids a `[n]` is written with; the weight needs "[" and each digit to be single tokens (as
    SmolLM2's and Llama 3's tokenizers write them)."""

    def one(text: str) -> int:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise ValueError(f"train.citation_weight: the tokenizer writes {text!r} as {len(ids)} tokens, "
                             "not one; this model needs citation_weight = 1")
        return int(ids[0])

    digits = frozenset(one(str(d)) for d in range(10))
    vocab = tokenizer.get_vocab()
    closes = frozenset({one("]"), *(i for token, i in vocab.items() if token.startswith("]"))})
    refusal = (*tokenizer(NO_SAFE_CONTEXT, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id)
    return CitationMarks(frozenset({one("["), one(" [")}), digits, closes, refusal)


def token_weights(
    labels: list[int], marks: CitationMarks, citation: float = 1.0, refusal: float = 1.0
) -> list[float]:
    """Per label: 0 where the loss skips it (IGNORE); `refusal` on every token of a refusal target;
    otherwise `citation` on the digits of each "[" digits "]" of the target and 1 on the other tokens."""
    target = [t for t in labels if t != IGNORE]
    if tuple(target) == marks.refusal:
        return [0.0 if t == IGNORE else refusal for t in labels]
    out = [0.0 if t == IGNORE else 1.0 for t in labels]
    k = 0
    while k < len(labels):
        if labels[k] in marks.opens:
            end = k + 1
            while end < len(labels) and labels[end] in marks.digits:
                end += 1
            if end > k + 1 and end < len(labels) and labels[end] in marks.closes:
                out[k + 1 : end] = [citation] * (end - k - 1)
                k = end
        k += 1
    return out


def weighted_loss(module: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The causal LM loss with per-token weights: sum(w x cross-entropy) / (target tokens), next-token
    shifted as transformers' own loss is (with every weight 1 it is that loss)."""
    logits = module(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logits = logits[:, :-1].float()
    labels, weights = batch["labels"][:, 1:], batch["weights"][:, 1:]
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1),
                                           ignore_index=IGNORE, reduction="none")  # fmt: skip
    return (ce * weights.reshape(-1)).sum() / (labels != IGNORE).sum()
