"""The sensitive-data scorer against real presidio, phonenumbers and tldextract (no mocks of them)."""

from __future__ import annotations

import base64
import hashlib
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curation.models import ScoreResult, Span
from curation.scorers.sensitive import MAX_MASKED_CHARS, REASONS, SensitiveDataScorer
from tests.curation.helpers import doc


@pytest.fixture(scope="module")
def scorer() -> SensitiveDataScorer:
    return SensitiveDataScorer()


def _spans(result: ScoreResult) -> list[Span]:
    spans = result.details["spans"]
    assert isinstance(spans, list)
    return spans


def _found(scorer: SensitiveDataScorer, text: str) -> tuple[ScoreResult, dict[str, list[str]]]:
    """The result, and the raw text under each reason's spans (for asserting here only)."""
    result = scorer.score(doc(text))
    raw: dict[str, list[str]] = {}
    for span in _spans(result):
        value = text[span.start : span.end]
        assert value not in span.masked and len(span.masked) == min(len(value), MAX_MASKED_CHARS), span
        raw.setdefault(span.kind, []).append(value)
    assert result.score == (0.0 if result.reasons else 1.0)
    assert set(result.reasons) == set(raw) <= set(REASONS)
    return result, raw


def _fake_pem_body(lines: int = 12) -> str:
    """Base64 lines shaped like a PEM key body, from a hash: never a real key."""
    blob = b"".join(hashlib.sha512(f"vetted-test-{i}".encode()).digest() for i in range(lines))
    text = base64.b64encode(blob).decode()
    return "\n".join(text[i : i + 64] for i in range(0, len(text), 64))


def test_debian_changelog_maintainer_address_is_personal_data(scorer):
    text = (
        "libfoo (2.4.1-3) unstable; urgency=medium\n\n"
        "  * Fix FTBFS with GCC 14 (Closes: #1075381).\n"
        "  * Sync with upstream 2.4.1.20240110; thanks to debian-devel@lists.debian.org.\n\n"
        " -- Ana Lopez <ana.lopez@debian.org>  Tue, 03 Sep 2024 10:15:02 +0200\n"
    )
    result, raw = _found(scorer, text)
    assert result.reasons == ["pii_email"] and raw == {"pii_email": ["ana.lopez@debian.org"]}
    assert _spans(result)[0].masked == "a******************g"
    assert result.details["counts"] == {"pii_email": 1}
    assert result.details["ignored"] == {"email_role_account": 1}  # the mailing list is no person


def test_phone_numbers_in_us_uk_and_international_form(scorer):
    text = (
        "Call me on (212) 555-0143 after five.\n"
        "London office: 020 7946 0958.\n"
        "Berlin: +49 30 901820, or call 5272868387.\n"
    )
    result, raw = _found(scorer, text)
    assert result.reasons == ["pii_phone"]
    assert raw["pii_phone"] == ["(212) 555-0143", "020 7946 0958", "+49 30 901820", "5272868387"]
    assert result.details["counts"] == {"pii_phone": 4}


def test_bare_digit_runs_and_versions_are_not_phones(scorer):
    text = "Build 5272868387 took 0.3514598035 s; binutils (2.39.90.20230110-1) on 2024-01-15 12:00."
    result, _ = _found(scorer, text)
    assert result.reasons == [] and result.score == 1.0


def test_luhn_valid_card_is_flagged_and_invalid_or_test_cards_are_not(scorer):
    text = "Card 4556 7375 8689 9855 on file. Typo 4556 7375 8689 9856. Stripe test card 4242 4242 4242 4242."
    result, raw = _found(scorer, text)
    assert raw == {"pii_credit_card": ["4556 7375 8689 9855"]}
    assert result.details["ignored"] == {"credit_card_test_number": 1}


def test_iban_with_valid_checksum(scorer):
    result, raw = _found(scorer, "Please pay to IBAN DE89 3704 0044 0532 0130 00 by Friday.")
    assert raw == {"pii_iban": ["DE89 3704 0044 0532 0130 00"]}
    assert _spans(result)[0].masked == "D" + "*" * 25 + "0"


def test_us_ssn_and_context_bound_national_ids(scorer):
    _, raw = _found(scorer, "Employee SSN: 536-22-8346. NHS number 9434765919.")
    assert raw == {"pii_national_id": ["536-22-8346", "9434765919"]}
    # the same NHS checksum without a context word is a build number, not a person
    result, _ = _found(scorer, "Build id 9434765919 finished in 3 minutes.")
    assert result.reasons == []


def test_aws_key_pair_and_aws_documentation_examples(scorer):
    text = (
        "[default]\n"
        "aws_access_key_id = AKIAQ3EGRHZ7TKXW5N2B\n"
        "aws_secret_access_key = 9Xq2Lr7Tb1Vz0Kp4Nw8Hs3Jd6Fg5Cm2Qe7Ya1Ub0\n"
    )
    result, raw = _found(scorer, text)
    assert raw == {"secret_aws_key": ["AKIAQ3EGRHZ7TKXW5N2B", "9Xq2Lr7Tb1Vz0Kp4Nw8Hs3Jd6Fg5Cm2Qe7Ya1Ub0"]}
    docs_example = (
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
    )
    example = scorer.score(doc(docs_example))
    assert example.reasons == [] and example.details["ignored"] == {"secret_example_value": 3}


def test_github_token(scorer):
    result, raw = _found(scorer, "export GITHUB_TOKEN=ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3s12\n")
    assert result.reasons == ["secret_github_token"]
    assert raw == {"secret_github_token": ["ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3s12"]}


def test_rsa_private_key_block_and_placeholder_block(scorer):
    block = f"-----BEGIN RSA PRIVATE KEY-----\n{_fake_pem_body()}\n-----END RSA PRIVATE KEY-----"
    result, raw = _found(scorer, f"The deploy key leaked:\n\n{block}\n\nRotate it now.")
    assert raw == {"secret_private_key": [block]}
    assert len(_spans(result)[0].masked) == MAX_MASKED_CHARS  # not 1 KB of asterisks
    placeholder = "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----"
    shown = scorer.score(doc(f"Your key file looks like:\n{placeholder}\n"))
    assert shown.reasons == [] and shown.details["ignored"] == {"secret_placeholder": 1}


def test_password_assignment_and_placeholders(scorer):
    text = (
        "[database]\n"
        'password = "hunter2-long-secret"\n'
        "admin_password = <password>\n"
        "api_key = changeme\n"
        'token = "${GITHUB_TOKEN}"\n'
        "token: ${{ secrets.GITHUB_TOKEN }}\n"
        "db_password = settings.password\n"
        "max_tokens: 2048\n"
    )
    result, raw = _found(scorer, text)
    assert raw == {"secret_password_assignment": ["hunter2-long-secret"]}
    assert _spans(result)[0].masked == "h*****************t"
    assert result.details["ignored"] == {"secret_placeholder": 4}


def test_connection_string_with_password(scorer):
    text = (
        "DATABASE_URL=postgres://app:S3cr3tPass@db.acme-corp.com:5432/prod\n"
        "Locally: postgresql://user:password@localhost/test\n"
    )
    result, raw = _found(scorer, text)
    assert raw == {"secret_connection_string": ["S3cr3tPass"]}
    # S3cr3tPass@db.acme-corp.com reads as an e-mail address; the secret claims it
    assert result.details["ignored"] == {"pii_inside_secret": 1, "secret_placeholder": 1}


def test_other_token_kinds(scorer):
    text = (
        "SLACK_BOT_TOKEN=xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx\n"
        "maps key AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q\n"
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI5ODc2NSJ9.aGVsbG8td29ybGQtc2lnbmF0dXJl\n"
    )
    result, _ = _found(scorer, text)
    assert result.reasons == ["secret_slack_token", "secret_google_api_key", "secret_jwt"]


def test_confidential_markings_in_capitals_not_prose(scorer):
    result, raw = _found(scorer, "CONFIDENTIAL - Q3 board pack. Attorney-Client Privileged.")
    assert result.reasons == ["confidential_marking"]
    assert raw["confidential_marking"] == ["CONFIDENTIAL", "Attorney-Client Privileged"]
    prose = "Keep passwords confidential. Do not distribute the binary without the licence. Internal only."
    assert scorer.score(doc(prose)).reasons == []


def test_documentation_addresses_are_clean(scorer):
    text = (
        "To register, use the email address user@example.com (or admin@mail.example.org).\n"
        "The server will listen on 192.168.1.10; allow 192.168.1.0/24 and 127.0.0.1 in pg_hba.conf.\n"
        "Documentation ranges: 192.0.2.15, 198.51.100.7, 203.0.113.9, 2001:db8::1.\n"
        "An IPv4 address like '100.50.200.5'. Resolver 8.8.8.8 answers.\n"
        "14.2.2.1. Functional Dependencies\n"
        "binutils (2.39.90.1-1) unstable; pip installed novas-3.1.1.3\n"
    )
    result, _ = _found(scorer, text)
    assert result.score == 1.0 and result.reasons == [] and _spans(result) == []
    assert result.details["ignored"] == {
        "email_documentation_domain": 2,
        "ip_documentation_example": 1,
        "ip_not_global": 7,
        "ip_section_number": 1,
        "ip_version_like": 2,
        "ip_well_known_public": 1,
    }


def test_public_ip_in_a_ticket_is_personal_data(scorer):
    _, raw = _found(scorer, "Customer connects from 81.2.69.142 and gets a timeout.")
    assert raw == {"pii_ip_address": ["81.2.69.142"]}


def test_raw_values_never_leave_the_scorer(scorer):
    secrets = ["ana.lopez@debian.org", "hunter2-long-secret", "536-22-8346", "S3cr3tPass"]
    text = f"Mail {secrets[0]}\npassword = '{secrets[1]}'\nSSN {secrets[2]}\nredis://cache:{secrets[3]}@10.0.0.5\n"
    result = scorer.score(doc(text))
    assert len(result.reasons) == 4
    assert not any(s in repr(result) for s in secrets)


def test_long_documents_are_scanned_whole_and_counted_once():
    # small windows so the boundaries fall on the values: each must be found once, with its true offsets
    scorer = SensitiveDataScorer(window_chars=4096, max_spans=3)
    filler = "The quick brown fox jumps over the lazy dog. " * 2000
    values = ["ana.lopez@debian.org", "+49 30 901820", "DE89 3704 0044 0532 0130 00"]
    text = filler
    for i, value in enumerate(values, start=1):
        at = i * 4096 * 4 - len(value) // 2  # straddles a window edge
        text = text[:at] + " " + value + " " + text[at + len(value) + 2 :]
    result = scorer.score(doc(text))
    assert result.details["counts"] == {"pii_email": 1, "pii_phone": 1, "pii_iban": 1}
    assert [text[s.start : s.end] for s in _spans(result)] == values
    big = scorer.score(doc("ana.lopez@debian.org\n" * 10))
    assert big.details["counts"] == {"pii_email": 10} and big.details["spans_dropped"] == 7
    # spans past max_spans could not be redacted: a reason of its own, which the policy keeps unsafe
    assert big.reasons == ["pii_email", "pii_too_many_findings"]


def test_no_network_and_no_cache_writes(monkeypatch, tmp_path):
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("TLDEXTRACT_CACHE", str(tmp_path))
    fresh = SensitiveDataScorer()  # a new scorer loads tldextract's suffix list now, under the patch
    result = fresh.score(doc("Contact: ana.lopez@debian.org or j.smith@company.co.uk"))
    assert result.details["counts"] == {"pii_email": 2}
    assert attempts == [] and list(tmp_path.iterdir()) == []


def test_bad_arguments_fail_at_once():
    with pytest.raises(ValueError, match="min_score"):
        SensitiveDataScorer(min_score=0)
    with pytest.raises(ValueError, match="window_chars"):
        SensitiveDataScorer(window_chars=100)


_TRICKY = st.text(alphabet="0123456789 +-().@:/_=\"'\nxAKIghp-BEGIN PRIVATE KEY", max_size=400)
_BINARYISH = st.binary(max_size=400).map(lambda b: b.decode("latin-1"))
_ANY = st.text(alphabet=st.characters(codec=None), max_size=400)  # lone surrogates included


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(_ANY, _BINARYISH, _TRICKY))
def test_any_text_scores_in_range_without_crashing(scorer, text):
    result = scorer.score(doc(text))
    assert 0.0 <= result.score <= 1.0
    for span in _spans(result):
        assert 0 <= span.start < span.end <= len(text)


# --- what stays as it is: public sources, role and list addresses, the allow-list ------------------------

PUBLISHED = "Report bugs to mgomez@fastmail.fm or call +49 30 901820; the card on file: 4556 7375 8689 9855."


def test_a_public_source_keeps_its_contacts_but_not_a_card():
    scorer = SensitiveDataScorer(public_sources=["product-docs-python"])
    public = scorer.score(doc(PUBLISHED, source="product-docs-python"))
    assert public.reasons == ["pii_credit_card"]
    assert public.details["ignored"] == {"email_public_source": 1, "phone_public_source": 1}
    private = scorer.score(doc(PUBLISHED, source="tickets-changelogs"))
    assert private.reasons == ["pii_email", "pii_phone", "pii_credit_card"]


def test_role_list_and_allow_listed_addresses_are_not_personal_data():
    scorer = SensitiveDataScorer(allowed_emails=["Docs-Team@Fastmail.fm"])
    text = (
        "Write to pkg-python-maintainers@lists.alioth.debian.org, to python-maintainers@debian.org, to "
        "security@python.org or to docs-team@fastmail.fm; Ana Lopez <ana.lopez@fastmail.fm> reviewed it."
    )
    result = scorer.score(doc(text))
    assert result.reasons == ["pii_email"] and result.details["counts"] == {"pii_email": 1}
    assert result.details["ignored"] == {"email_allow_listed": 1, "email_role_account": 3}


def test_handling_instructions_are_markings():
    result = SensitiveDataScorer().score(
        doc("Tier 2 queue export. Contains customer identifiers; do not paste into chat.\n" + "word " * 30)
    )
    assert result.reasons == ["confidential_marking"]
    assert result.details["counts"] == {"confidential_marking": 2}
    prose = "Do not share one connection between threads. This module contains personal favourites."
    assert SensitiveDataScorer().score(doc(prose)).reasons == []


def test_a_debian_version_with_a_date_is_not_a_phone_number(scorer):
    # redaction would otherwise turn "kmod (30+20221128-1)" into "kmod (30<PHONE_1>)"
    for header in ("kmod (30+20221128-1) unstable; urgency=medium", "libssh2 (0.14+20070102-1) unstable"):
        result = scorer.score(doc(header))
        assert result.reasons == [] and result.details["ignored"] == {"number_embedded": 1}
    assert scorer.score(doc("Call us: +49 30 901820.")).reasons == ["pii_phone"]
