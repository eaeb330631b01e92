"""Fine-tuning examples from the safe tier, RAFT-style (Zhang et al. 2024, "RAFT: Adapting Language Model to
Domain Specific RAG"): the production prompt with the gold source among distractors, and an answer taken from
the gold source that cites it.

    vetted finetune data        # WORK_DIR/training/examples.jsonl + data_card.json

What goes in:
- only documents whose tier NOW is safe (`curation.tiers.current_tiers`: the steward's overrides on top of the
  last run), with their text as documents.parquet stores it; review and unsafe documents never appear, not
  even as distractors;
- `faq` examples: each Python FAQ entry (`curation.faq.faq_sections`, the parser eval.build_qa uses) whose
  answer appears word for word in the stored text (an entry the stored text lacks, e.g. redacted, is dropped);
  the gold source is the heading and its answer, the target the answer's first sentences;
- `section` examples: every other safe document's first chunk, asked as "What is <title>?" (FOLDOC entries are
  definitions) or "What does <title> say?", the target its opening sentences;
- `refusal` examples (`refusal_share` of all, chosen by seed): distractors only, the target the service's own
  no-source answer (`pipelines.core.prompt.NO_SAFE_CONTEXT`).

Distractors are the chunks nearest the gold chunk in the current index build (dot product of the stored,
normalised MiniLM vectors, read through `pipelines.core.index_files.chunk_vectors`), from other documents:
what the retriever would put next to the gold source, without loading the embedder or importing serving. The
gold source takes a seeded random position among them and the target opens by citing it: "[n] <answer>".
The citation comes first so that it is the answer's first decision (which source, or the refusal's "I have
no vetted source") and no run-on copy of the source can keep it from being written; with `[n]` at the end,
the tuned model often copied on past the extract and never cited (docs/results.md, 2026-12-04).

The split is by document: `heldout_share` of the documents (seeded) are held out, and no training prompt holds
any of their text, as gold or as distractor.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curation.faq import faq_sections, foldoc_definition
from curation.layout import WorkLayout
from curation.models import Tier
from curation.table import read_documents
from curation.tiers import current_tiers
from pipelines.core.index_files import chunk_vectors, current_build
from pipelines.core.prompt import NO_SAFE_CONTEXT, PromptSource, build_prompt
from pipelines.observability.fsio import atomic_write_bytes, atomic_write_json
from pipelines.observability.recorder import IoRecorder

FAQ_PATH = "/faq/"  # the Python FAQ pages, as the corpus lays them out (product-docs-python/faq/<page>.html)
FOLDOC_SOURCE = "kb-foldoc"  # definitions: asked as "What is <headword>?"
TARGET_MAX_CHARS = 400  # the answer's first sentences up to this: short targets, sequences under 512 tokens
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

log = logging.getLogger(__name__)


class MissingIndexError(RuntimeError):
    """No documents table or index build yet: nothing to build examples from."""


@dataclass(slots=True)
class Example:
    example_id: str
    doc_id: str  # the gold document (a refusal: the document whose question it is, left out of the prompt)
    kind: str  # faq | section | refusal
    split: str  # train | heldout
    messages: list[dict[str, str]]  # the production prompt (pipelines.core.prompt.build_prompt)
    target: str
    gold_n: int | None  # the gold source's number in the prompt; None for a refusal
    source_doc_ids: list[str] = field(default_factory=list)  # every document whose text is in the prompt
    source: str = ""  # the gold document's source (corpus folder)


@dataclass(slots=True)
class _Item:
    doc_id: str
    kind: str
    question: str
    answer: str
    gold: PromptSource
    gold_chunk: int  # row in the chunk table the distractors are searched around


@dataclass(slots=True)
class TrainingData:
    examples: list[Example]
    card: dict[str, Any]


def build_examples(
    layout: WorkLayout,
    corpus_dir: Path | None,
    *,
    seed: int = 0,
    heldout_share: float = 0.2,
    refusal_share: float = 0.2,
    n_sources: int = 3,
) -> list[Example]:
    """Every example, train and held-out, in a seeded order (see the module docstring)."""
    if not layout.documents.exists():
        raise MissingIndexError(f"{layout.documents} not found: run `vetted ingest` first")
    build = current_build(layout.root)
    if build is None:
        raise MissingIndexError(f"no index build in {layout.index_dir}: run `vetted ingest` first")
    safe = {d for d, now in current_tiers(layout).items() if now.tier is Tier.SAFE}
    docs = [r for r in read_documents(layout.documents).to_pylist() if r["doc_id"] in safe]
    chunks, vectors = chunk_vectors(build)
    every = chunks.to_pylist()
    keep = np.array([r["doc_id"] in safe for r in every], dtype=bool)  # the build re-checked: tiers now
    rows, vectors = [r for r, k in zip(every, keep, strict=True) if k], vectors[keep]
    items = [item for doc in docs for item in _items(doc, rows, corpus_dir)]
    missing = [d["path"] for d in docs if FAQ_PATH in d["path"] and not _page(corpus_dir, d["path"])]
    if missing:  # each becomes one "section" example instead of one per question: say why, and the fix
        log.warning("%d FAQ page(s) not found under %s (%s...): built as sections; pass the corpus "
                    "the work folder was curated from (`vetted finetune data --corpus DIR`)",
                    len(missing), corpus_dir, missing[0])  # fmt: skip

    rng = random.Random(seed)
    doc_ids = sorted({i.doc_id for i in items})
    rng.shuffle(doc_ids)
    heldout = set(doc_ids[: round(heldout_share * len(doc_ids))]) if len(doc_ids) > 1 else set()
    rng.shuffle(items)
    refusals = set(rng.sample(range(len(items)), round(refusal_share * len(items))))
    chunk_docs = np.array([r["doc_id"] for r in rows])
    examples = []
    for k, item in enumerate(items):
        split = "heldout" if item.doc_id in heldout else "train"
        # A training prompt never holds held-out text; a held-out prompt may hold anything safe.
        allowed = chunk_docs != item.doc_id
        if split == "train":
            allowed &= ~np.isin(chunk_docs, list(heldout))
        refusal = k in refusals
        n_distractors = n_sources if refusal else n_sources - 1
        distractors = _nearest(vectors, item.gold_chunk, allowed, chunk_docs, n_distractors)
        sources = [PromptSource(rows[i]["title"], rows[i]["source"], rows[i]["text"]) for i in distractors]
        doc_order = [str(chunk_docs[i]) for i in distractors]
        gold_n = None
        if not refusal:
            at = rng.randrange(len(sources) + 1)
            sources.insert(at, item.gold)
            doc_order.insert(at, item.doc_id)
            gold_n = at + 1
        target = NO_SAFE_CONTEXT if refusal else f"[{gold_n}] {item.answer}"
        examples.append(
            Example(
                example_id=f"{item.doc_id}:{k}",
                doc_id=item.doc_id,
                kind="refusal" if refusal else item.kind,
                split=split,
                messages=build_prompt(item.question, sources),
                target=target,
                gold_n=gold_n,
                source_doc_ids=doc_order,
                source=item.gold.source,
            )
        )
    return examples


def _items(doc: dict[str, Any], rows: list[dict[str, Any]], corpus_dir: Path | None) -> list[_Item]:
    """The questions one safe document answers, each with its gold source and target."""
    own = [i for i, r in enumerate(rows) if r["doc_id"] == doc["doc_id"]]
    if not own:  # safe now but not in this build (approved since): nothing to put in a prompt yet
        return []
    page = _page(corpus_dir, doc["path"])
    if FAQ_PATH in doc["path"] and page is not None:
        stored = " ".join(doc["text"].split())
        items = []
        for _, question, answer in faq_sections(page.read_text(encoding="utf-8")):
            if answer not in stored:  # only what the stored text says (redaction may have changed it)
                continue
            near = next((i for i in own if answer[:60] in " ".join(rows[i]["text"].split())), own[0])
            gold = PromptSource(doc["title"], doc["source"], f"{question}\n{answer}")
            items.append(_Item(doc["doc_id"], "faq", question, first_sentences(answer), gold, near))
        return items
    first = min(own, key=lambda i: rows[i]["chunk_no"])
    text = rows[first]["text"]
    if doc["source"] == FOLDOC_SOURCE:
        answer = first_sentences(foldoc_definition(text))
    else:  # the chunk opens with the page title (the heading): the answer is what follows it
        body = text.split("\n", 1)[1] if text.startswith(doc["title"]) and "\n" in text else text
        answer = first_sentences(" ".join(body.split()))
    if not answer:
        return []
    foldoc = doc["source"] == FOLDOC_SOURCE
    question = f"What is {doc['title']}?" if foldoc else f"What does {doc['title']} say?"
    gold = PromptSource(doc["title"], doc["source"], text)
    return [_Item(doc["doc_id"], "section", question, answer, gold, first)]


def _page(corpus_dir: Path | None, path: str) -> Path | None:
    """The document's source file in the corpus folder, if it is there."""
    page = corpus_dir / path if corpus_dir is not None else None
    return page if page is not None and page.is_file() else None


def first_sentences(text: str, max_chars: int = TARGET_MAX_CHARS) -> str:
    """The opening sentences of `text` that fit in max_chars (the first one cut at a word if it is longer)."""
    out = ""
    for sentence in _SENTENCE_END.split(text.strip()):
        if out and len(out) + 1 + len(sentence) > max_chars:
            break
        out = f"{out} {sentence}".strip()
    return out if len(out) <= max_chars else out[:max_chars].rsplit(" ", 1)[0]


def _nearest(
    vectors: np.ndarray, query: int, allowed: np.ndarray, chunk_docs: np.ndarray, n: int
) -> list[int]:
    """Rows of the n chunks nearest `query` by dot product, among `allowed`, one per document."""
    scores = vectors @ vectors[query]
    picked: list[int] = []
    seen: set[str] = set()
    for i in np.argsort(-scores, kind="stable"):
        if allowed[i] and chunk_docs[i] not in seen:
            picked.append(int(i))
            seen.add(str(chunk_docs[i]))
            if len(picked) == n:
                break
    return picked


def data_card(examples: list[Example], jsonl: bytes, tokens: dict[str, int] | None = None) -> dict[str, Any]:
    """What the examples are: counts by split, kind and source, the documents of each split, their sha256."""
    card: dict[str, Any] = {
        "examples": len(examples),
        "sha256": hashlib.sha256(jsonl).hexdigest(),
        "by_split": dict(Counter(e.split for e in examples)),
        "by_kind": dict(Counter(e.kind for e in examples)),
        "by_source": dict(Counter(e.source for e in examples)),
        "documents": {
            split: sorted({e.doc_id for e in examples if e.split == split}) for split in ("train", "heldout")
        },
    }
    if tokens is not None:
        card["tokens"] = tokens
    return card


def token_counts(examples: list[Example], tokenizer_dir: Path) -> dict[str, int]:
    """Tokens per split in the base model's tokenizer: the chat-templated prompt plus the target, and the
    target alone (what the loss is taken on)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    counts: Counter[str] = Counter()
    for e in examples:
        prompt = tokenizer.apply_chat_template(e.messages, add_generation_prompt=True, tokenize=True,
                                               return_dict=False)
        target = len(tokenizer(e.target, add_special_tokens=False)["input_ids"]) + 1  # + end of turn
        counts[e.split] += len(prompt) + target
        counts[f"{e.split}_target"] += target
    return dict(counts)


def to_jsonl(examples: list[Example]) -> bytes:
    return b"".join(json.dumps(asdict(e), sort_keys=True).encode() + b"\n" for e in examples)


def write_training_data(
    layout: WorkLayout, examples: list[Example], *, tokens: dict[str, int] | None = None,
    recorder: IoRecorder | None = None,
) -> TrainingData:
    """examples.jsonl and data_card.json, each written atomically (fsync + rename)."""
    jsonl = to_jsonl(examples)
    card = data_card(examples, jsonl, tokens)
    atomic_write_bytes(layout.training_examples, jsonl, recorder=recorder)
    atomic_write_json(layout.data_card, card, recorder=recorder)
    return TrainingData(examples, card)


def read_training_data(layout: WorkLayout) -> TrainingData:
    """The examples and card `vetted finetune data` wrote; the card's sha256 checked against the file."""
    if not layout.data_card.exists() or not layout.training_examples.exists():
        raise MissingIndexError(f"no training data in {layout.training_dir}: run `vetted finetune data`")
    raw = layout.training_examples.read_bytes()
    card = json.loads(layout.data_card.read_text(encoding="utf-8"))
    if hashlib.sha256(raw).hexdigest() != card["sha256"]:
        raise ValueError(f"{layout.training_examples} differs from its data card: run `vetted finetune data`")
    examples = [Example(**json.loads(line)) for line in raw.decode().splitlines() if line.strip()]
    return TrainingData(examples, card)
