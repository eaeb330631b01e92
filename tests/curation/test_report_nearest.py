"""The steward report names each flagged document's nearest domain exemplar (from the relevance details)."""

from curation.models import ScoreResult
from curation.policy import TierPolicy
from curation.report import build_report, render_html
from curation.table import documents_table
from tests.curation.helpers import doc


def test_attention_rows_name_the_nearest_exemplar():
    d = doc(path="recipe.md")
    scores = {
        "relevance": ScoreResult(
            "relevance", 0.1, ["relevance_off_domain"], {"nearest": "IT support ticket"}
        ),
        "trust": ScoreResult("trust", 0.3, ["trust_low_source"]),
    }
    decision = TierPolicy(review_reasons=frozenset({"relevance_off_domain"})).decide(d.doc_id, scores)
    report = build_report("run-1", documents_table([d], {d.doc_id: scores}, {d.doc_id: decision}), [])
    (row,) = report["attention"]
    assert row["tier"] == "review" and row["nearest_exemplar"] == "IT support ticket"
    assert "<td>IT support ticket</td>" in render_html(report)
