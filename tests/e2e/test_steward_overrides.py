"""Steward overrides survive the next run: the real flow, run again over a copy of the ingested work folder,
writes the overrides into documents.parquet and builds its new index from the overridden tiers."""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq

from curation.models import Tier
from pipelines.core.index_files import current_build, read_chunks
from serving.steward_service import StewardService
from tests.conftest import REPO_ROOT, TODAY, settings_for


def test_overrides_are_kept_on_the_next_run(ingested, embedder, test_corpus, prefect_harness, tmp_path):
    from pipelines.flows import ingest_flow

    settings, _ = ingested
    work = tmp_path / "work"
    shutil.copytree(settings.work_dir, work)  # the other e2e tests read the original
    docs = pq.read_table(work / "documents.parquet").to_pylist()
    retired = next(d for d in docs if d["tier"] == "safe" and d["source"] == "product-docs-python")
    kept = next(d for d in docs if d["tier"] == "review" and d["text"].strip())
    steward = StewardService(settings_for(work, test_corpus), embedder)
    steward.apply_override(doc_id=retired["doc_id"], tier=Tier.UNSAFE, who="erin", why="product retired")
    steward.apply_override(doc_id=kept["doc_id"], tier=Tier.SAFE, who="erin", why="checked by hand")

    summary = ingest_flow(
        str(REPO_ROOT / "vetted.toml"),
        {"paths.work_dir": str(work), "paths.corpus_dir": str(test_corpus), "curation.today": TODAY},
    )

    after = {d["doc_id"]: d for d in pq.read_table(work / "documents.parquet").to_pylist()}
    assert after[retired["doc_id"]]["tier"] == "unsafe" and after[kept["doc_id"]]["tier"] == "safe"
    assert "steward_override_unsafe" in after[retired["doc_id"]]["reasons"]
    assert "steward_override_safe" in after[kept["doc_id"]]["reasons"]
    assert after[retired["doc_id"]]["overridden_by"] == after[kept["doc_id"]]["overridden_by"] == "erin"
    build = current_build(work)
    manifest = json.loads((build / "manifest.json").read_text())
    assert build.name == summary["index"]["build_id"] and manifest["document_hashes"]
    assert summary["incremental"]["unchanged"] == summary["documents"]  # the corpus did not change
    indexed = set(read_chunks(build, ["doc_id"])["doc_id"].to_pylist())
    assert kept["doc_id"] in indexed and retired["doc_id"] not in indexed
    assert summary["tiers"]["unsafe"] == sum(1 for d in docs if d["tier"] == "unsafe") + 1
