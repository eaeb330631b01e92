"""train.citation_weight and train.refusal_weight: the digits of a target's [n], and the tokens of a refusal
target, count as that many tokens in the loss, on the real SmolLM2 tokenizer and weights; with weights 1 the
loss is transformers' own."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from pipelines.core.prompt import NO_SAFE_CONTEXT, PromptSource, build_prompt
from pipelines.training.config import FinetuneConfig
from pipelines.training.data import Example
from pipelines.training.lora import tokenize
from pipelines.training.weights import IGNORE, citation_marks, token_weights, weighted_loss

SOURCES = [
    PromptSource("VACUUM", "product-docs-postgresql", "VACUUM reclaims storage occupied by dead tuples."),
    PromptSource("Lists", "product-docs-python", "Lists are mutable sequences."),
]


def example(target: str) -> Example:
    return Example("d:0", "d", "section", "train", build_prompt("What does VACUUM do?", SOURCES), target, 1,
                   ["d", "e"], "product-docs-postgresql")  # fmt: skip


@pytest.fixture(scope="module")
def tokenizer(base_model_dir):
    return AutoTokenizer.from_pretrained(base_model_dir)


def weighted_tokens(target: str, tokenizer, weight: float = 5.0,
                    refusal: float = 0.25) -> list[tuple[str, float]]:
    ids, labels = tokenize(example(target), tokenizer, 1024)
    weights = token_weights(labels, citation_marks(tokenizer), weight, refusal)
    assert all(w == 0 for w, t in zip(weights, labels, strict=True) if t == IGNORE)  # the prompt: no loss
    return [(tokenizer.decode([t]), w) for t, w in zip(labels, weights, strict=True) if t != IGNORE]


def test_the_digits_of_a_citation_carry_the_weight_first_or_last(tokenizer):
    first = weighted_tokens("[2] VACUUM reclaims storage.", tokenizer)
    assert [t for t, w in first if w == 5.0] == ["2"]
    assert first[:3] == [("[", 1.0), ("2", 5.0), ("]", 1.0)]
    last = weighted_tokens("VACUUM reclaims storage. [3]", tokenizer)
    assert [t for t, w in last if w == 5.0] == ["3"]
    many = weighted_tokens("[12] Storage is reclaimed [1].", tokenizer)
    assert [t for t, w in many if w == 5.0] == ["1", "2", "1"]


def test_a_refusal_target_takes_the_refusal_weight_and_nothing_else_does(tokenizer):
    refusal = weighted_tokens(NO_SAFE_CONTEXT, tokenizer)
    assert {w for _, w in refusal} == {0.25} and len(refusal) > 10
    assert {w for _, w in weighted_tokens(NO_SAFE_CONTEXT + " Sorry.", tokenizer)} == {1.0}
    assert {w for _, w in weighted_tokens("I have no vetted source [1].", tokenizer)} == {1.0, 5.0}


def test_brackets_that_are_no_citation_keep_weight_one(tokenizer):
    # (a "[0]" the source itself writes, as code, would count: the weight cannot tell it from a citation)
    for target in ("Use [x] for it.", "An open [2 bracket and 1.5]", "Version 3.11 of [] it"):
        assert {w for _, w in weighted_tokens(target, tokenizer)} == {1.0}, target


def test_weight_one_is_transformers_loss_and_a_weight_moves_it_by_the_formula(base_model_dir, tokenizer):
    model = AutoModelForCausalLM.from_pretrained(base_model_dir, dtype=torch.float32).eval()
    marks = citation_marks(tokenizer)
    rows = [tokenize(example(t), tokenizer, 1024) for t in ("[1] VACUUM reclaims storage.", NO_SAFE_CONTEXT)]
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.zeros((2, width), dtype=torch.long)
    labels = torch.full((2, width), IGNORE, dtype=torch.long)
    mask = torch.zeros((2, width), dtype=torch.long)
    for r, (ids, labs) in enumerate(rows):
        input_ids[r, : len(ids)], labels[r, : len(ids)] = torch.tensor(ids), torch.tensor(labs)
        mask[r, : len(ids)] = 1
    batch = {"input_ids": input_ids, "attention_mask": mask, "labels": labels}
    with torch.no_grad():
        plain = model(**batch).loss
        ones = weighted_loss(model, batch | {"weights": (labels != IGNORE).float()})
        torch.testing.assert_close(ones, plain, rtol=1e-6, atol=1e-6)

        weights = torch.tensor([token_weights(row.tolist(), marks, 10.0, 0.5) for row in labels])
        heavy = weighted_loss(model, batch | {"weights": weights})
        logits = model(input_ids=input_ids, attention_mask=mask).logits[:, :-1]
        ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1),
                                               ignore_index=IGNORE, reduction="none").view(2, -1)  # fmt: skip
        w = weights[:, 1:]
        torch.testing.assert_close(heavy, (ce * w).sum() / (labels != IGNORE).sum())
        assert int((w == 10.0).sum()) == 1 and int((w[1] == 0.5).sum()) == int((labels[1] != IGNORE).sum())
        assert not torch.isclose(heavy, plain)


def test_a_tokenizer_that_splits_the_marks_is_refused():
    class Splitting:
        def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
            return {"input_ids": [ord(c) for c in text] * 2}

        def get_vocab(self) -> dict[str, int]:
            return {"]": 93}

    with pytest.raises(ValueError, match="citation_weight = 1"):
        citation_marks(Splitting())


@pytest.mark.parametrize("weight", [0, -1.0])
@pytest.mark.parametrize("name", ["citation_weight", "refusal_weight"])
def test_a_weight_that_is_not_positive_is_refused(name, weight):
    with pytest.raises(ValueError, match=f"{name} must be > 0"):
        FinetuneConfig.from_dict({"train": {name: weight}})
