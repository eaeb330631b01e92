"""The prefiltered pass 1 finds exactly what presidio's own AnalyzerEngine finds over the whole text."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NoOpNlpEngine

from curation.scorers.detect.pii_prefilter import PrefilteredAnalyzer, TextFacts
from curation.scorers.detect.pii_recognizers import ENTITY_REASONS, LANGUAGE, build_recognizers
from curation.scorers.detect.secrets_patterns import SECRET_PATTERNS
from eval.pii_set.measure import load_set

FLOOR = 0.15  # the scorer's pass-1 floor: min_score 0.5 less one context boost


class _NoContext(ContextAwareEnhancer):
    def __init__(self) -> None:
        super().__init__(0, 0, 0, 0)

    def enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers, context=None):  # type: ignore[no-untyped-def]
        return raw_results


@pytest.fixture(scope="module")
def engines() -> tuple[AnalyzerEngine, PrefilteredAnalyzer]:
    recognizers = build_recognizers()
    entities = sorted(ENTITY_REASONS)
    whole = AnalyzerEngine(
        registry=RecognizerRegistry(recognizers=recognizers, supported_languages=[LANGUAGE]),
        nlp_engine=NoOpNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": "none"}]),
        context_aware_enhancer=_NoContext(),
        supported_languages=[LANGUAGE],
    )
    return whole, PrefilteredAnalyzer(recognizers, entities)


def _same(engines: tuple[AnalyzerEngine, PrefilteredAnalyzer], text: str) -> None:
    whole, prefiltered = engines
    expected = whole.analyze(text, LANGUAGE, entities=sorted(ENTITY_REASONS), score_threshold=FLOOR)
    got = prefiltered.analyze(text, score_threshold=FLOOR)
    key = lambda r: (r.entity_type, r.start, r.end, round(r.score, 6))  # noqa: E731
    assert sorted(map(key, got)) == sorted(map(key, expected)), text[:200]


def test_same_results_on_the_labelled_set(engines):
    for item in load_set():
        _same(engines, item["text"])


def test_same_results_on_ids_cards_and_addresses_in_every_shape(engines):
    text = (
        "SSN 536-22-8346, 536 22 8346 and 536228346; ITIN 912-70-1234; NHS 943 476 5919; NINO AB 12 34 56 C; "
        "NIF 12345678Z; NIE X1234567L; FIN S1234567D; Finnish 131052-308T; personnummer 19121212-1212; "
        "RRN 800101-1234567; PESEL 44051401359; SIN 046 454 286; TFN 123 456 782; Medicare 2123 45670 1; "
        "cards 4556 7375 8689 9855, 2223003122003222, 5105105105105100, 569258919855; "
        "IBAN DE89 3704 0044 0532 0130 00, GB82WEST12345698765432; "
        "hosts 81.2.69.142, 10.0.0.5/8, ::ffff:192.0.2.128, 2001:db8::8a2e:370:7334, fe80::1%eth0, a::b; "
        "dates 2024-11-21 10:00:00 +0100, versions 2.39.90.20230110-1 and 15.20."
    )
    _same(engines, text)
    _same(engines, text.replace(" ", "\n"))


def test_regions_are_cut_around_digit_clusters_only_where_needed():
    facts = TextFacts("Released 2024-11-21 (15.20); SSN 536-22-8346; call 10:00:00.")
    assert [(n, run) for _, _, n, run in facts.clusters()] == [(8, 4), (9, 4)]


_SHAPES = st.text(alphabet="0123456789 -.+:/()ABCDEFXZS\n", min_size=0, max_size=300)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(_SHAPES, st.text(max_size=300)))
def test_same_results_on_arbitrary_text(engines, text):
    _same(engines, text)


# --- secrets: the password-assignment regex tried only at its anchors --------------------------------------

_KEYS = st.sampled_from(
    ["password", "PassWord", "passwd", "secret", "Client_Secret", "api-key", "APIKEY", "access_token",
     "private_key", "auth_token", "token", "secret_key", "accesskey", "x"]
)  # fmt: skip
_ASSIGNMENTS = st.lists(
    st.tuples(_KEYS, st.sampled_from([" = ", ": ", "=", ":=", " => "]), st.text(min_size=0, max_size=20)),
    max_size=6,
).map(lambda parts: "\n".join(f"{k}{op}{v}" for k, op, v in parts))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(_ASSIGNMENTS, st.text(max_size=300)))
def test_anchored_password_search_equals_finditer(text):
    pattern = next(p for p in SECRET_PATTERNS if p.starts)
    spans = [m.span() for m in pattern.finditer(text, text.lower())]
    assert spans == [m.span() for m in pattern.regex.finditer(text)]


def test_anchored_password_search_on_the_labelled_set():
    pattern = next(p for p in SECRET_PATTERNS if p.starts)
    for item in load_set():
        text = item["text"]
        assert [m.span() for m in pattern.finditer(text, text.lower())] == [
            m.span() for m in pattern.regex.finditer(text)
        ]
