"""The presidio recognizers the sensitive-data scorer runs, and how their entities map to its reasons.

presidio's own recognizers where they do the job; two subclasses where they cannot run as shipped: the
e-mail recognizer would fetch the public suffix list from the internet, and the phone recognizer would try
every digit run in the text with eight regions of phonenumbers (eight times all the others together).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import phonenumbers
import tldextract
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer import predefined_recognizers as pr
from presidio_analyzer.nlp_engine import NlpArtifacts

from curation.scorers.detect.example_rules import number_embedded

LANGUAGE = "en"
CONTEXT_CHARS = 160  # text before a hit searched for context words: covers presidio's 5-word prefix
CASE_SENSITIVE_FLAGS = re.DOTALL | re.MULTILINE  # presidio compiles with `regex`, whose flag values match

NATIONAL_IDS = (
    "US_SSN", "US_ITIN", "UK_NHS", "UK_NINO", "ES_NIF", "ES_NIE", "SG_NRIC_FIN",
    "FI_PERSONAL_IDENTITY_CODE", "SE_PERSONNUMMER", "KR_RRN", "PL_PESEL", "CA_SIN", "AU_TFN", "AU_MEDICARE",
)  # fmt: skip
ENTITY_REASONS = {
    "EMAIL_ADDRESS": "pii_email",
    "PHONE_NUMBER": "pii_phone",
    "CREDIT_CARD": "pii_credit_card",
    "IBAN_CODE": "pii_iban",
    "IP_ADDRESS": "pii_ip_address",
    **{entity: "pii_national_id" for entity in NATIONAL_IDS},
}
# Bare digit runs whose only test is a checksum: mod-11 or Luhn passes on about one random number in ten, so
# timestamps and byte counts would read as NHS numbers. These need one of presidio's context words for them.
CONTEXT_REQUIRED = frozenset(
    {"UK_NHS", "CA_SIN", "AU_TFN", "AU_MEDICARE", "PL_PESEL", "SE_PERSONNUMMER", "KR_RRN"}
)


class OfflineEmailRecognizer(pr.EmailRecognizer):
    """presidio's e-mail recognizer, offline and run only around each "@".

    `tldextract.extract` (what presidio validates with) fetches the suffix list from publicsuffix.org on
    first use and caches it under ~/.cache; with no URLs and no cache dir it reads the snapshot shipped in
    the wheel. presidio's pattern tries a local part at every word start, the costliest of all recognizers on
    prose; an address needs an "@", so only the RFC 5321 maximum around one is searched.
    """

    LOCAL_MAX, DOMAIN_MAX = 64, 255

    def __init__(self) -> None:
        super().__init__()
        self._extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
        self._extract("example.com")  # reads the suffix list now (~40 ms), not in the first document's time

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        results = []
        for lo, hi in _around(text, "@", self.LOCAL_MAX + 1, self.DOMAIN_MAX):
            for result in super().analyze(text[lo:hi], entities, nlp_artifacts, regex_flags):
                result.start, result.end = result.start + lo, result.end + lo
                results.append(result)
        return results

    def validate_result(self, pattern_text: str) -> bool:
        try:
            return self._extract(pattern_text).fqdn != ""
        except ValueError:  # IDNA: a label that cannot be encoded is not a domain
            return False


def _around(text: str, needle: str, before: int, after: int) -> Iterator[tuple[int, int]]:
    """Merged (lo, hi) slices reaching `before` chars back and `after` chars on from each `needle`."""
    at = text.find(needle)
    while at != -1:
        lo, hi = max(0, at - before), at + after
        at = text.find(needle, at + 1)
        while at != -1 and at - before <= hi:
            hi = at + after
            at = text.find(needle, at + 1)
        yield lo, min(hi, len(text))


# A run of 7-15 digits with phone punctuation between them, and an optional extension.
_DIGIT_CLUSTER = re.compile(r"\+?\(?\d(?:[ ().\-/]{0,3}\d){6,14}(?:[ \t]*(?:x|ext\.?)[ \t]*\d{1,6})?")
# What every cluster above holds: 7+ digits with at most 3 punctuation characters between them. Three times
# cheaper to search for (no optional prefix, no bound), so _DIGIT_CLUSTER runs only from where one starts.
_DIGIT_RUN = re.compile(r"\d(?:[ ().\-/]{0,3}\d){6,}")
_CLUSTER_LEAD, _CLUSTER_TAIL = 2, 32  # room for "+(" before a run, " ext. 123456" after it
_SEPARATOR = re.compile(r"\d[ ().\-/]+\d")
_LENIENCY = phonenumbers.Leniency.VALID  # presidio's default: a number valid for its region
# Written the way only phone numbers are: international (+1-968-413-6155, 001-268-...), an area code in
# brackets ((633) 383-5195), or NANP's 3-3-4 groups (542-881-0915). Such a number is personal data whether
# or not its area code is assigned yet, so it needs only a possible length (Leniency.POSSIBLE), not VALID.
_PHONE_SHAPED = re.compile(r"(?:\+|00)\d|\(\d{2,4}\)[ ]?\d|\d{3}[-.]\d{3}[-.]\d{4}(?!\d)")


def phone_shaped(raw: str) -> bool:
    """True for numbers written as only phone numbers are; such a number followed by "-Office" or "/Fax" is
    a labelled phone number, not part of an identifier (number_embedded's concern with bare digits)."""
    return _PHONE_SHAPED.match(raw) is not None


_DECIMAL = re.compile(r"\d+\.\d+")  # 0.3514598035 mm, -0.284859: a measurement, however valid the digits
_ISO_DATE = re.compile(r"\(?\d{4}-\d\d-\d\d")  # (2024-01-15 in changelogs
_DOTTED = re.compile(r"\(?(\d+(?:\.\d+){2,})")
_IPV4_SHAPE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")  # 93.184.216.34: the IP recognizer's to judge
_GROUP = re.compile(r"\d+")
# The trunk prefix some countries print in brackets after the country code: +33 (0)5 82 49 73 12,
# +44 (0)20 7946 0958. Dialled from abroad it is left out, so it is no group of the number.
_BRACKETED_TRUNK = re.compile(r"^(\+\d{1,3})[ ]?\(0\)")
# 00 + country code + a subscriber number of 8 or more: "0049 0307" in a Unicode table is two code points
MIN_IDD_DIGITS = 11
PARSE_CACHE_SIZE = 4096  # distinct clusters remembered: tables and templates repeat the same numbers


def _not_a_phone(raw: str) -> bool:
    """Clusters that parse as numbers but never are one; phonenumbers costs ~0.1 ms per region to say so."""
    if _DECIMAL.fullmatch(raw) or _ISO_DATE.match(raw) or _IPV4_SHAPE.fullmatch(raw):
        return True
    # Lists of small numbers (0 1 1 2 3 5 8 13, 40.0 42.0 45.0): a phone number has at most one one-digit
    # group after its country code (+33 1 42 68 53 00, 1 800 555 0199).
    groups = _GROUP.findall(_BRACKETED_TRUNK.sub(r"\1 ", raw))[1 if raw[0] == "+" else 0 :]
    if sum(len(g) == 1 for g in groups) >= 2:
        return True
    # Versions: binutils (2.39.90.20230110-1), chromium 156.0.8078.108. Dotted phone numbers (881.428.6570,
    # 01.42.68.53.00) have no one-digit group.
    dotted = _DOTTED.match(raw)
    return dotted is not None and any(len(g) == 1 for g in dotted.group(1).split("."))


class ShapedPhoneRecognizer(pr.PhoneRecognizer):
    """presidio's phonenumbers recognizer, run per digit cluster instead of over the whole text.

    presidio scores every valid number 0.4, so only a context word lifts it over `min_score`. A number
    written in international form (+49 30 901820) or grouped exactly as its country writes it
    ((212) 555-0143, 020 7946 0958) is itself the evidence and scores STRONG_SCORE. A bare digit run
    (5272868387) is only tried with a context word in the CONTEXT_CHARS before it: without one it could never
    pass, and trying every timestamp cost eight times all the other recognizers together.
    """

    STRONG_SCORE = 0.6
    # presidio's list without "number": "version number 20240115" is no phone
    CONTEXT = ["phone", "telephone", "tel", "cell", "cellphone", "mobile", "call", "fax", "whatsapp",
               "ring", "sms", "text", "txt", "callback", "telefon", "téléphone", "appelez",
               "handy"]  # fmt: skip

    # presidio's regions plus JP, AU, ES, IT, NL, MX and ZA national layouts ("03-1234-5678", "(02) 9876
    # 5432"); one region reads all of NANP (CA included). Each region costs ~0.1 ms per new digit cluster.
    REGIONS = ("US", "GB", "DE", "FR", "IN", "JP", "AU", "ES", "IT", "NL", "BR", "MX", "IL", "ZA")

    def __init__(self) -> None:
        super().__init__(context=self.CONTEXT, leniency=_LENIENCY, supported_regions=self.REGIONS)
        words = "|".join(re.escape(w) for w in self.CONTEXT)
        self._context_word = re.compile(rf"(?i)\b(?:{words})\b")
        # cluster text -> its matches: ~1.5 ms of phonenumbers work per new cluster, a dict lookup after
        self._parsed: dict[str, list[tuple[int, int, str, bool]]] = {}

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = []
        pos = 0  # where the scan goes on, as one finditer over the whole text would
        for run in _DIGIT_RUN.finditer(text):
            pos = max(pos, run.start() - _CLUSTER_LEAD)
            for cluster in _DIGIT_CLUSTER.finditer(text, pos, run.end() + _CLUSTER_TAIL):
                if cluster.start() >= run.end():
                    break  # the next run's: its own window sees it whole
                pos = cluster.end()
                if self._worth_parsing(text, cluster):
                    results += self._parse(cluster, nlp_artifacts)
        return EntityRecognizer.remove_duplicates(results)

    def _worth_parsing(self, text: str, cluster: re.Match[str]) -> bool:
        raw, offset = cluster.group(), cluster.start()
        if _not_a_phone(raw) or (number_embedded(text, *cluster.span()) and not phone_shaped(raw)):
            return False
        if raw[0] == "+" or _SEPARATOR.search(raw) is not None:
            return True
        return self._context_word.search(text, max(0, offset - CONTEXT_CHARS), offset) is not None

    def _parse(self, cluster: re.Match[str], nlp_artifacts: NlpArtifacts | None) -> list[RecognizerResult]:
        raw, offset = cluster.group(), cluster.start()
        found = self._parsed.get(raw)
        if found is None:
            if len(self._parsed) >= PARSE_CACHE_SIZE:
                self._parsed.clear()
            found = self._parsed[raw] = self._matches(raw)
        results = []
        for start, end, region, strong in found:
            result = self._get_recognizer_result(_At(start, end), raw, region, nlp_artifacts)
            result.start, result.end = offset + start, offset + end
            result.score = self.STRONG_SCORE if strong else self.SCORE
            results.append(result)
        return results

    def _matches(self, raw: str) -> list[tuple[int, int, str, bool]]:
        """(start, end, region, well formed) of every number phonenumbers finds in one cluster."""
        # an international number parses the same from any region
        regions = self.supported_regions[:1] if raw[0] == "+" else self.supported_regions
        shaped = phone_shaped(raw)  # 684-319-4731 is valid in IN and BR too, but written as NANP writes it
        found = [
            (match.start, match.end, region, shaped or _well_formed(match.raw_string, region))
            for region in regions
            for match in phonenumbers.PhoneNumberMatcher(raw, region, leniency=_LENIENCY)
        ]
        if found or not shaped or (raw.startswith("00") and sum(map(str.isdigit, raw)) < MIN_IDD_DIGITS):
            return found
        possible = phonenumbers.Leniency.POSSIBLE
        # the shapes above are NANP's or international: one region reads them, one whose international
        # prefix is 00 for 001-967-955-2510 (the US dials 011)
        region = "GB" if raw.startswith("00") else regions[0]
        return [
            (match.start, match.end, region, True)
            for match in phonenumbers.PhoneNumberMatcher(raw, region, leniency=possible)
        ]


@dataclass(slots=True, frozen=True)
class _At:
    """Where a cached match was: what presidio's `_get_recognizer_result` reads of a PhoneNumberMatch."""

    start: int
    end: int


def _well_formed(raw: str, region: str) -> bool:
    if raw.startswith("+"):
        return True
    if _SEPARATOR.search(raw) is None:
        return False
    exact = phonenumbers.Leniency.EXACT_GROUPING
    return any(m.raw_string == raw for m in phonenumbers.PhoneNumberMatcher(raw, region, leniency=exact))


class CardNumberRecognizer(pr.CreditCardRecognizer):
    """presidio's card recognizer plus the numbers its pattern leaves out, all under its Luhn check.

    presidio's pattern takes 13-17 digits with a first digit 1, 3, 4, 5 or 6. It misses Mastercard's 2-series
    (2221-2720, issued since 2017), 18-19 digit Visa and Maestro numbers, and 12-digit Maestro numbers
    (ISO/IEC 7812 allows 12-19). Unbroken runs of 12-19 digits with a first digit 2-6 are added; Luhn passes
    one random run in ten, so a number that is not a card still needs to be long, unbroken and well placed.
    """

    EXTRA_PATTERNS = [Pattern("Card 12-19 digits (weak)", r"\b[2-6]\d{11,18}\b", 0.3)]

    def __init__(self) -> None:
        super().__init__(patterns=[*pr.CreditCardRecognizer.PATTERNS, *self.EXTRA_PATTERNS])


def build_recognizers() -> list[EntityRecognizer]:
    # Recognizers whose presidio default language is not English get "en": the text's language is unknown
    # and the patterns are language-free. Left out: IT_FISCAL_CODE (no word boundaries, a sixth of all
    # regex time) and the weak-pattern IDs (passports, driver licences, bank accounts: any 8-12 digits).
    recognizers: list[EntityRecognizer] = [
        OfflineEmailRecognizer(),
        ShapedPhoneRecognizer(),
        CardNumberRecognizer(),
        pr.IbanRecognizer(),
        # "::" alone is a reST literal-block marker far more often than the unspecified IPv6 address
        pr.IpRecognizer(patterns=[p for p in pr.IpRecognizer.PATTERNS if p.name != "IPv6_unspecified"]),
        pr.UsSsnRecognizer(),
        pr.UsItinRecognizer(),
        pr.NhsRecognizer(),
        pr.UkNinoRecognizer(),
        pr.EsNifRecognizer(supported_language=LANGUAGE),
        pr.EsNieRecognizer(supported_language=LANGUAGE),
        pr.SgFinRecognizer(),
        pr.FiPersonalIdentityCodeRecognizer(supported_language=LANGUAGE),
        pr.SePersonnummerRecognizer(supported_language=LANGUAGE),
        pr.KrRrnRecognizer(supported_language=LANGUAGE),
        pr.PlPeselRecognizer(supported_language=LANGUAGE),
        pr.CaSinRecognizer(),
        pr.AuTfnRecognizer(),
        pr.AuMedicareRecognizer(),
    ]
    for recognizer in recognizers:
        if isinstance(recognizer, PatternRecognizer):
            # presidio matches case-insensitively by default; every pattern here spells out the cases it
            # means, IBANs and ID check letters are written in capitals, and `regex` runs ~20% faster without.
            recognizer.global_regex_flags = CASE_SENSITIVE_FLAGS
    return recognizers
