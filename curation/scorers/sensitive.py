"""Sensitive data: personal data, secrets and confidentiality markings. Score 1.0 = clean, 0.0 = found.

    scorer = SensitiveDataScorer()          # builds presidio's engines once (~0.3 s); reuse it
    result = scorer.score(doc)              # result.reasons == ["pii_email", "secret_aws_key"], ...
    result.details["spans"]                 # [Span("pii_email", 120, 141, "j*******************g", 1.0), ...]

Personal data comes from presidio-analyzer's recognizers (detect.pii_recognizers, run by
detect.pii_presidio), secrets and markings from plain regexes (detect.secrets_patterns) and every other
issuer's tokens from detect-secrets' plugins (detect.secret_plugins); identity-document numbers and HR
records are found by the label before them (detect.keyed_values); what documentation
shows as examples is ignored by the rules in detect.example_rules and counted in `details["ignored"]`, and
so are the e-mail addresses and phone numbers of a `public` source (its published contacts) and addresses on
sources.toml's [contacts] allow-list. Any finding makes the score 0.0: one leaked key is not less leaked for
being alone; the tier policy's [actions] say which reasons exclude the document and which are redacted
(curation.redaction masks the spans kept here, so more than `max_spans` findings is itself a reason,
`pii_too_many_findings`). Raw values never leave this module: spans carry `mask_value` output only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import partial
from typing import Any

from curation.models import Document, ScoreResult, Span, mask_value
from curation.scorers.base import Scorer
from curation.scorers.detect import keyed_values, secrets_patterns
from curation.scorers.detect.example_rules import Hit, HitSet
from curation.scorers.detect.keyed_values import find_keyed_values
from curation.scorers.detect.needles import Needles
from curation.scorers.detect.secrets_patterns import find_markings, find_secrets

# Every reason this scorer gives, in the order it reports them.
REASONS = (
    "pii_email",
    "pii_phone",
    "pii_credit_card",
    "pii_iban",
    "pii_national_id",
    "pii_identity_document",
    "pii_ip_address",
    "secret_aws_key",
    "secret_github_token",
    "secret_slack_token",
    "secret_google_api_key",
    "secret_private_key",
    "secret_jwt",
    "secret_connection_string",
    "secret_password_assignment",
    "secret_stripe_key",
    "secret_twilio_key",
    "secret_sendgrid_key",
    "secret_openai_key",
    "secret_gitlab_token",
    "secret_pypi_token",
    "secret_npm_token",
    "secret_square_oauth",
    "secret_mailchimp_key",
    "secret_azure_storage_key",
    "secret_discord_token",
    "secret_telegram_token",
    "confidential_marking",
    "confidential_hr_record",
    "pii_people_table",
    "pii_too_many_findings",
)
# Contact data a public source publishes on purpose (authors' and lists' addresses, a vendor's phone line).
PUBLIC_CONTACT_REASONS = {"pii_email": "email_public_source", "pii_phone": "phone_public_source"}
MAX_MASKED_CHARS = 64  # a masked 3 KB private key says nothing more than its first 64 characters
# The literal words the secret, marking and label detectors are gated on, found once per document for all
# of them (one Aho-Corasick pass, detect.needles, instead of ~90 substring scans)
_NEEDLES = Needles((*secrets_patterns.NEEDLE_WORDS, *keyed_values.NEEDLE_WORDS))


class SensitiveDataScorer(Scorer):
    name = "sensitive"
    reason_prefixes = ("pii_", "secret_", "confidential_")

    def __init__(
        self,
        *,
        min_score: float = 0.5,  # presidio confidence to count; lower finds more context-free phone numbers
        window_chars: int = 100_000,  # presidio analyses this much per call; every window is scanned
        max_spans: int = 200,  # spans kept in details per document; counts always cover every finding
        extra_email_domains: Iterable[str] = (),  # your own doc domains, on top of example.com and friends
        allowed_emails: Iterable[str] = (),  # published addresses (sources.toml [contacts]): never personal
        public_sources: Iterable[str] = (),  # sources.toml `public = true`: their contact data is published
    ) -> None:
        # presidio and spaCy take seconds to import: paid by a scorer that will scan, not by every reader of
        # the scorer registry (curation.table, the steward pages, `vetted retier`)
        from curation.scorers.detect.pii_presidio import WINDOW_OVERLAP_CHARS, PresidioScanner

        if not 0.0 < min_score <= 1.0:
            raise ValueError(f"min_score must be in (0, 1] as presidio scores are (e.g. 0.5): {min_score}")
        if window_chars < 4 * WINDOW_OVERLAP_CHARS:
            raise ValueError(f"window_chars must be at least {4 * WINDOW_OVERLAP_CHARS}, got {window_chars}")
        extra_email_domains, allowed_emails = tuple(extra_email_domains), tuple(allowed_emails)
        public_sources = tuple(public_sources)  # each is read twice: here and by the engines below
        # what pickling sends instead of the scorer (presidio's engines hold closures): a worker process
        # rebuilds the engines from these (a process pool, a Ray worker)
        self._arguments: dict[str, Any] = {
            "min_score": min_score, "window_chars": window_chars, "max_spans": max_spans,
            "extra_email_domains": extra_email_domains, "allowed_emails": allowed_emails,
            "public_sources": public_sources,
        }  # fmt: skip
        self.max_spans = max_spans
        self.public_sources = frozenset(public_sources)
        self._presidio = PresidioScanner(
            min_score=min_score,
            window_chars=window_chars,
            extra_email_domains=frozenset(d.lower() for d in extra_email_domains),
            allowed_emails=frozenset(e.lower() for e in allowed_emails),
        )

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return partial(SensitiveDataScorer, **self._arguments), ()

    # One document at a time (the base's score_batch): presidio's BatchAnalyzerEngine only batches spaCy's
    # tokenizer (nlp.pipe), and pass 1 runs no NLP while pass-2 snippets are a few hundred characters.
    def score(self, doc: Document) -> ScoreResult:
        text = doc.text
        lowered = text.lower()
        found = _NEEDLES.find(lowered)  # every detector's literal words, in one pass
        ignored: Counter[str] = Counter()
        secrets = find_secrets(text, ignored, lowered, found)
        claimed = HitSet()
        for hit in secrets:
            claimed.add(hit)
        # claimed: presidio's hits inside a keyed value are not PII
        secrets += find_keyed_values(text, lowered, claimed, found)
        public = doc.source in self.public_sources
        pii = []
        for hit in self._presidio.scan(text, ignored):
            if claimed.overlaps(hit.start, hit.end):
                ignored["pii_inside_secret"] += 1  # the pass@db.acme.com of postgres://app:pass@db.acme.com
            elif public and hit.reason in PUBLIC_CONTACT_REASONS:
                ignored[PUBLIC_CONTACT_REASONS[hit.reason]] += 1
            else:
                pii.append(hit)
        hits = sorted([*secrets, *pii, *find_markings(text, lowered, found)], key=lambda h: (h.start, h.end))
        counts = Counter(h.reason for h in hits)
        reasons = [r for r in REASONS if r in counts]
        if "people_table" in doc.meta:  # a sheet whose rows are people (curation.connectors.people)
            reasons.append("pii_people_table")
        if len(hits) > self.max_spans:  # spans past max_spans are not kept, so they could not be redacted
            reasons.append("pii_too_many_findings")
        details: dict[str, object] = {
            "spans": [_span(text, h) for h in hits[: self.max_spans]],
            "counts": {r: counts[r] for r in reasons if r in counts},
            "ignored": dict(sorted(ignored.items())),
            "scanned_chars": len(text),
        }
        if len(hits) > self.max_spans:
            details["spans_dropped"] = len(hits) - self.max_spans
        return ScoreResult(self.name, 0.0 if reasons else 1.0, reasons, details)


def _span(text: str, hit: Hit) -> Span:
    masked = mask_value(text[hit.start : hit.end])
    if len(masked) > MAX_MASKED_CHARS:
        masked = masked[: MAX_MASKED_CHARS - 1] + masked[-1]
    return Span(hit.reason, hit.start, hit.end, masked, hit.score)
