"""The detector families added for documents nobody had seen (issue 11): vendor tokens through
detect-secrets, identity-document numbers, HR records, and phone numbers in national and international
layouts. Real detect-secrets, presidio and phonenumbers; tokens are built from hashes, never real keys."""

from __future__ import annotations

import hashlib
import string
import uuid
from pathlib import Path

import pytest
from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins.base import RegexBasedDetector

from curation.models import ScoreResult, Tier
from curation.policy import load_policy
from curation.scorers.detect.secret_plugins import LEFT_OUT, VENDOR_REASONS, VENDOR_RULES
from curation.scorers.sensitive import REASONS, SensitiveDataScorer
from tests.curation.helpers import doc

REPO = Path(__file__).resolve().parents[2]
_B62 = string.ascii_letters + string.digits


@pytest.fixture(scope="module")
def scorer() -> SensitiveDataScorer:
    return SensitiveDataScorer()


def _token(seed: str, n: int, alphabet: str = _B62) -> str:
    """n characters of `alphabet` drawn from a hash: random-looking, reproducible, no real key."""
    digest = b"".join(hashlib.sha512(f"{seed}-{i}".encode()).digest() for i in range(1 + n // 64))
    return "".join(alphabet[b % len(alphabet)] for b in digest[:n])


def _found(scorer: SensitiveDataScorer, text: str) -> tuple[ScoreResult, dict[str, list[str]]]:
    result = scorer.score(doc(text))
    raw: dict[str, list[str]] = {}
    for span in result.details["spans"]:  # type: ignore[attr-defined]
        raw.setdefault(span.kind, []).append(text[span.start : span.end])
    assert set(result.reasons) == set(raw) <= set(REASONS)
    return result, raw


# --- secrets through detect-secrets ---------------------------------------------------------------------


def test_every_detect_secrets_regex_plugin_is_run_or_left_out_on_purpose():
    classes = get_mapping_from_secret_type_to_class().values()
    plugins = {c.__name__ for c in classes}
    regex_plugins = {c.__name__ for c in classes if issubclass(c, RegexBasedDetector)}
    run = {rule.plugin.__name__ for rule in VENDOR_RULES}
    assert run | (LEFT_OUT & regex_plugins) == regex_plugins and not run & LEFT_OUT
    assert LEFT_OUT <= plugins  # a name here that detect-secrets no longer has is stale
    assert set(VENDOR_REASONS) <= set(REASONS)


def test_a_live_stripe_key_is_flagged_and_a_test_or_publishable_key_is_not(scorer):
    live = "sk_live_" + _token("stripe", 24)
    result, raw = _found(scorer, f"STRIPE_KEY={live}\nSTRIPE_TEST_KEY=sk_test_{_token('t', 24)}")
    assert result.reasons == ["secret_stripe_key"] and raw == {"secret_stripe_key": [live]}
    # a key in sentence, and today's 99-character keys: the span runs to the token's end (all of it masked)
    long_key = "rk_live_51" + _token("long", 89)
    result, raw = _found(scorer, f"Oops, I pasted our restricted key {long_key} into the channel.")
    assert raw == {"secret_stripe_key": [long_key]}
    clean, _ = _found(scorer, f"Publishable key for the checkout page: pk_live_{_token('pk', 24)}")
    assert clean.reasons == []


def test_documented_and_placeholder_stripe_keys_are_ignored_and_counted(scorer):
    text = "STRIPE_KEY=sk_live_EXAMPLE0000KEY00000000000\nother=sk_live_xxxxxxxxxxxxxxxxxxxxxxxx"
    result, _ = _found(scorer, text)
    assert result.reasons == []
    assert result.details["ignored"] == {"secret_example_value": 1, "secret_placeholder": 1}


@pytest.mark.parametrize(
    ("reason", "token"),
    [
        ("secret_twilio_key", "AC" + _token("twilio", 32, "0123456789abcdef")),
        ("secret_sendgrid_key", f"SG.{_token('sg1', 22)}.{_token('sg2', 43)}"),
        ("secret_gitlab_token", "glpat-" + _token("gitlab", 20)),
        ("secret_openai_key", f"sk-{_token('oa1', 20)}T3BlbkFJ{_token('oa2', 20)}"),
        ("secret_pypi_token", "pypi-AgEIcHlwaS5vcmc" + _token("pypi", 80)),
        ("secret_aws_key", "ABIA" + _token("abia", 16, string.ascii_uppercase + "234567")),
    ],
)
def test_vendor_tokens_from_detect_secrets_rules(scorer, reason, token):
    result, raw = _found(scorer, f"deploy:\n  api_key: {token}\n")
    assert result.reasons == [reason] and raw == {reason: [token]}  # the vendor's name, not "assignment"


def test_a_password_told_in_prose_is_a_secret_and_prose_about_passwords_is_not(scorer):
    result, raw = _found(scorer, "Marta: the guest wifi password is Tq7-ahX29pe (changes monthly)")
    assert raw == {"secret_password_assignment": ["Tq7-ahX29pe"]}
    result, raw = _found(scorer, "Liam: the wifi password is cofBIy%jpVNUWck")  # no digit, mixed case
    assert raw == {"secret_password_assignment": ["cofBIy%jpVNUWck"]}
    prose = ("The password is required. Your password was reset. Set the Token= setting. "
             "The password is Mandatory.")
    clean, _ = _found(scorer, prose)
    assert clean.reasons == [], clean.details


def test_hashes_uuids_and_tokens_inside_longer_identifiers_are_not_secrets(scorer):
    digest = hashlib.sha256(b"vetted").hexdigest()
    text = (
        f'sha256 = "{digest}"\nrun id {uuid.UUID(int=12345)}\ncommit {hashlib.sha1(b"x").hexdigest()}\n'
        f"cache key MYAC{_token('glued', 32, '0123456789abcdef')}X and md5 {hashlib.md5(b'y').hexdigest()}"
    )
    result, _ = _found(scorer, text)
    assert result.reasons == [], result.details


# --- identity documents -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Her passport number is 533380006 and it expires in May.", "533380006"),
        ("Passport No.: X1234567 (scan in the HR folder)", "X1234567"),
        ("driving licence MORGA753116SM9IJ was checked at onboarding", "MORGA753116SM9IJ"),
        ("Driver's license: D123-4567-8901 (state of Ohio)", "D123-4567-8901"),
        ("Personalausweis Nr. L01X00T47", "L01X00T47"),
        ("His Aadhaar 4821 7730 1956 is linked to the payroll account.", "4821 7730 1956"),
        ("Reisepass-Nr. C01X00T47, ausgestellt in Köln", "C01X00T47"),
        ("Führerscheinnummer: B072RRE2I55", "B072RRE2I55"),
        ("A copy of the driving licence (HARRI904102JD9AB) is on file.", "HARRI904102JD9AB"),
    ],
)
def test_identity_document_numbers_after_their_label(scorer, text, value):
    result, raw = _found(scorer, text)
    assert result.reasons == ["pii_identity_document"] and raw == {"pii_identity_document": [value]}


def test_identity_words_without_a_number_are_prose(scorer):
    text = (
        "Passport is authentication middleware for Node.js; passport 0.7.0 drops callbacks.\n"
        "The ID card reader needs pcscd. A driving licence is required for the field role."
    )
    result, _ = _found(scorer, text)
    assert result.reasons == []


# --- HR records -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Note for payroll: Jane's salary goes to $85,000 from April.", "$85,000"),
        ("Base pay: EUR 62.500, approved by the works council", "EUR 62.500"),
        ("Offer accepted at 92k plus equity; salary 92k confirmed", "92k"),
        ("She moves to pay band 7 with the promotion.", "7"),
        ("Employee ID: E-48213 (badge reissued)", "E-48213"),
        ("2025 performance review for Tom: rating 2/5, needs support", "for Tom: rating 2/5"),
        ("Annual review outcome - does not meet expectations", "outcome - does not meet expectations"),
        ("Appraisal for Ana Ruiz: overall 3.5 out of 5", "for Ana Ruiz: overall 3.5 out of 5"),
        ("Salary review - Ana Ruiz: current CHF 84'000, proposed later", "CHF 84'000"),
    ],
)
def test_hr_and_compensation_records_are_confidential(scorer, text, value):
    result, raw = _found(scorer, text)
    assert result.reasons == ["confidential_hr_record"] and raw == {"confidential_hr_record": [value]}


def test_hr_words_in_documentation_are_not_records(scorer):
    text = (
        "The salary field is optional in the export. Each employee can open the performance review page.\n"
        "Compensation for clock drift is done by the kernel. The employee 2024 survey is closed."
    )
    result, _ = _found(scorer, text)
    assert result.reasons == []


def test_new_reasons_take_their_policy_actions():
    policy = load_policy(REPO / "policy.toml")
    base = {"age": 0.9, "trust": 0.9, "relevance": 0.9, "quality": 1.0, "duplicate": 1.0}

    def tier(reason: str) -> Tier:
        results = {n: ScoreResult(n, s, []) for n, s in base.items()}
        results["sensitive"] = ScoreResult("sensitive", 0.0, [reason])
        return policy.decide("d", results).tier

    assert tier("confidential_hr_record") is Tier.REVIEW
    assert tier("pii_identity_document") is Tier.UNSAFE
    assert all(tier(reason) is Tier.UNSAFE for reason in VENDOR_REASONS)


# --- phone numbers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "020 7946 0958",  # UK, trunk 0
        "+44 20 7946 0958",
        "030 12345678",  # Berlin
        "+49 (0)30 12345678",
        "01 23 45 67 89",  # Paris
        "(415) 555-0100",
        "+91 98765 43210",
        "098765 43210",  # Indian mobile with trunk 0
        "03-1234-5678",  # Tokyo
        "(02) 9876 5432",  # Sydney
        "+61 2 9876 5432",
        "+442079460958",  # E.164
        "+33 (0)5 82 49 73 12",  # the French trunk 0 in brackets: one of its groups, not a list of digits
    ],
)
def test_phone_numbers_in_national_and_international_layouts(scorer, number):
    result, raw = _found(scorer, f"For the handover, the number is {number} until Friday.")
    assert result.reasons == ["pii_phone"] and raw == {"pii_phone": [number]}


def test_a_bare_number_after_text_or_txt_is_a_phone_and_a_bare_number_in_prose_is_not(scorer):
    for text, number in (("If the build breaks, text 6504727347 and ask for Logan.", "6504727347"),
                         ("txt me on 4155550100 when you land", "4155550100")):
        result, raw = _found(scorer, text)
        assert raw == {"pii_phone": [number]}, text
    clean, _ = _found(scorer, "The upload finished after 6504727347 bytes; see the log text for details.")
    assert clean.reasons == [], clean.details


def test_isbns_dates_versions_and_ports_are_not_phones(scorer):
    text = (
        "ISBN 978-3-16-148410-0, released 2024-03-15 as 12.4.1-2 (build 20240315); port 5432 and 27017.\n"
        "0130;LATIN CAPITAL LETTER I WITH DOT ABOVE;Lu;0;L;0049 0307;;;;N;"  # UnicodeData.txt, not +49
    )
    result, _ = _found(scorer, text)
    assert result.reasons == [], result.details
