"""Vendor tokens found by detect-secrets' plugins (Yelp/detect-secrets 1.5.0): their rules, maintained there.

Our own patterns (secrets_patterns) keep what they were tuned for: AWS, GitHub, Slack, Google, JWT, private
key blocks, connection strings and `password = ...` assignments, each with its placeholder rules. Every other
issuer's shape comes from detect-secrets: each plugin's compiled `denylist` regexes (its public class
attribute) run here with `finditer`, because `analyze_line` yields values without offsets and, with the
default settings, would call a plugin's `verify` (an HTTP request to the issuer). A match then passes
detect-secrets' own false-alarm heuristics (sequential strings, UUIDs, templates) and a Shannon-entropy
floor computed by its high-entropy plugin, then ours (`AKIAIOSFODNN7EXAMPLE`-style doc examples).

Plugins left out, and why (tests/curation/test_detectors.py fails when an upgrade brings one not named here):
- PrivateKeyDetector, BasicAuthDetector: a header or `://user:pw@` alone; ours need key material and skip
  `postgres:postgres@`-style doc defaults.
- KeywordDetector, Cloudant/IBM/SoftLayer keyword rules, high-entropy strings: generic `key = value`
  assignments ours already judge (MIN_ASSIGNED_SECRET_CHARS, placeholders); run alone over prose the entropy
  plugins flag every quoted SHA-256, and the keyword regexes scan at 6-10 MB/s.
- ArtifactoryDetector: `AP[0-9A-F]` + 8 letters matches ordinary identifiers ("APIClientFactory").
- IPPublicDetector: addresses are personal data, judged by the presidio IP recognizer and ip_ignore_reason.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

from detect_secrets.filters.heuristic import is_potential_uuid, is_sequential_string, is_templated_secret
from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector

from curation.scorers.detect.example_rules import Hit, HitSet, secret_ignore_reason
from curation.scorers.detect.needles import Found

# A random token's characters carry ~4.2 bits each at 24 characters (log2 of its length at most);
# `sk_live_aaaaaaaaaaaabbbbbbbbbbbb` carries 1. Below this a match is a hand-typed placeholder.
MIN_TOKEN_ENTROPY_BITS = 3.0
MIN_GROUP_CHARS = 16  # the shortest secret a plugin captures in a group (npm's tokens are 36+)
_ENTROPY = Base64HighEntropyString()  # only its calculate_shannon_entropy is used
_WORD_CHAR = re.compile(r"\w")
_TOKEN_TAIL = re.compile(r"[0-9A-Za-z]*")


@dataclass(slots=True, frozen=True)
class VendorRule:
    """One detect-secrets plugin: the reason its findings get, and strings one of which every match holds
    (its regexes run only if one occurs: str.__contains__ is ~1 GB/s, slower plugin regexes 26-70 MB/s)."""

    plugin: type[RegexBasedDetector]
    reason: str
    # plain strings, or patterns where no plain string is rare enough; each pattern opens with a literal,
    # which `re` finds by a fast search, while an alternation ("gl..-|GR1348941") is tried at every
    # position: GitLab's two triggers as one regex cost 12 us per 2 KB, as two 3 us
    triggers: tuple[str, ...] | tuple[re.Pattern[str], ...]
    lowered: bool = False  # triggers are looked up in the lower-cased text (an IGNORECASE plugin regex)
    # a token stands alone: no word character right before it, nor after it unless `open_end`, when the
    # plugin matches a fixed-length start of a longer key (Stripe's live keys run past the 24 it requires):
    # the span then takes the rest of the token, so redaction masks all of it
    bounded: bool = True
    open_end: bool = False
    # secrets_patterns has a rule of its own for this issuer and already counted the placeholders it saw
    backs_up: bool = False
    # lower-case words one of which the lower-cased text holds wherever the plugin's regexes can match (the
    # scorer's one needle pass finds them, detect.needles); empty: the plain-string triggers' lower case
    needs: tuple[str, ...] = ()
    # (trigger, its lower case) of plain-string triggers, made once: lower() per look-up cost ~20 us a page
    _pairs: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        strings = self.triggers if isinstance(self.triggers[0], str) else ()
        object.__setattr__(self, "_pairs", tuple((t, t.lower()) for t in cast(tuple[str, ...], strings)))

    def regexes(self) -> Iterable[re.Pattern[str]]:
        # a class attribute on every plugin; the base declares it an abstract property, hence the cast
        return cast(Iterable[re.Pattern[str]], self.plugin.denylist)

    def needles(self) -> tuple[str, ...]:
        if self.needs or not isinstance(self.triggers[0], str):
            return self.needs
        return tuple(t.lower() for t in cast(tuple[str, ...], self.triggers))

    def may_match(self, text: str, lowered: str, found: Found | None = None) -> bool:
        """Whether a trigger occurs. `found`: where NEEDLE_WORDS stand in `lowered` (detect.needles); a
        trigger in the text puts its lower case in the lower-cased text, so only triggers whose needle was
        found are looked up, and none when no needle was."""
        haystack = lowered if self.lowered else text
        strings = isinstance(self.triggers[0], str)
        if found is not None:
            needles = self.needles()
            if needles and not any(map(found.__contains__, needles)):
                return False
            if strings and not self.needs:
                if self.lowered:  # the triggers are the needles: found is the answer
                    return True
                return any(t in text for t, needle in self._pairs if needle in found)
        if strings:
            return any(map(haystack.__contains__, cast(tuple[str, ...], self.triggers)))
        return any(p.search(haystack) is not None for p in cast(tuple[re.Pattern[str], ...], self.triggers))


_AWS_TRIGGERS = ("a3t", "abia", "acca", "akia", "asia", "aws")  # key id prefixes, or `aws...key = "..."`
VENDOR_RULES: tuple[VendorRule, ...] = (
    # Ours claim AWS, GitHub, Slack and JWT first; the plugins then add the prefixes ours lack (ABIA, ACCA,
    # A3T..., gh?_ with underscores, xoxo-/xoxs- tokens).
    VendorRule(AWSKeyDetector, "secret_aws_key", _AWS_TRIGGERS, lowered=True, backs_up=True),
    VendorRule(
        GitHubTokenDetector, "secret_github_token", ("gh",), backs_up=True,
        needs=tuple(f"gh{c}_" for c in "pousr"),
    ),
    VendorRule(SlackDetector, "secret_slack_token", ("xox", "hooks.slack.com"), lowered=True, backs_up=True),
    VendorRule(JwtTokenDetector, "secret_jwt", ("eyJ",), backs_up=True),
    VendorRule(StripeDetector, "secret_stripe_key", ("k_live_",), open_end=True),
    VendorRule(TwilioKeyDetector, "secret_twilio_key", ("AC", "SK")),
    VendorRule(SendGridDetector, "secret_sendgrid_key", ("SG.",)),
    VendorRule(OpenAIDetector, "secret_openai_key", ("T3BlbkFJ",)),
    VendorRule(
        GitLabTokenDetector,
        "secret_gitlab_token",
        (re.compile(r"gl[a-z]{2,5}-"), re.compile("GR1348941")),
        needs=("gl", "gr1348941"),
    ),
    VendorRule(PypiTokenDetector, "secret_pypi_token", ("pypi-",)),
    VendorRule(NpmDetector, "secret_npm_token", ("_authToken",), bounded=False),
    VendorRule(SquareOAuthDetector, "secret_square_oauth", ("sq0csp-",)),
    # needs "-us": a Mailchimp key's data-centre suffix, not the "re-use" of prose
    VendorRule(MailchimpDetector, "secret_mailchimp_key", (re.compile(r"-us\d"),), needs=("-us",)),
    VendorRule(AzureStorageKeyDetector, "secret_azure_storage_key", ("AccountKey=",)),
    VendorRule(DiscordBotTokenDetector, "secret_discord_token", (re.compile(r"\.[\w-]{6}\.[\w-]{27}"),)),
    VendorRule(TelegramBotTokenDetector, "secret_telegram_token", (re.compile(r":[0-9A-Za-z_-]{35}"),)),
)
# detect-secrets' regex plugins deliberately not run (see the module docstring): a new one fails a test.
LEFT_OUT = frozenset({
    "PrivateKeyDetector", "BasicAuthDetector", "KeywordDetector", "CloudantDetector", "IbmCloudIamDetector",
    "IbmCosHmacDetector", "SoftlayerDetector", "ArtifactoryDetector", "IPPublicDetector",
})  # fmt: skip
VENDOR_REASONS = tuple(dict.fromkeys(rule.reason for rule in VENDOR_RULES))
NEEDLE_WORDS = tuple(sorted({word for rule in VENDOR_RULES for word in rule.needles()}))
# The rules each needle can set off, and those that have none (their triggers are regexes without a literal
# worth a needle): with the needle pass's result, only those rules are looked at, ~0.5 us each otherwise.
_RULES_OF: dict[str, tuple[int, ...]] = {}
for _i, _rule in enumerate(VENDOR_RULES):
    for _word in _rule.needles():
        _RULES_OF[_word] = (*_RULES_OF.get(_word, ()), _i)
_NO_NEEDLES = frozenset(i for i, rule in enumerate(VENDOR_RULES) if not rule.needles())


def find_vendor_secrets(
    text: str, lowered: str, claimed: HitSet, ignored: Counter[str], found: Found | None = None
) -> list[Hit]:
    """Tokens detect-secrets' plugins find that no hit in `claimed` overlaps; each is added to `claimed`.
    `found`: where NEEDLE_WORDS stand in `lowered` (detect.needles), when the caller has it."""
    hits = []
    rules = VENDOR_RULES
    if found is not None:  # the rules a found needle can set off, in VENDOR_RULES order (earlier ones claim)
        indexes = set(_NO_NEEDLES).union(*(_RULES_OF[word] for word in found.keys() & _RULES_OF.keys()))
        rules = tuple(VENDOR_RULES[i] for i in sorted(indexes))
    for rule in rules:
        if not rule.may_match(text, lowered, found):
            continue
        for regex in rule.regexes():
            for match in regex.finditer(text):
                hit = _judge(rule, match, text, ignored)
                if hit is not None and not claimed.overlaps(hit.start, hit.end):
                    claimed.add(hit)
                    hits.append(hit)
    return hits


def _judge(rule: VendorRule, match: re.Match[str], text: str, ignored: Counter[str]) -> Hit | None:
    # the secret is the first group that matched (the 40 characters of `aws_secret = "..."`), else the match;
    # a group shorter than any token is a prefix alternation (GitLab's `(glpat|gldt|...)-`), not the secret
    group = next(
        (i for i in range(1, match.re.groups + 1) if len(match.group(i) or "") >= MIN_GROUP_CHARS), 0
    )
    start, end = match.span(group)
    if rule.open_end:
        end = _TOKEN_TAIL.match(text, end).end()  # type: ignore[union-attr]  # matches the empty string
    value = text[start:end]
    if rule.bounded and _glued(text, start, end):
        return None  # one piece of a longer identifier or hash, not a token of its own
    if rule.plugin is JwtTokenDetector and not JwtTokenDetector.is_formally_valid(value):
        return None
    why = _placeholder_reason(value)
    if why is not None:
        if not rule.backs_up:
            ignored[why] += 1
        return None
    return Hit(rule.reason, start, end)


def _glued(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return _WORD_CHAR.match(before) is not None or _WORD_CHAR.match(after) is not None


def _placeholder_reason(value: str) -> str | None:
    """detect-secrets' heuristics, its entropy measure, then our example markers (`...EXAMPLE`)."""
    if is_sequential_string(value) or is_potential_uuid(value) or is_templated_secret(value):
        return "secret_placeholder"
    if _ENTROPY.calculate_shannon_entropy(value) < MIN_TOKEN_ENTROPY_BITS:
        return "secret_placeholder"
    why = secret_ignore_reason(value)
    return why if why == "secret_example_value" else None
