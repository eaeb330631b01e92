"""Fine-tuning examples built from a real work folder: safe documents only, a held-out split that never leaks
into training prompts, ~20% refusals, targets that cite the gold source, no planted secret anywhere."""

from __future__ import annotations

import json
import re

import pytest

from curation.layout import WorkLayout
from pipelines.core.prompt import NO_SAFE_CONTEXT
from pipelines.training.data import (
    MissingIndexError,
    build_examples,
    read_training_data,
    token_counts,
    write_training_data,
)
from tests.pipelines.training.workdir import REJECTED_PAGE, make_training_work_dir

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, test_corpus, embedder):
    return make_training_work_dir(tmp_path_factory.mktemp("train-data"), test_corpus, embedder)


@pytest.fixture(scope="module")
def examples(workdir):
    return build_examples(WorkLayout(workdir.work_dir), workdir.corpus_dir, seed=3)


def _prompt(e) -> str:
    return "\n".join(m["content"] for m in e.messages)


def test_only_documents_safe_now_are_used(workdir, examples):
    used = {d for e in examples for d in e.source_doc_ids} | {e.doc_id for e in examples}
    assert used and all(workdir.tiers[d] == "safe" for d in used)
    rejected = next(d for d, p in workdir.paths.items() if p == REJECTED_PAGE)
    assert rejected not in used  # safe in documents.parquet, rejected by the steward since
    assert {"faq", "section", "refusal"} <= {e.kind for e in examples}


def test_faq_pages_missing_from_the_corpus_folder_are_said_and_built_as_sections(workdir, tmp_path, caplog):
    caplog.set_level("WARNING", logger="pipelines.training.data")
    elsewhere = build_examples(WorkLayout(workdir.work_dir), tmp_path / "another-corpus", seed=3)
    assert "faq" not in {e.kind for e in elsewhere} and "section" in {e.kind for e in elsewhere}
    [record] = [r for r in caplog.records if "FAQ page(s) not found" in r.getMessage()]
    assert str(tmp_path / "another-corpus") in record.getMessage() and "--corpus DIR" in record.getMessage()


def test_heldout_documents_never_appear_in_a_training_prompt(workdir, examples):
    heldout = {e.doc_id for e in examples if e.split == "heldout"}
    assert heldout and any(e.split == "train" for e in examples)
    assert not heldout & {e.doc_id for e in examples if e.split == "train"}
    heldout_titles = {e.messages[1]["content"].split(f"[{e.gold_n}] ", 1)[1].split("\n", 1)[0]
                      for e in examples if e.split == "heldout" and e.gold_n}
    for e in examples:
        if e.split == "train":
            assert not heldout & set(e.source_doc_ids), e.example_id
            assert not any(f"] {title}\n" in e.messages[1]["content"] for title in heldout_titles)


def test_refusals_are_one_in_five_and_targets_cite_the_gold_source(examples):
    refusals = [e for e in examples if e.kind == "refusal"]
    assert abs(len(refusals) / len(examples) - 0.2) < 0.02
    for e in refusals:
        assert e.target == NO_SAFE_CONTEXT and e.gold_n is None and e.doc_id not in e.source_doc_ids
        assert len(e.source_doc_ids) == 3
    positions = set()
    for e in examples:
        if e.kind == "refusal":
            continue
        assert e.target.startswith(f"[{e.gold_n}] ")
        assert e.source_doc_ids[e.gold_n - 1] == e.doc_id and len(e.source_doc_ids) == 3
        assert f"[{e.gold_n}] " in e.messages[1]["content"]
        # the answer is the gold source's own text (FOLDOC's {link} braces left out)
        answer = e.target.split("] ", 1)[1]
        gold_block = re.sub(r"[{}]", "", e.messages[1]["content"].split(f"[{e.gold_n}] ", 1)[1])
        assert " ".join(answer.split())[:80] in " ".join(gold_block.split())
        positions.add(e.gold_n)
    assert positions == {1, 2, 3}  # the gold source moves around


def test_no_canary_or_planted_personal_value_in_any_example(workdir, examples):
    planted_emails = set()
    for path in workdir.corpus_dir.glob("confidential/*"):
        planted_emails |= set(EMAIL.findall(path.read_text()))
    assert planted_emails  # the test corpus does plant them
    for e in examples:
        blob = _prompt(e) + e.target
        assert not any(c in blob for c in workdir.canaries), e.example_id
        assert not planted_emails & set(EMAIL.findall(blob)), e.example_id


def test_same_seed_same_examples_and_card_hash_checked(workdir, examples, base_model_dir):
    layout = WorkLayout(workdir.work_dir)
    again = build_examples(layout, workdir.corpus_dir, seed=3)
    assert [e.example_id for e in again] == [e.example_id for e in examples]
    tokens = token_counts(examples, base_model_dir)
    assert 0 < tokens["train_target"] < tokens["train"] and 0 < tokens["heldout_target"] < tokens["heldout"]
    data = write_training_data(layout, examples, tokens=tokens)
    card = json.loads(layout.data_card.read_text())
    assert card["sha256"] == data.card["sha256"] and card["examples"] == len(examples)
    assert sum(card["by_kind"].values()) == len(examples) and set(card["documents"]) == {"train", "heldout"}
    assert card["tokens"] == tokens
    assert read_training_data(layout).card == card
    layout.training_examples.write_bytes(layout.training_examples.read_bytes()[:-10])
    with pytest.raises(ValueError, match="differs from its data card"):
        read_training_data(layout)


def test_no_index_says_to_run_ingest(tmp_path):
    with pytest.raises(MissingIndexError, match="vetted ingest"):
        build_examples(WorkLayout(tmp_path), None)
