"""The planted values of the second labelled set: Faker in ten locales, and issuers' token shapes drawn here.

Independent of set 1's generators (presidio-evaluator templates, pipelines.fixtures.fake_secrets): the
secrets follow each issuer's published format (Stripe `sk_live_`, Twilio `AC` + 32 hex, SendGrid
`SG.<22>.<43>`, GitLab `glpat-`, ...), identity documents follow the issuing countries' layouts (the UK DVLA
licence: surname, birth date, initials; an Indian Aadhaar: 12 digits in fours). Every function takes the
row's own `random.Random` and a Faker already seeded from it; none reads the clock (no Faker date provider).
"""

from __future__ import annotations

import base64
import json
import random
import string

import phonenumbers
from faker import Faker

LOCALES = ("en_GB", "de_DE", "fr_FR", "en_IN", "ja_JP", "en_AU", "es_ES", "it_IT", "nl_NL", "en_US")
REGION = {loc: loc.split("_")[1].replace("UK", "GB") for loc in LOCALES}
_HEX = "0123456789abcdef"
_B62 = string.ascii_letters + string.digits
_B64URL = _B62 + "-_"


def pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def phone(rng: random.Random, fake: Faker, locale: str) -> str:
    """A Faker phone number of `locale` that is a valid number of its region (ITU metadata, phonenumbers).

    Faker's formats also emit strings no network would route ("00008063608" for de_DE); those are not
    phone numbers, so they are redrawn rather than labelled either way."""
    for _ in range(50):
        value = fake.phone_number()
        try:
            parsed = phonenumbers.parse(value, REGION[locale])
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return value
    raise RuntimeError(f"Faker {locale} gave no valid phone number in 50 draws")


def international(rng: random.Random, fake: Faker, locale: str) -> str:
    """A valid number of `locale` in E.164 (+442079460958) or ITU's spaced international layout."""
    parsed = phonenumbers.parse(phone(rng, fake, locale), REGION[locale])
    fmt = rng.choice((phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL))
    return phonenumbers.format_number(parsed, fmt)


def amount(rng: random.Random) -> str:
    """A yearly pay figure the way payroll notes write one, in several currencies and groupings."""
    n = rng.randrange(28, 240) * 500
    grouped = f"{n:,}"
    return rng.choice((
        f"${grouped}", f"£{grouped}", f"€{grouped.replace(',', '.')}", f"EUR {grouped}", f"USD {grouped}",
        f"{n // 1000}k", f"{grouped} GBP", f"€{n // 1000}k", f"CHF {grouped.replace(',', chr(39))}",
    ))  # fmt: skip


# Locales with an IBAN format of their own; Faker's others fall back to "GB" with their own BBAN length
# (GB29MPDH5561971463772: 21 characters where a British IBAN has 22), which no bank would accept.
IBAN_LOCALES = ("en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL")


def iban(rng: random.Random) -> str:
    fake = Faker(rng.choice(IBAN_LOCALES))
    fake.seed_instance(rng.randrange(2**31))
    return str(fake.iban())


def passport(rng: random.Random, fake: Faker) -> str:
    return str(fake.passport_number())


def driving_licence(rng: random.Random, fake: Faker) -> str:
    surname = "".join(c for c in fake.last_name().upper() if c in string.ascii_uppercase)[:5].ljust(5, "9")
    return rng.choice((
        # DVLA: 5 of the surname, decade, month (+50 for women), day, year, 2 initials, a digit, 2 letters
        f"{surname}{rng.randrange(5, 10)}{rng.randrange(1, 13) + rng.choice((0, 50)):02d}"
        f"{rng.randrange(1, 29):02d}{rng.randrange(10)}{pick(rng, string.ascii_uppercase, 2)}"
        f"{rng.randrange(10)}{pick(rng, string.ascii_uppercase, 2)}",
        f"{rng.choice(string.ascii_uppercase)}{pick(rng, string.digits, 3)}-{pick(rng, string.digits, 4)}-"
        f"{pick(rng, string.digits, 4)}",  # several US states: a letter and 12 digits
        pick(rng, string.ascii_uppercase + string.digits, 11),  # the German card's 11 characters
    ))  # fmt: skip


def national_id(rng: random.Random, fake: Faker) -> tuple[str, str]:
    """(label words, number) of a national identity number as it is written in prose."""
    return rng.choice((
        ("Aadhaar", " ".join(pick(rng, string.digits, 4) for _ in range(3))),
        ("national ID number", pick(rng, string.digits, 9)),
        ("ID card no.", f"{rng.choice('CFGHJKLMNPRTVWXYZ')}{pick(rng, 'CFGHJKLMNPRTVWXYZ0123456789', 8)}"),
        ("identity card", pick(rng, string.ascii_uppercase, 3) + pick(rng, string.digits, 6)),
    ))  # fmt: skip


def employee_id(rng: random.Random) -> str:
    return rng.choice((f"E-{rng.randrange(10_000, 99_999)}", f"{rng.randrange(1, 999_999):06d}",
                       f"EMP{rng.randrange(1000, 99_999)}"))  # fmt: skip


def stripe_key(rng: random.Random) -> str:
    prefix = rng.choice(("sk_live_", "rk_live_", "sk_live_51"))
    return prefix + pick(rng, _B62, rng.choice((24, 32, 89)))


def twilio_key(rng: random.Random) -> str:
    return rng.choice(("AC", "SK")) + pick(rng, _HEX, 32)


def sendgrid_key(rng: random.Random) -> str:
    return f"SG.{pick(rng, _B64URL, 22)}.{pick(rng, _B64URL, 43)}"


def gitlab_token(rng: random.Random) -> str:
    return "glpat-" + pick(rng, _B62 + "-_", 20)


def openai_key(rng: random.Random) -> str:
    return f"sk-{pick(rng, _B62, 20)}T3BlbkFJ{pick(rng, _B62, 20)}"


def github_token(rng: random.Random) -> str:
    return rng.choice(("ghp_", "gho_", "ghs_")) + pick(rng, _B62, 36)


def slack_webhook(rng: random.Random) -> str:
    return (f"https://hooks.slack.com/services/T{pick(rng, string.ascii_uppercase + string.digits, 8)}/"
            f"B{pick(rng, string.ascii_uppercase + string.digits, 10)}/{pick(rng, _B62, 24)}")  # fmt: skip


def aws_key_id(rng: random.Random) -> str:
    return rng.choice(("AKIA", "ASIA")) + pick(rng, string.ascii_uppercase + "234567", 16)


def jwt(rng: random.Random, fake: Faker) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    claims = {"sub": fake.user_name(), "iat": rng.randrange(1_600_000_000, 1_800_000_000), "role": "admin"}
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.{pick(rng, _B64URL, 43)}"


def private_key(rng: random.Random) -> str:
    kind = rng.choice(("EC ", "OPENSSH ", ""))
    body = "\n".join(pick(rng, _B62 + "+/", 64) for _ in range(rng.randrange(3, 12)))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"


def telegram_token(rng: random.Random) -> str:
    return f"{rng.randrange(10**8, 10**10)}:AA{pick(rng, _B64URL, 33)}"


def password(rng: random.Random) -> str:
    return pick(rng, _B62, rng.randrange(4, 8)) + rng.choice("!#%*-") + pick(rng, _B62, rng.randrange(4, 10))


# --- decoys: what looks like a secret or a number and is not ------------------------------------------


def decoys(rng: random.Random, fake: Faker) -> list[tuple[str, str]]:
    """(kind, value) pairs that must not be flagged: hashes, UUIDs, versions, ISBNs, dates, example keys."""
    isbn = fake.isbn13(separator="-") if rng.random() < 0.5 else fake.isbn10(separator="-")
    return [
        ("sha256", pick(rng, _HEX, 64)),
        ("md5", pick(rng, _HEX, 32)),
        ("git_commit", pick(rng, _HEX, 40)),
        ("uuid", str(fake.uuid4())),
        ("version", f"{rng.randrange(1, 30)}.{rng.randrange(20)}.{rng.randrange(40)}-{rng.randrange(1, 9)}"),
        ("isbn", isbn),
        ("date", f"{rng.randrange(1995, 2030)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"),
        ("test_key", "sk_test_" + pick(rng, _B62, 24)),
        ("test_key", "pk_live_" + pick(rng, _B62, 24)),  # publishable: meant for web pages
        ("example_key", "AKIAIOSFODNN7EXAMPLE"),
        ("example_key", "sk_live_" + "x" * 24),
        ("port", str(rng.choice((5432, 6379, 8080, 9200, 27017)))),
        ("doc_ip", f"192.0.2.{rng.randrange(1, 255)}"),
    ]
