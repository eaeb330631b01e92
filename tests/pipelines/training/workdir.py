"""A small real work folder for the training tests: real pages of the test corpus (four Python FAQ pages,
FOLDOC entries, PostgreSQL pages, planted confidential files) read by the real connector, scored by hand,
tiered by the real policy, written by the real documents table and indexed (safe chunks only) by the real
index store. One safe FAQ page is then rejected by a steward, so the tier NOW differs from the run's."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from curation.models import ScoreResult, Tier
from curation.policy import TierPolicy
from curation.sources import load_registry
from curation.steward import StewardDB
from curation.table import SCORE_NAMES, documents_table, write_documents
from pipelines.core.index_store import write_build
from pipelines.core.settings import load_settings
from pipelines.stages import chunk_documents, embed_chunks, load_documents, tier_documents

REPO_ROOT = Path(__file__).resolve().parents[3]
FAQ_PAGES = ["general.html", "gui.html", "installed.html", "windows.html"]
REJECTED_PAGE = "product-docs-python/faq/windows.html"  # safe by the run, unsafe by the steward since
STALE_PAGE = "product-docs-python/faq/installed.html"  # review: stale


@dataclass(slots=True)
class TrainingWorkDir:
    work_dir: Path
    corpus_dir: Path
    tiers: dict[str, str]  # doc_id -> the tier now
    paths: dict[str, str]  # doc_id -> path
    canaries: list[str]


def _subset(test_corpus: Path, out: Path) -> list[str]:
    rows = [json.loads(line) for line in (test_corpus / "manifest.jsonl").read_text().splitlines() if line]
    foldoc = [r for r in rows if r["source"] == "kb-foldoc"][:10]
    postgres = [r for r in rows if r["source"] == "product-docs-postgres"][:3]
    confidential = [r for r in rows if r["source"] == "confidential"][:3]
    faq = [r for r in rows if r["path"].startswith("product-docs-python/faq/") and
           r["path"].rsplit("/", 1)[1] in FAQ_PAGES]
    chosen = faq + foldoc + postgres + confidential
    for r in chosen:
        (out / r["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(test_corpus / r["path"], out / r["path"])
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in chosen))
    return [r["path"] for r in confidential]


def make_training_work_dir(root: Path, test_corpus: Path, embedder) -> TrainingWorkDir:
    corpus, work = root / "corpus", root / "work"
    corpus.mkdir(parents=True)
    work.mkdir()
    confidential = _subset(test_corpus, corpus)
    settings = load_settings(None, {"paths.work_dir": str(work), "curation.today": "2026-11-26"})
    loaded = load_documents(corpus, load_registry(REPO_ROOT / "sources.toml"), settings.curation)
    scores = {}
    for doc in loaded.documents:
        s = {name: ScoreResult(name, 0.9) for name in SCORE_NAMES}
        if doc.path in confidential:
            s["sensitive"] = ScoreResult("sensitive", 0.0, ["confidential_marking"])
        if doc.path == STALE_PAGE:
            s["age"] = ScoreResult("age", 0.05, ["age_stale_for_domain"])
        scores[doc.doc_id] = s
    tiered = tier_documents(loaded.documents, scores, TierPolicy(), {})
    write_documents(work / "documents.parquet", documents_table(loaded.documents, scores, tiered.decisions))
    safe = [d for d in loaded.documents if tiered.decisions[d.doc_id].tier is Tier.SAFE]
    nodes = embed_chunks(chunk_documents(safe, embedder, settings), embedder)
    write_build(work, nodes, dimension=embedder.dimension, model="minilm",
                doc_hashes={d.doc_id: d.content_hash for d in safe}, settings={})
    rejected = next(d for d in loaded.documents if d.path == REJECTED_PAGE)
    StewardDB(work / "steward.db").set_override(doc_id=rejected.doc_id, tier=Tier.UNSAFE, who="t", why="test")
    tiers = {d.doc_id: tiered.decisions[d.doc_id].tier.value for d in loaded.documents}
    tiers[rejected.doc_id] = "unsafe"
    lines = (test_corpus / "canaries.jsonl").read_text().splitlines()
    canaries = [json.loads(line)["canary"] for line in lines]
    return TrainingWorkDir(work, corpus, tiers, {d.doc_id: d.path for d in loaded.documents}, canaries)
