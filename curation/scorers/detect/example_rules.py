"""What the sensitive-data scorer does not count as personal data or secrets, and why.

Product documentation is full of addresses and keys that look real and are not: `user@example.com`,
`192.168.1.10`, `4111 1111 1111 1111`, `AKIAIOSFODNN7EXAMPLE`, `password = <password>`. Each rule here
returns a stable snake_case reason for ignoring a value (counted in `details["ignored"]`), or None when the
value stands.
"""

from __future__ import annotations

import ipaddress
import re
from bisect import bisect_right
from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class Hit:
    """One finding before masking: the scorer reason it maps to, where it is, and how sure the finder is."""

    reason: str
    start: int
    end: int
    score: float = 1.0


class HitSet:
    """Non-overlapping hits in start order; `add` refuses a hit that overlaps one already kept.

    Bisect, not a scan of every kept hit: a 50 MB dump can hold a hundred thousand findings.
    """

    __slots__ = ("_starts", "hits")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self.hits: list[Hit] = []

    def overlaps(self, start: int, end: int) -> bool:
        # Kept hits never overlap, so their ends rise with their starts: only the two neighbours can touch.
        i = bisect_right(self._starts, start)
        if i > 0 and self.hits[i - 1].end > start:
            return True
        return i < len(self.hits) and self.hits[i].start < end

    def add(self, hit: Hit) -> bool:
        if self.overlaps(hit.start, hit.end):
            return False
        i = bisect_right(self._starts, hit.start)
        self._starts.insert(i, hit.start)
        self.hits.insert(i, hit)
        return True


# "an IPv4 address like '100.50.200.5'", "(for example, jane@acme.com)": the text says it is an example
_EXAMPLE_BEFORE = re.compile(r"(?i)\b(?:for example|for instance|e\.g\.|such as|like|example)\W{0,3}\Z")


def preceding(text: str, start: int, n: int = 24) -> str:
    """The `n` characters before `start`; a document's start reads as a line start."""
    return text[start - n : start] if start >= n else "\n" + text[:start]


# --- e-mail ---------------------------------------------------------------------------------------------

# RFC 2606 / RFC 6761 reserved names, plus the placeholder domains docs use instead of a real one.
DOCUMENTATION_DOMAINS = frozenset({
    "example.com", "example.org", "example.net", "example.edu",
    "yourdomain.com", "your-domain.com", "yourcompany.com", "mydomain.com", "domain.com", "company.com",
})  # fmt: skip
RESERVED_TLDS = frozenset({"example", "test", "invalid", "localhost", "local"})
# Functional mailboxes are published on purpose and name no natural person (GDPR art. 4(1)); a person's
# address such as a Debian maintainer's in a changelog trailer is not on this list and stays personal data.
ROLE_LOCAL_PARTS = frozenset({
    "noreply", "no-reply", "donotreply", "do-not-reply", "postmaster", "hostmaster", "webmaster", "abuse",
    "mailer-daemon", "security", "support", "info", "help", "sales", "admin", "root", "git",
})  # fmt: skip
LIST_SUFFIXES = (
    "-list", "-users", "-devel", "-dev", "-announce", "-bugs", "-discuss", "-group", "-team", "-maintainers",
    "-project", "-hackers", "-general",
)  # fmt: skip


def email_ignore_reason(
    value: str,
    before: str,
    extra_domains: frozenset[str] = frozenset(),
    allowed: frozenset[str] = frozenset(),
) -> str | None:
    """Why an e-mail address is not personal data, or None. `before` is the text just before it;
    `allowed` holds the addresses sources.toml's [contacts] publishes (lower case)."""
    if value.lower() in allowed:
        return "email_allow_listed"
    if before.endswith("://"):
        return "email_url_userinfo"  # ssh://git@host/..., https://user@host/...: a login, not an address
    if _EXAMPLE_BEFORE.search(before):
        return "email_documentation_example"
    local, _, domain = value.lower().rpartition("@")
    labels = domain.split(".")
    for i in range(len(labels) - 1):  # the domain itself or any parent: mail.example.com
        if ".".join(labels[i:]) in DOCUMENTATION_DOMAINS or ".".join(labels[i:]) in extra_domains:
            return "email_documentation_domain"
    if labels[-1] in RESERVED_TLDS or domain == "localhost":
        return "email_documentation_domain"
    local = local.split("+", 1)[0]
    if local in ROLE_LOCAL_PARTS or local.endswith(LIST_SUFFIXES) or domain.startswith("lists."):
        return "email_role_account"  # python-list@python.org, debian-devel@lists.debian.org: not people
    return None


# --- IP addresses ---------------------------------------------------------------------------------------

# Public resolvers, the canonical placeholder and example.com's long-time addresses (Python's socket docs):
# infrastructure that docs cite, not a person's host.
WELL_KNOWN_PUBLIC_IPS = frozenset({
    "8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9", "149.112.112.112", "208.67.222.222",
    "208.67.220.220", "1.2.3.4", "93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946",
})  # fmt: skip
# "version 1.2.3.4", "novas-3.1.1.3", "novas==3.1.1.3", "E.21.3.1.1" (an appendix section): glued to a name
_VERSION_BEFORE = re.compile(
    r"(?i)(?:\bversion|\bv|\bver\.?|\brelease|\brev)\s*\Z|[A-Za-z0-9][.-]\Z|[=~<>]=\Z"
)
_VERSION_AFTER = re.compile(r"[-~+][0-9A-Za-z]|\.\d")
# "14.2.2.1. Functional Dependencies" (PostgreSQL docs) and "see Section 36.4.4.2."
_SECTION_BEFORE = re.compile(r"(?i)\n[ \t]*\Z|\b(?:section|chapter|table|figure|appendix)\s*\Z|§\s*\Z")


def ip_ignore_reason(value: str, before: str, after: str) -> str | None:
    """Why an IP match is not a personal address, or None.

    Only globally reachable addresses can point at a person: RFC 1918 private ranges, loopback, link-local,
    CGNAT, multicast and the RFC 5737 / RFC 3849 documentation ranges (192.0.2.0/24, 198.51.100.0/24,
    203.0.113.0/24, 2001:db8::/32) are all `not is_global` in Python's ipaddress registry.
    """
    if _VERSION_AFTER.match(after) or _VERSION_BEFORE.search(before):
        return "ip_version_like"  # Debian versions such as 3.16.2.1-2 parse as IPv4
    if after.startswith(".") and _SECTION_BEFORE.search(before):
        return "ip_section_number"
    if _EXAMPLE_BEFORE.search(before):
        return "ip_documentation_example"
    try:
        address = ipaddress.ip_interface(value).ip
    except ValueError:
        return "ip_not_address"
    if address.version == 6 and sum(1 for g in value.split("/")[0].split(":") if g) < 3:
        return "ip_not_address"  # `be::` and `a::b` in prose and code are valid IPv6, but never an address
    if not address.is_global or address.is_reserved:  # reserved: IPv6 outside 2000::/3 is unassigned
        return "ip_not_global"
    if str(address) in WELL_KNOWN_PUBLIC_IPS:
        return "ip_well_known_public"
    if address.version == 4 and sum(1 for octet in str(address).split(".") if len(octet) == 1) >= 3:
        return "ip_version_like"  # pip's "novas (3.1.1.3)"; a random host has 3 one-digit octets 1 in 3,000
    return None


# --- numbers: cards, phones, national IDs, IBANs ---------------------------------------------------------

# Card numbers that payment providers publish for testing (Stripe, Adyen, PayPal docs): never a customer's.
TEST_CARD_NUMBERS = frozenset({
    "4111111111111111", "4242424242424242", "4012888888881881", "4000056655665556", "4000000000000002",
    "5555555555554444", "5105105105105100", "5200828282828210", "2223003122003222", "378282246310005",
    "371449635398431", "378734493671000", "6011111111111117", "6011000990139424", "3530111333300000",
    "3566002020360505", "30569309025904", "38520000023237",
})  # fmt: skip


def card_ignore_reason(value: str) -> str | None:
    digits = "".join(c for c in value if c.isdigit())
    return "credit_card_test_number" if digits in TEST_CARD_NUMBERS else None


def number_embedded(text: str, start: int, end: int) -> bool:
    """True when a numeric match is only part of a longer token: CVE-2026-113003, uuid groups, #357728.

    A national ID or phone number stands alone; digits glued to letters or chained by - . / are part of an
    identifier, a version or a hash, and checksums pass on about one such digit run in ten.
    """
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    if before.isalnum() or before in "_#" or after.isalnum() or after == "_":
        return True
    if before in "-./" and start > 1 and text[start - 2].isalnum():
        return True
    return after in "-./" and end + 1 < len(text) and text[end + 1].isalnum()


# --- secrets -------------------------------------------------------------------------------------------

# Vendor doc examples (AWS's AKIAIOSFODNN7EXAMPLE, jwt.io's sample token): ignored wherever they appear.
EXAMPLE_SECRET_MARKERS = ("EXAMPLE", "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
_PLACEHOLDER_WORDS = (
    "changeme", "change_me", "change-me", "changeit", "placeholder", "example", "redacted", "dummy", "sample",
    "your", "xxxx", "****", "....", "todo", "fixme", "insert", "replace", "getenv", "environ", "process.env",
)  # fmt: skip
_PLACEHOLDER_VALUES = frozenset({"password", "passwd", "secret", "none", "null", "nil", "undefined", "empty"})
_TEMPLATE_START = tuple("<[{($%")  # <password>, [REDACTED], {{ pw }}, ${DB_PASS}, %(pw)s, $PASSWORD
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z_]*(?:\.[A-Za-z_][A-Za-z_]*)*")


def secret_ignore_reason(value: str, *, quoted: bool = True) -> str | None:
    """Why a credential-looking value is a placeholder, or None when it may be real.

    An unquoted value that reads like code (`self.password`, `getpass`) is a variable, not a secret; a
    digit in it (`s3cr3tpass`) makes it a literal again.
    """
    if any(marker in value for marker in EXAMPLE_SECRET_MARKERS):
        return "secret_example_value"
    lowered = value.lower()
    if (
        value.startswith(_TEMPLATE_START)
        or lowered in _PLACEHOLDER_VALUES
        or any(word in lowered for word in _PLACEHOLDER_WORDS)
        or len(set(value)) <= 2  # ***, xxxxxxxx, ........
        # "the Token= setting." in prose: a sentence's full stop does not make a word a literal
        or (not quoted and _IDENTIFIER.fullmatch(value.rstrip(".,:;!?")) is not None)
    ):
        return "secret_placeholder"
    return None
