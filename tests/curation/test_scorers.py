"""The scorer base (curation.scorers.base) and the registry derived from the scorer classes."""

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from curation.models import Document, Override, ScoreResult, Tier
from curation.policy import load_policy
from curation.retier import DECISION_PREFIXES, stored_scores
from curation.scorers import SCORER_CLASSES, Scorer, ScorerStats, scorer_names, scorer_of_reason
from curation.scorers.age import AgeScorer
from curation.scorers.duplicate import DuplicateScorer
from curation.scorers.sensitive import REASONS as SENSITIVE_REASONS
from curation.scorers.sensitive import SensitiveDataScorer
from curation.sources import SourceRegistry, SourceSpec, SourceType
from curation.table import SCORE_NAMES, documents_table
from tests.curation.helpers import doc

REPO = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 26)
TEXT = " ".join(f"token{i}" for i in range(300))


@pytest.fixture
def registry() -> SourceRegistry:
    return SourceRegistry(
        types={"support_ticket": SourceType("support_ticket", 0.6, 730.0)},
        sources={"it": SourceSpec("it", "support_ticket")},
    )


def _ticket(path: str, updated: date | None, updated_from: str = "manifest") -> Document:
    return doc(
        path=path, source="it", source_type="support_ticket", updated=updated, updated_from=updated_from
    )


# --- the base: declared reasons, counts, timing


def test_a_reason_outside_the_declared_prefixes_is_refused(registry):
    class NarrowAge(AgeScorer):  # the real age rule, declaring less than it gives
        reason_prefixes = ("age_stale_",)

    undated = _ticket("undated.txt", None)
    assert AgeScorer(registry, today=TODAY).score(undated).reasons == ["age_unknown"]
    with pytest.raises(ValueError, match=r"\['age_unknown'\] for undated.txt.*\('age_stale_',\)"):
        NarrowAge(registry, today=TODAY).score_many([undated])


def test_a_scorer_that_mislabels_a_reason_fails_and_keeps_no_stats():
    class Leaky(Scorer):
        name = "leaky"
        reason_prefixes = ("leaky_",)

        def score(self, doc: Document) -> ScoreResult:
            return ScoreResult(self.name, 0.5, ["leaky_ok", "quality_borrowed"])

    scorer = Leaky()
    with pytest.raises(ValueError, match="quality_borrowed"):
        scorer.score_many([doc()])
    assert scorer.stats == ScorerStats("leaky")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"reason_prefixes": ("x_",), "score": lambda self, d: None}, "must declare `name"),
        ({"name": "x", "score": lambda self, d: None}, "must declare `reason_prefixes`"),
        ({"name": "x", "reason_prefixes": "x_", "score": lambda self, d: None}, "tuple of snake_case"),
        ({"name": "x", "reason_prefixes": ("x",), "score": lambda self, d: None}, "ending in '_'"),
        ({"name": "x", "reason_prefixes": ("Bad_",), "score": lambda self, d: None}, "snake_case"),
        ({"name": "x", "reason_prefixes": ("x_",)}, "must override `score`"),
    ],
)
def test_a_scorer_class_that_declares_too_little_fails_at_definition(body, message):
    with pytest.raises(TypeError, match=message):
        type("Bad", (Scorer,), body)


def test_stats_count_documents_and_each_reason_once_per_document(registry):
    docs = [
        _ticket("fresh.txt", date(2026, 11, 1)),
        _ticket("undated.txt", None),
        _ticket("mtime.txt", date(2026, 10, 1), updated_from="file_mtime"),
        _ticket("old-mtime.txt", date(2016, 1, 1), updated_from="file_mtime"),  # stale too
        _ticket("future.txt", date(2027, 6, 1)),
    ]
    scorer = AgeScorer(registry, today=TODAY)
    assert scorer.stats == ScorerStats("age")  # before any run: zeros, not an error
    results = scorer.score_many(docs)
    assert [r.reasons for r in results] == [
        [],
        ["age_unknown"],
        ["age_from_file_time"],
        ["age_from_file_time", "age_stale_for_domain"],
        ["age_future_date"],
    ]
    stats = scorer.stats
    assert (stats.name, stats.documents) == ("age", 5)
    assert stats.reasons == {
        "age_from_file_time": 2,
        "age_future_date": 1,
        "age_stale_for_domain": 1,
        "age_unknown": 1,
    }
    assert list(stats.reasons) == sorted(stats.reasons) and stats.seconds > 0


def test_a_batch_scorer_is_counted_and_each_run_replaces_the_last_stats():
    trust = {"docs": 0.9, "web": 0.3}
    scorer = DuplicateScorer(lambda d: trust[d.source])
    copies = [
        doc(TEXT, source="web", path="w.txt"),
        doc(TEXT, source="docs", path="d.txt"),
        doc(path="x.txt"),
    ]
    assert [r.reasons for r in scorer.score_many(copies)] == [["duplicate_exact"], [], []]
    assert (scorer.stats.documents, scorer.stats.reasons) == (3, {"duplicate_exact": 1})
    scorer.score_many(copies[1:])
    assert (scorer.stats.documents, scorer.stats.reasons) == (2, {})


# --- the registry


def test_scorer_names_are_the_fixed_order_and_the_table_columns():
    assert scorer_names() == ("age", "relevance", "trust", "sensitive", "duplicate", "quality")
    assert SCORE_NAMES == scorer_names()


def test_each_scorer_lives_in_the_module_of_its_name_and_nothing_else_does():
    assert [cls.__module__ for cls in SCORER_CLASSES] == [f"curation.scorers.{n}" for n in scorer_names()]
    modules = {p.stem for p in (REPO / "curation" / "scorers").glob("*.py")} - {"__init__", "base"}
    assert modules == set(scorer_names())


def test_every_declared_prefix_maps_back_to_its_scorer_and_to_no_other():
    prefixes = [(p, cls.name) for cls in SCORER_CLASSES for p in cls.reason_prefixes]
    assert len(prefixes) == 8
    for prefix, name in prefixes:
        assert scorer_of_reason(prefix + "anything") == name
        assert not any(q != prefix and q.startswith(prefix) for q, _ in prefixes)  # no prefix shadows another
    assert SensitiveDataScorer.reason_prefixes == ("pii_", "secret_", "confidential_")
    assert all(scorer_of_reason(r) == "sensitive" for r in SENSITIVE_REASONS)
    assert all(scorer_of_reason(p + "x") is None for p in DECISION_PREFIXES)
    assert scorer_of_reason("uncurated_baseline") is None


def test_stored_reasons_round_trip_to_the_scorer_that_gave_them():
    given = {
        "age": ScoreResult("age", 0.2, ["age_stale_for_domain", "age_superseded"]),
        "relevance": ScoreResult("relevance", 0.1, ["relevance_off_domain"]),
        "trust": ScoreResult("trust", 0.4, ["trust_low_source"]),
        "sensitive": ScoreResult("sensitive", 0.0, ["confidential_marking", "pii_email", "secret_jwt"]),
        "duplicate": ScoreResult("duplicate", 0.0, ["duplicate_near"]),
        "quality": ScoreResult("quality", 0.6, ["quality_boilerplate"]),
    }
    document = doc(path="everything.md")
    keep = Override(Tier.SAFE, who="steward", why="public test data")
    decision = load_policy(REPO / "policy.toml").decide(document.doc_id, given, keep)
    assert decision.reasons[-1] == "steward_override_safe"  # a decision's reason rides along in the column
    (row,) = documents_table([document], {document.doc_id: given}, {document.doc_id: decision}).to_pylist()
    back = stored_scores(row)
    assert {n: (s.score, sorted(s.reasons)) for n, s in back.items()} == {
        n: (s.score, sorted(s.reasons)) for n, s in given.items()
    }


def test_the_registry_imports_no_scanning_library():
    # curation.table (the steward pages, `vetted retier`) reads the registry: presidio, spaCy and datasketch
    # load only when a sensitive or duplicate scorer is built
    code = "import json, sys, curation.table; print(json.dumps(list(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    loaded = {name.split(".")[0] for name in json.loads(out.stdout)}
    assert "curation" in loaded and not loaded & {"presidio_analyzer", "spacy", "datasketch", "scipy"}
