"""Bad input for every scorer: arbitrary Unicode (lone surrogates too), empty text, binary junk, and one 50 MB
document. No scorer may crash; every score is in [0, 1]; reasons carry their scorer's prefix and appear
where they are due (empty text is too short, a missing date is unknown age, a copy is a duplicate)."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from curation.models import Document, ScoreResult
from curation.scorers.age import AgeScorer
from curation.scorers.duplicate import DuplicateScorer
from curation.scorers.quality import QualityScorer
from curation.scorers.relevance import RelevanceScorer
from curation.scorers.sensitive import SensitiveDataScorer
from curation.scorers.trust import SourceTrustScorer
from curation.sources import load_registry
from curation.table import _json_value
from eval.pii_set.measure import load_set
from pipelines.core.settings import DEFAULT_EXEMPLARS, DomainSettings
from tests.curation.helpers import doc

REPO = Path(__file__).resolve().parents[2]
PREFIXES = {
    "age": ("age_",),
    "trust": ("trust_",),
    "relevance": ("relevance_",),
    "sensitive": ("pii_", "secret_", "confidential_"),
    "duplicate": ("duplicate_",),
    "quality": ("quality_",),
}
BIG_MB = 50

_ANY = st.text(alphabet=st.characters(codec=None), max_size=3000)  # any code point, lone surrogates included
_JUNK = st.binary(max_size=3000).map(lambda b: b.decode("latin-1"))  # bytes read as Latin-1: control chars
_TRICKY = st.text(alphabet="0123456789 .-+:/@()=_'\"\nAKIAghpxoxeyJBEGIN PRIVATE KEYÃ©â€™", max_size=1000)
TEXTS = st.one_of(st.just(""), _ANY, _JUNK, _TRICKY)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def scorers() -> dict[str, object]:
    registry = load_registry(REPO / "sources.toml")
    return {
        "age": AgeScorer(registry, today=date(2026, 11, 26)),
        "trust": SourceTrustScorer(registry),
        "sensitive": SensitiveDataScorer(),
        "duplicate": DuplicateScorer(lambda d: registry.trust(d.source, d.source_type)),
        "quality": QualityScorer(),
    }


@pytest.fixture(scope="module")
def relevance(embedder) -> RelevanceScorer:
    return RelevanceScorer(
        embedder.embed, description=DomainSettings().description, exemplars=DEFAULT_EXEMPLARS
    )


def _check(name: str, result: ScoreResult) -> None:
    assert result.name == name and 0.0 <= result.score <= 1.0, result
    assert all(r.startswith(PREFIXES[name]) for r in result.reasons), result.reasons
    json.dumps(result.details, default=_json_value)  # documents.parquet stores details as JSON


def _docs(text: str) -> list[Document]:
    """The text twice (a copy is due a duplicate reason) and once undated from a ticket source."""
    return [
        doc(text, path="a.txt", source="tickets-changelogs", source_type="support_ticket"),
        doc(text, path="b.txt", source="product-docs-python", source_type="product_docs"),
        doc(text, path="c.txt", updated=None, updated_from="unknown", source="x", source_type="mystery"),
    ]


@FAST
@given(text=TEXTS)
def test_non_model_scorers_take_any_text(scorers, text):
    docs = _docs(text)
    results = {name: scorer.score_many(docs) for name, scorer in scorers.items()}  # type: ignore[attr-defined]
    for name, per_doc in results.items():
        assert len(per_doc) == len(docs)
        for result in per_doc:
            _check(name, result)
    words = len(re.findall(r"\w+", text.lower()[:1_000_000]))
    assert all(("quality_too_short" in r.reasons) == (words < 20) for r in results["quality"])
    assert "age_unknown" in results["age"][2].reasons
    assert sum(r.reasons == ["duplicate_exact"] for r in results["duplicate"]) == 2  # three copies, one kept
    assert all((r.score == 0.0) == bool(r.reasons) for r in results["sensitive"])
    assert "trust_unknown_source" in results["trust"][2].reasons


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS)
@example(text="\ud800")  # a lone surrogate (a JSON "\\ud800" escape): the Rust tokenizer refused it
@example(text="ticket \ud83d\ude00 \udc00 fixed")
def test_relevance_takes_any_text(relevance, text):
    for result in relevance.score_many(_docs(text)[:1]):
        _check("relevance", result)
        assert result.details["nearest"]  # a named profile entry, never an index


@pytest.fixture(scope="module")
def big_doc() -> Document:
    """50 MB of real documentation (the labelled set's negatives, repeated) with one e-mail at the end."""
    base = "\n\n".join(item["text"] for item in load_set() if not item["label"])
    text = base * (BIG_MB * 2**20 // len(base)) + "\nArchive requests: ana.lopez@debian.org\n"
    return doc(text, path="big.txt", source="product-docs-postgres", source_type="product_docs")


@pytest.mark.parametrize("name", ["age", "trust", "sensitive", "duplicate", "quality"])
def test_a_50_mb_document(scorers, big_doc, name):
    (result,) = scorers[name].score_many([big_doc])  # type: ignore[attr-defined]
    _check(name, result)
    if name == "sensitive":  # scanned whole: the one address sits at the very end
        assert result.reasons == ["pii_email"] and result.details["scanned_chars"] == len(big_doc.text)
    if name == "quality":
        assert "quality_too_short" not in result.reasons


def test_relevance_of_a_50_mb_document_reads_only_its_head(relevance, big_doc):
    (result,) = relevance.score_many([big_doc])
    _check("relevance", result)
    assert result.details["nearest"] == "PostgreSQL database administration" or result.score > 0.5
