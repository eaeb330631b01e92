"""Redaction over the sensitive scorer's own spans: typed placeholders, stable within a document."""

from __future__ import annotations

import pytest

from curation.models import Span
from curation.redaction import placeholder_type, redact
from curation.scorers import SensitiveDataScorer
from tests.curation.helpers import doc

TEXT = (
    "Thanks for the report. The crash happens when the cache is cold; a patch is attached.\n"
    "Reach me at Marta.Kowalczyk@fastmail.fm or on +49 30 901820 if it comes back.\n"
    "Card on file: 4556 7375 8689 9855.\n"
    "-- \nMarta Kowalczyk <marta.kowalczyk@fastmail.fm>, cc jonas.berg@posteo.de\n"
)


@pytest.fixture(scope="module")
def spans() -> list[Span]:
    result = SensitiveDataScorer().score(doc(TEXT))
    assert result.details["counts"] == {"pii_email": 3, "pii_phone": 1, "pii_credit_card": 1}
    return result.details["spans"]  # type: ignore[return-value]


def test_same_value_same_placeholder_and_another_value_the_next_number(spans):
    out = redact(TEXT, spans, {"pii_email", "pii_phone"})
    assert "Reach me at <EMAIL_1> or on <PHONE_1> if it comes back." in out.text
    assert "Marta Kowalczyk <<EMAIL_1>>, cc <EMAIL_2>" in out.text  # case does not make a new address
    assert "fastmail" not in out.text and "posteo" not in out.text and "901820" not in out.text
    assert out.counts == {"pii_email": 3, "pii_phone": 1}
    assert out.placeholders == {"pii_email": 2, "pii_phone": 1}
    assert out.text.startswith(TEXT[: TEXT.index("Marta")])  # the rest of the text is untouched


def test_spans_move_onto_the_redacted_text(spans):
    out = redact(TEXT, spans, {"pii_email", "pii_phone"})
    shown = [(s.kind, out.text[s.start : s.end]) for s in out.spans]
    assert shown == [
        ("pii_email", "<EMAIL_1>"),
        ("pii_phone", "<PHONE_1>"),
        ("pii_credit_card", "4556 7375 8689 9855"),  # not redacted: kept, at its shifted position
        ("pii_email", "<EMAIL_1>"),
        ("pii_email", "<EMAIL_2>"),
    ]
    assert [s.masked for s in out.spans][3:] == ["<EMAIL_1>", "<EMAIL_2>"]


def test_nothing_to_redact_leaves_text_and_spans_alone(spans):
    out = redact(TEXT, spans, set())
    assert out.text == TEXT and out.spans == list(spans) and out.counts == {}


def test_overlapping_spans_are_masked_once():
    text = "mail ana@lopez.dev now"
    overlapping = [Span("pii_email", 5, 18, "a***v"), Span("pii_ip_address", 9, 14, "l***z")]
    out = redact(text, overlapping, {"pii_email", "pii_ip_address"})
    assert out.text == "mail <EMAIL_1> now" and out.counts == {"pii_email": 1}
    assert [(s.start, s.end) for s in out.spans] == [(5, 14), (5, 14)]


def test_placeholder_types():
    assert [placeholder_type(k) for k in ("pii_email", "pii_ip_address", "secret_jwt")] == [
        "EMAIL",
        "IP_ADDRESS",
        "JWT",
    ]
