"""Secrets and confidentiality markings, found by plain regular expressions.

Plain `re` rather than presidio PatternRecognizers: a secret is often one group of a larger match (the value
of `password = "..."`, the password inside `postgres://user:pass@host`) while presidio reports whole matches,
and none of these needs NLP context. The whole document is scanned, 50 MB included: `re` runs 6-35 MB/s on
patterns that do not open with a fixed string and `str.__contains__` ~1 GB/s, so most patterns run only when
one of their trigger strings (`AKIA`, `ghp_`, `eyJ`) occurs in the text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from curation.scorers.detect.example_rules import Hit, HitSet, secret_ignore_reason
from curation.scorers.detect.needles import Found, Needles, find_by_scans
from curation.scorers.detect.secret_plugins import NEEDLE_WORDS as VENDOR_NEEDLE_WORDS
from curation.scorers.detect.secret_plugins import find_vendor_secrets

MAX_KEY_BLOCK_CHARS = 20_000  # an RSA-8192 PEM is ~6.5 KB; past this the END line belongs to something else


@dataclass(slots=True, frozen=True)
class SecretPattern:
    reason: str
    regex: re.Pattern[str]
    value_group: str | int = 0  # the group that holds the secret itself: what the span covers and masks
    triggers: tuple[str, ...] = ()  # the regex runs only if one of these occurs (empty: always runs)
    # the same test as one regex, where that is cheaper: triggers sharing a literal start ("gh" of ghp_,
    # gho_, ...) are found by one fast literal search instead of one substring scan each
    trigger_regex: re.Pattern[str] | None = None
    # (?i) patterns: every match begins at one of these offsets before a word (lower case) it holds, e.g.
    # api_key 4 before "key". The regex is then only tried there, found with str.find in the lower-cased
    # text, instead of at every position (~0.1 ms per 2 KB for a case-insensitive alternation).
    starts: tuple[tuple[str, tuple[int, ...]], ...] = ()
    # lower-case words one of which the lower-cased text holds wherever a trigger matches: the scorer's one
    # needle pass (detect.needles) answers for them before any substring scan or trigger regex runs
    needs: tuple[str, ...] = ()
    _pairs: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)  # (trigger, lower)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pairs", tuple((t, t.lower()) for t in self.triggers))

    def needles(self) -> tuple[str, ...]:
        return (*self.needs, *(t.lower() for t in self.triggers), *(word for word, _ in self.starts))

    def finditer(self, text: str, lowered: str, found: Found | None = None) -> Iterator[re.Match[str]]:
        """What `self.regex.finditer(text)` yields where a trigger occurs, and nothing elsewhere. `found`:
        where this pattern's needles stand in `lowered` (a trigger in the text puts its lower case in the
        lower-cased text, so an absent needle answers for the trigger)."""
        if found is not None:
            if self.needs and not any(map(found.__contains__, self.needs)):
                return iter(())
            if self._pairs and not any(t in text for t, needle in self._pairs if needle in found):
                return iter(())
        elif self.triggers and not any(map(text.__contains__, self.triggers)):
            return iter(())
        if self.trigger_regex is not None and self.trigger_regex.search(text) is None:
            return iter(())
        if self.starts and len(lowered) == len(text):  # lower() kept every offset (it nearly always does)
            return self._anchored(text, lowered if found is None else found)
        return self.regex.finditer(text)

    def _anchored(self, text: str, where: str | Found) -> Iterator[re.Match[str]]:
        """What `finditer` yields, trying the regex only at the positions where a match can begin; `where`:
        the lower-cased text, or where its words stand in it."""
        found = find_by_scans([w for w, _ in self.starts], where) if isinstance(where, str) else where
        candidates = sorted(
            {i - back for word, backs in self.starts for i in found.get(word, ()) for back in backs}
        )
        pos = 0
        for i in candidates:
            if i < pos:
                continue  # inside the previous match (or before the text): finditer does not look there
            match = self.regex.match(text, i)
            if match is not None:
                pos = max(match.end(), i + 1)
                yield match


_Q = r"""["']?"""  # an optional quote closing a key or opening a value
_ASSIGN = rf"""{_Q}[ \t]*(?:=>|:=|[:=])[ \t]*"""

# Order matters: an earlier, more specific kind claims a span before the generic assignment rule sees it.
SECRET_PATTERNS: tuple[SecretPattern, ...] = (
    # AKIA = long-term access key id, ASIA = temporary (STS) one; then 16 capitals and digits.
    SecretPattern(
        "secret_aws_key",
        re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
        trigger_regex=re.compile("AKIA|ASIA"),
        needs=("akia", "asia"),
    ),
    # The 40-character secret key is only recognisable next to its name.
    SecretPattern(
        "secret_aws_key",
        re.compile(
            rf"(?i)(?:aws_?secret_?(?:access_?)?key|secret_?access_?key){_ASSIGN}{_Q}"
            r"(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
        ),
        "value",
        triggers=("ecret", "ECRET"),  # secret, Secret, SECRET
    ),
    SecretPattern(
        "secret_github_token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{50,255})\b"),
        trigger_regex=re.compile(r"gh[pousr]_|github_pat_"),
        needs=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    SecretPattern(
        "secret_slack_token",
        re.compile(
            r"\bxox[baprse]-\d[0-9A-Za-z-]{9,}"  # bot, app, user, refresh, legacy tokens: team id first
            r"|https://hooks\.slack\.com/services/T[0-9A-Z]+/B[0-9A-Z]+/[0-9A-Za-z]{16,}"
        ),
        triggers=("xox", "hooks.slack.com"),
    ),
    SecretPattern(
        "secret_google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"), triggers=("AIza",)
    ),
    # header.payload.signature, both JSON parts base64url of "{" = "eyJ"; an empty signature is alg=none.
    SecretPattern(
        "secret_jwt",
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
        triggers=("eyJ",),
    ),
    # Any scheme with inline credentials: postgres://, mysql://, mongodb+srv://, amqp://, https://...
    SecretPattern(
        "secret_connection_string",
        # a pasted password is not percent-encoded: it may hold ? and # (RFC 3986 would have %3F, %23)
        re.compile(r"""://(?P<user>[^\s:@/?#'"<>]{1,128}):(?P<value>[^\s@/'"<>]{1,256})@(?=[\w\[])"""),
        "value",
    ),
    # `password = "..."`, `"api_key": "..."`, `DB_PASSWORD=...`, `token: ...`: the key must END in the word,
    # so `max_tokens: 2048` and `token_type = bearer` are not assignments of a secret. The look-ahead on the
    # first letters lets `re` skip ahead by character set: twice as fast on text without keys.
    SecretPattern(
        "secret_password_assignment",
        re.compile(
            r"(?i)(?=[pstacPSTAC])(?:password|passwd|passphrase|secret|secret[_-]?key|api[_-]?key|apikey"
            r"|access[_-]?key"
            r"|private[_-]?key|client[_-]?secret|auth[_-]?token|access[_-]?token|token)"
            + _ASSIGN
            + r"""(?:"(?P<dq>[^"\n]{1,256})"|'(?P<sq>[^'\n]{1,256})'|(?P<bare>[^\s"'`,;()\[\]{}]{1,256}))"""
        ),
        starts=(
            ("pass", (0,)),  # password, passwd, passphrase
            ("secret", (0, 6, 7)),  # secret, secret_key, clientsecret, client_secret
            ("key", (3, 4, 6, 7, 8)),  # apikey, api_key, accesskey, access_key, private_key
            ("token", (0, 4, 5, 6, 7)),  # token, authtoken, auth_token, accesstoken, access_token
        ),
    ),
    # In prose: "the wifi password is eWJe-4MB8w". The value needs a digit or a capital after a small
    # letter (cofBIy%jpVNUWck), as generated and chosen passwords have, so "the password is required." and
    # "password was reset" stay prose.
    SecretPattern(
        "secret_password_assignment",
        re.compile(
            r"(?i)\b(?:password|passwd|passphrase)[ \t]+(?:is|was)[ \t]+"
            r"(?P<bare>(?=\S*\d|(?-i:\S*[a-z]\S*[A-Z]))[^\s\"'`,;()]{8,64})"
        ),
        starts=(("pass", (0,)),),
    ),
)

# The rules that know no issuer: a vendor's token in `api_key = "sk_live_..."` is named by its vendor's rule.
GENERIC_PATTERNS = tuple(
    p for p in SECRET_PATTERNS if p.reason in ("secret_connection_string", "secret_password_assignment")
)

# A generic assignment needs this many characters: `password: hunter2` is too weak a signal to call (and
# too short to protect anything), `password = "hunter2-long-secret"` is not.
MIN_ASSIGNED_SECRET_CHARS = 8

_KEY_HEADER = re.compile(r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----")
# Real PEM/OpenSSH/PGP bodies: optional `Proc-Type:`-style header lines, then base64 lines of 40+ chars.
_KEY_BODY = re.compile(r"(?:[ \t]*[\w-]+:[^\n]*\r?\n)*\s*[A-Za-z0-9+/=]{40,}")
_KEY_FOOTER = re.compile(r"-----END (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----")

# Markings in capitals are markings; the same words in lower case are prose ("keep passwords confidential",
# "do not distribute the binary without the licence"), so these match case-sensitively.
_MARKING_TRIGGERS = ("CONFIDENTIAL", "INTERNAL ", "STRICTLY PRIVATE", "DO NOT ", "NOT FOR ", "TOP SECRET")
_MARKING_PAIRS = tuple((t, t.lower()) for t in _MARKING_TRIGGERS)  # with the needle each is found by
_MARKINGS_UPPER = re.compile(
    r"(?<![\w.])(?:STRICTLY CONFIDENTIAL|COMPANY CONFIDENTIAL|PROPRIETARY AND CONFIDENTIAL|CONFIDENTIAL"
    r"|FOR INTERNAL USE ONLY|INTERNAL USE ONLY|INTERNAL ONLY|STRICTLY PRIVATE|DO NOT DISTRIBUTE"
    r"|DO NOT FORWARD|NOT FOR (?:EXTERNAL )?DISTRIBUTION|TOP SECRET)(?![\w])"
)
# Phrases that only appear as markings, in any case; each holds one of the lower-case triggers.
_ANY_CASE_TRIGGERS = ("privileged", "proprietary", "classification", "do not ", "contains ")
_MARKINGS_ANY_CASE = re.compile(
    r"(?i)\battorney[- ]client privileged\b|\bprivileged (?:and|&) confidential\b"
    r"|\bconfidential (?:and|&) proprietary\b"
    r"|\b(?:data )?classification:[ \t]*(?:confidential|restricted|secret)\b"
    # handling instructions: "Contains customer identifiers; do not paste into chat". With contact data
    # redacted rather than excluded, such an export would otherwise pass on the names and postal addresses
    # no recognizer finds.
    r"|\bcontains (?:customer|personal|employee|patient) (?:identifiers|data|information|records)\b"
    r"|\bdo not (?:paste|post|share|forward) (?:it |this )?(?:into|in|to|with|outside) "
    r"(?:chat|slack|e-?mail|anyone|customers|externals?|the company)\b"
)
# Every alternative above opens with one of these words, so the (?i) regex is tried only where one stands in
# the lower-cased text (~90 us -> ~10 us a 2 KB page that holds "do not " or "contains ").
_ANY_CASE_MARKING = SecretPattern(
    "confidential_marking",
    _MARKINGS_ANY_CASE,
    starts=tuple(
        (word, (0,))
        for word in ("attorney", "privileged", "confidential", "data", "classification", "contains", "do not")
    ),
)
# The two letters (?i) matches with an ASCII one that lower() leaves apart: dotless ı (i), long ſ (s); found
# by trying every code point (İ lowers to two characters, which the offset test in finditer catches). Where
# one occurs a marking word could hide from str.find, so the regex then runs over the whole text.
_FOLDS_TO_ASCII = ("\u0131", "\u017f")
# Every word the patterns and markings above and detect-secrets' rules (secret_plugins) are gated on, for the
# one Aho-Corasick pass over the lower-cased text (detect.needles); "-----begin" opens every key header.
NEEDLE_WORDS = tuple(
    sorted(
        {word for pattern in (*SECRET_PATTERNS, _ANY_CASE_MARKING) for word in pattern.needles()}
        | {t.lower() for t in _MARKING_TRIGGERS}
        | set(_ANY_CASE_TRIGGERS)
        | set(VENDOR_NEEDLE_WORDS)
        | {"-----begin"}
    )
)
_NEEDLES = Needles(NEEDLE_WORDS)


def find_secrets(
    text: str, ignored: Counter[str], lowered: str | None = None, found: Found | None = None
) -> list[Hit]:
    """Every secret in `text`, most specific kind first; placeholders are counted in `ignored` instead.

    Our issuer patterns, then detect-secrets' (secret_plugins), then the generic rules (GENERIC_PATTERNS).
    `lowered`: `text.lower()` when the caller has it already; `found`: where NEEDLE_WORDS stand in it
    (detect.needles: the sensitive scorer finds them once for every detector), else found here."""
    lowered = text.lower() if lowered is None else lowered
    found = _NEEDLES.find(lowered) if found is None else found
    kept = HitSet()
    if "-----begin" in found:  # every key header opens so
        for key_hit in _private_keys(text, ignored):
            kept.add(key_hit)
    for pattern in SECRET_PATTERNS:
        if pattern is GENERIC_PATTERNS[0]:  # issuers' own shapes (secret_stripe_key) before key = value
            find_vendor_secrets(text, lowered, kept, ignored, found)
        for match in pattern.finditer(text, lowered, found):
            hit = _pattern_hit(pattern, match, ignored)
            if hit is not None:
                kept.add(hit)
    return kept.hits


def find_markings(text: str, lowered: str | None = None, found: Found | None = None) -> list[Hit]:
    """Confidentiality markings; `lowered` and `found` as for find_secrets."""
    lowered = text.lower() if lowered is None else lowered
    found = _NEEDLES.find(lowered) if found is None else found
    kept = HitSet()  # "PRIVILEGED AND CONFIDENTIAL" is one marking, not two
    matches: list[re.Match[str]] = []
    if any(t in text for t, needle in _MARKING_PAIRS if needle in found):
        matches += _MARKINGS_UPPER.finditer(text)
    if any(map(found.__contains__, _ANY_CASE_TRIGGERS)):
        folded = any(map(text.__contains__, _FOLDS_TO_ASCII))
        matches += (
            _MARKINGS_ANY_CASE.finditer(text) if folded else _ANY_CASE_MARKING.finditer(text, lowered, found)
        )
    for match in matches:
        kept.add(Hit("confidential_marking", match.start(), match.end()))
    return kept.hits


def _pattern_hit(pattern: SecretPattern, match: re.Match[str], ignored: Counter[str]) -> Hit | None:
    group: str | int
    if pattern.reason == "secret_password_assignment":
        found = match.groupdict()
        group = next(g for g in ("dq", "sq", "bare") if found.get(g) is not None)
        value = match.group(group)
        if len(value) < MIN_ASSIGNED_SECRET_CHARS:
            return None
        why = secret_ignore_reason(value, quoted=group != "bare")
    else:
        group = pattern.value_group
        value = match.group(group)
        why = secret_ignore_reason(value) if pattern.value_group else _example_only(value)
        if why is None and pattern.reason == "secret_connection_string":
            if len(value) < 4 or value == match.group("user"):
                why = "secret_placeholder"  # user:pw@, postgres:postgres@: doc defaults, not a leak
    if why is not None:
        ignored[why] += 1
        return None
    return Hit(pattern.reason, match.start(group), match.end(group))


def _example_only(value: str) -> str | None:
    """Fixed-format tokens are never templates, only vendor examples (AKIAIOSFODNN7EXAMPLE)."""
    reason = secret_ignore_reason(value)
    return reason if reason == "secret_example_value" else None


def _private_keys(text: str, ignored: Counter[str]) -> list[Hit]:
    """BEGIN..END blocks that hold key material; a header over `...` or `<your key>` is a doc placeholder."""
    hits: list[Hit] = []
    for header in _KEY_HEADER.finditer(text):
        body = _KEY_BODY.match(text, header.end())
        if body is None:
            ignored["secret_placeholder"] += 1
            continue
        footer = _KEY_FOOTER.search(text, body.end(), body.end() + MAX_KEY_BLOCK_CHARS)
        hits.append(Hit("secret_private_key", header.start(), footer.end() if footer else body.end()))
    return hits
