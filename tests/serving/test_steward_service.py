"""The steward service on a small real work folder: overrides are stored with who, when and why, applied to
the index and to retrieval at once, and kept by the next run's tier stage."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest

from curation.models import Tier
from curation.steward import StewardDB
from pipelines.core.index_files import current_build, read_chunks
from serving.retriever import SafeRetriever
from serving.steward_service import StewardService, UnknownDocument
from tests.serving.steward_workdir import EMAIL, make_work_dir, retier

ROUTER_QUESTION = "How does a network router forward packets between networks?"
VACUUM_QUESTION = "How does VACUUM reclaim storage from dead tuples?"


@pytest.fixture
def setup(tmp_path, embedder):
    settings, docs, scores = make_work_dir(tmp_path, embedder)
    return StewardService(settings, embedder), docs, scores


def indexed(service: StewardService) -> set[str]:
    return set(read_chunks(current_build(service.work_dir), ["doc_id"])["doc_id"].to_pylist())


def test_reject_is_stored_with_who_when_why_and_leaves_the_index_at_once(setup, embedder):
    service, _, _ = setup
    retriever = SafeRetriever(service.work_dir, embedder, top_k=3, min_similarity=0.2)
    assert "pg" in [h.doc_id for h in retriever.retrieve(VACUUM_QUESTION)]

    before = time.time()
    result = service.apply_override(doc_id="pg", tier=Tier.UNSAFE, who="alice", why="advice is outdated")

    [row] = StewardDB(service.work_dir / "steward.db").override_rows()
    assert (row["doc_id"], row["tier"], row["who"], row["why"]) == (
        "pg",
        "unsafe",
        "alice",
        "advice is outdated",
    )
    assert before <= row["at"] <= time.time()
    assert result.index_change == "removed" and result.chunks >= 1
    assert result.build_id == current_build(service.work_dir).name
    assert indexed(service) == {"py"}
    assert "pg" not in [h.doc_id for h in retriever.retrieve(VACUUM_QUESTION)]
    actions = [(a["action"], a["who"], a["doc_id"]) for a in service.audit()]
    assert actions[:2] == [("index_removed", "alice", "pg"), ("override_unsafe", "alice", "pg")]


def test_approve_chunks_and_embeds_the_document_into_the_index_at_once(setup, embedder):
    service, _, _ = setup
    retriever = SafeRetriever(service.work_dir, embedder, top_k=3, min_similarity=0.2)
    assert service.document("net")["tier"] == "review" and not service.document("net")["indexed"]
    assert "net" not in [h.doc_id for h in retriever.retrieve(ROUTER_QUESTION)]

    result = service.apply_override(
        doc_id="net", tier=Tier.SAFE, who="bob", why="evergreen networking basics"
    )

    assert result.index_change == "added" and result.chunks >= 1
    assert indexed(service) == {"py", "pg", "net"}
    assert retriever.retrieve(ROUTER_QUESTION)[0].doc_id == "net"
    view = service.document("net")
    assert view["tier"] == "safe" and view["run_tier"] == "review" and view["indexed"]
    assert view["override"]["who"] == "bob"
    # approving a document the index already holds changes nothing
    again = service.apply_override(doc_id="net", tier=Tier.SAFE, who="bob", why="still fine")
    assert again.index_change == "none" and again.build_id == result.build_id


def test_overrides_are_kept_by_the_next_run(setup):
    service, docs, scores = setup
    service.apply_override(doc_id="net", tier=Tier.SAFE, who="bob", why="evergreen")
    service.apply_override(doc_id="py", tier=Tier.UNSAFE, who="alice", why="retired product")

    decisions = retier(docs, scores, StewardDB(service.work_dir / "steward.db").overrides()).decisions

    assert decisions["net"].tier is Tier.SAFE and decisions["net"].overridden_by == "bob"
    assert (
        "steward_override_safe" in decisions["net"].reasons
        and "policy_age_below_min" in decisions["net"].reasons
    )
    assert decisions["py"].tier is Tier.UNSAFE and "steward_override_unsafe" in decisions["py"].reasons
    assert decisions["pg"].tier is Tier.SAFE and decisions["pg"].overridden_by is None


@pytest.mark.parametrize("why", ["", "   \n"])
def test_an_override_needs_a_reason(setup, why):
    service, _, _ = setup
    build = current_build(service.work_dir)
    with pytest.raises(ValueError, match="reason"):
        service.apply_override(doc_id="pg", tier=Tier.UNSAFE, who="alice", why=why)
    assert service.overrides() == [] and current_build(service.work_dir) == build


def test_review_is_not_a_steward_verdict_and_unknown_documents_are_refused(setup):
    service, _, _ = setup
    with pytest.raises(ValueError, match="approve"):
        service.apply_override(doc_id="pg", tier=Tier.REVIEW, who="alice", why="unsure")
    with pytest.raises(UnknownDocument):
        service.apply_override(doc_id="nope", tier=Tier.SAFE, who="alice", why="x")


def test_drill_down_highlights_personal_data_masked_never_raw(setup):
    service, _, _ = setup
    view = service.document("hr")
    assert view["tier"] == "unsafe" and view["reasons"] == ["pii_email"]
    marks = [s for s in view["excerpt"] if s.get("kind")]
    assert marks == [{"text": "j********************m", "kind": "pii_email"}]
    assert view["spans"][0]["kind"] == "pii_email" and view["spans"][0]["masked"] == marks[0]["text"]
    assert EMAIL not in json.dumps(view) and "jane.doe" not in json.dumps(view)
    assert "".join(s["text"] for s in view["excerpt"]).startswith("Employee record for the payroll export.")


def test_documents_filter_by_tier_source_reason_and_text(setup):
    service, _, _ = setup

    def ids(**filters):
        return {r["doc_id"] for r in service.documents(**filters)["rows"]}

    assert ids(tier="unsafe") == {"hr"}
    assert ids(tier="review") == {"net", "old"}
    assert ids(source="product-docs-postgres") == {"pg"}
    assert ids(reason="pii_email") == {"hr"}
    assert ids(q="VACUUM full") == {"pg"}
    assert ids(q="payroll", tier="safe") == set()
    page = service.documents(limit=2, offset=0)
    assert page["total"] == 5 and len(page["rows"]) == 2
    assert page["facets"]["tiers"] == {"safe": 2, "review": 2, "unsafe": 1}
    service.apply_override(doc_id="hr", tier=Tier.SAFE, who="carol", why="consent on file")
    assert "hr" in ids(tier="safe")  # the table layers overrides on the run's tiers


def test_csv_export_lists_overrides_and_defuses_formulas(setup):
    service, _, _ = setup
    service.apply_override(doc_id="old", tier=Tier.UNSAFE, who="alice", why='=HYPERLINK("http://x")')
    rows = list(csv.DictReader(io.StringIO(service.overrides_csv())))
    assert len(rows) == 1
    assert rows[0]["doc_id"] == "old" and rows[0]["tier"] == "unsafe" and rows[0]["run_tier"] == "review"
    assert rows[0]["who"] == "alice" and rows[0]["why"].startswith("'=") and rows[0]["at"].endswith("+00:00")


def test_summary_has_every_chart_series(setup):
    service, _, _ = setup
    run = service.work_dir / "runs" / "20260101T000000-abcdef"
    run.mkdir(parents=True)
    tiers = {"safe": 2, "review": 2, "unsafe": 1}
    (run / "summary.json").write_text(json.dumps({"run_id": run.name, "tiers": tiers, "quarantined": 0}))
    s = service.summary()
    assert s["documents"] == 5 and s["tiers_now"] == tiers and s["overrides"] == 0
    assert s["tiers_over_runs"] == [{"run_id": run.name, **tiers}]
    assert all(sum(bins) == 5 for bins in s["score_histograms"].values())
    age = s["age_by_source"]
    assert age["sources"]["kb-foldoc"][-1] == 1  # `net` has no date: counted as unknown
    assert age["sources"]["product-docs-python"][age["bins"].index("2-5y")] == 1  # 2024-05-01 to 2026-11-26
    assert dict(s["top_reasons"])["pii_email"] == 1
    assert s["index"]["n_chunks"] == len(read_chunks(current_build(service.work_dir)))
