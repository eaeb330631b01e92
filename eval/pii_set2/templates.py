"""The sentences of the second labelled set: how each kind of value turns up in tickets, notes and configs.

Written for this set only (set 1 fills presidio-evaluator's customer-service templates). Each template is
a function of the row's rng, Faker and locale returning (sentence, planted value); the value occurs in the
sentence verbatim, so the measure finds where it sits.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from faker import Faker

from eval.pii_set2 import values as v

Template = Callable[[random.Random, Faker, str], tuple[str, str]]
# Faker's it_IT cities come from a set, whose order changes with PYTHONHASHSEED: a fixed list instead
CITIES = ("Leeds", "Kassel", "Lyon", "Pune", "Sapporo", "Geelong", "Sevilla", "Torino", "Utrecht", "Tulsa")


def _t(fmt: str, make: Callable[[random.Random, Faker, str], str]) -> Template:
    """A template whose `{value}` is `make`'s output; {name}, {first}, {company} come from Faker."""

    def fill(rng: random.Random, fake: Faker, locale: str) -> tuple[str, str]:
        value = make(rng, fake, locale)
        sentence = fmt.format(
            value=value,
            name=fake.name(),
            first=fake.first_name(),
            city=rng.choice(CITIES),
            company=fake.company(),
        )
        return sentence, value

    return fill


def _each(fmts: tuple[str, ...], make: Callable[[random.Random, Faker, str], str]) -> list[Template]:
    return [_t(fmt, make) for fmt in fmts]


_national_phone = lambda rng, fake, loc: v.phone(rng, fake, loc)  # noqa: E731
_intl_phone = lambda rng, fake, loc: v.international(rng, fake, loc)  # noqa: E731
_PHONE_FMTS = (
    "For the on-call rota this week, ring {name} on {value}.",
    "{name} ({city} office) – mobile {value}",
    "Contact for the site visit: {first}, tel. {value}",
    "If the nightly build breaks, text {value} and ask for {first}.",
    "Kontakt: {name}, Telefon {value}",
    "Appelez {first} au {value} avant 18h.",
    "{name}'s number is {value}, she prefers calls after lunch.",
    "Customer callback requested: {value} ({name})",
)
_CONFIG = (
    "API_KEY={value}",
    'payments:\n  api_key: "{value}"\n  webhook_tolerance: 300',
    "{first} pasted this into #billing by mistake: {value}",
    'client = Client("{value}")  # TODO move to vault',
    "curl https://api.example.net/v1/charges -u {value}:",
)


def _config(make: Callable[[random.Random], str], extra: tuple[str, ...] = ()) -> list[Template]:
    return _each(_CONFIG + extra, lambda rng, fake, loc: make(rng))


def _labelled(fmt: str) -> Template:
    """A national-ID template: the label words come with the number (Aadhaar, ID card no., ...)."""

    def fill(rng: random.Random, fake: Faker, locale: str) -> tuple[str, str]:
        label, value = v.national_id(rng, fake)
        return fmt.format(label=label, value=value, name=fake.name()), value

    return fill


TEMPLATES: dict[str, list[Template]] = {
    "email": _each(
        (
            "Send the signed form to {value} by Friday.",
            "{name} <{value}> wrote:",
            "cc: {value}",
            "Questions go to {value}, not to the list.",
        ),  # fmt: skip
        lambda rng, fake, loc: fake.free_email(),
    ),
    "phone_number": _each(_PHONE_FMTS, _national_phone) + _each(_PHONE_FMTS[:4], _intl_phone),
    "credit_card": _each(
        (
            "Card on file: {value}, expires next spring.",
            "Refund the duplicate charge to card {value}.",
            "{name} read out the card number {value} over the phone.",
        ),  # fmt: skip
        lambda rng, fake, loc: fake.credit_card_number(),
    ),
    "iban": _each(
        (
            "Pay the invoice to IBAN {value}.",
            "Bankverbindung: {value} ({company})",
            "Salary account of {name}: {value}",
        ),  # fmt: skip
        lambda rng, fake, loc: v.iban(rng),
    ),
    "ip_address": _each(
        (
            "Failed logins from {value} for user {first} were blocked by the WAF.",
            "{name} works from home; her router is {value}.",
            "Allow-list {value} for the {company} VPN.",
        ),
        lambda rng, fake, loc: fake.ipv4_public(),
    ),
    "us_ssn": _each(
        (
            "SSN {value} is on the W-4 we received from {name}.",
            "Social Security number: {value}",
            "{name}, social security no. {value}, start date pending.",
        ),  # fmt: skip
        lambda rng, fake, loc: _ssn(rng),
    ),
    "passport": _each(
        (
            "{name}'s passport number is {value}; the visa appointment is in {city}.",
            "Passport no. {value} (scan attached) for the {city} trip.",
            "Traveller: {name}, passport {value}",
            "Reisepass-Nr. {value}, ausgestellt in {city}",
            "N° de passeport : {value}",
        ),  # fmt: skip
        lambda rng, fake, loc: v.passport(rng, fake),
    ),
    "driver_licence": _each(
        (
            "Driving licence number {value} was checked by HR.",
            "{name} - driver's license {value}",
            "Führerscheinnummer: {value}",
            "Copy of driver licence ({value}) is in the hire folder.",
        ),
        lambda rng, fake, loc: v.driving_licence(rng, fake),
    ),
    "national_id": [
        _labelled(fmt)
        for fmt in (
            "{name}'s {label} is {value}.",
            "{label}: {value} ({name})",
            "Verified {label} {value} at the desk.",
        )
    ],
    "salary": _each(
        (
            "{name}'s base salary goes up to {value} from April.",
            "Offer for {first}: salary {value} plus equity.",
            "Gehalt: {value} brutto",
            "Compensation: {value} (approved by {name})",
            "Salary review - {name}: current {value}",
        ),  # fmt: skip
        lambda rng, fake, loc: v.amount(rng),
    ),
    "pay_band": _each(
        (
            "{name} moves to pay band {value} after the promotion.",
            "Pay grade: {value}",
            "New hire in {city}, salary band {value}.",
        ),  # fmt: skip
        lambda rng, fake, loc: rng.choice(("", "B", "L", "G")) + str(rng.randrange(1, 12)),
    ),
    "employee_id": _each(
        (
            "Employee ID {value} ({name}) left on Friday.",
            "employee no. {value} - badge reissued",
            "Staff number: {value}",
            "Personalnummer {value}, Abteilung Vertrieb",
        ),  # fmt: skip
        lambda rng, fake, loc: v.employee_id(rng),
    ),
    "performance_review": [
        lambda rng, fake, loc: _review(rng, fake, "Performance review for {name}: {value}."),
        lambda rng, fake, loc: _review(rng, fake, "Annual review ({name}) - outcome: {value}"),
        lambda rng, fake, loc: _review(rng, fake, "Appraisal notes: {name}, {value}."),
    ],
    "stripe_key": _config(v.stripe_key),
    "twilio_key": _config(v.twilio_key, ("TWILIO_ACCOUNT_SID={value}",)),
    "sendgrid_key": _config(v.sendgrid_key, ("SENDGRID_API_KEY='{value}'",)),
    "gitlab_token": _config(v.gitlab_token, ("git clone https://oauth2:{value}@gitlab.com/team/app.git",)),
    "openai_key": _config(v.openai_key, ("export OPENAI_API_KEY={value}",)),
    "github_token": _config(v.github_token, ("GH_TOKEN: {value}",)),
    "slack_webhook": _config(v.slack_webhook, ("Post alerts to {value}",)),
    "aws_access_key": _config(v.aws_key_id, ("aws_access_key_id = {value}",)),
    "jwt": _each(
        (
            "Authorization: Bearer {value}",
            "{first}'s session cookie was token={value}",
            "Repro: the API rejects {value} after logout",
        ),  # fmt: skip
        lambda rng, fake, loc: v.jwt(rng, fake),
    ),
    "private_key": _each(
        ("Deploy key for {company}:\n{value}", "{first} attached the server key:\n\n{value}\n"),
        lambda rng, fake, loc: v.private_key(rng),
    ),
    "telegram_token": _config(v.telegram_token, ("TELEGRAM_BOT_TOKEN={value}",)),
    "password": _each(
        (
            "DATABASE_URL=postgres://app:{value}@db.prod.internal:5432/orders",
            'smtp_password = "{value}"',
            "{first}: the wifi password is {value}",
        ),
        lambda rng, fake, loc: v.password(rng),
    ),
}

DECOY_TEMPLATES = (
    "Checksums for the release: {0}, {1}; see also {2}.",
    "Build notes: {0} (artifact), {1}, reference {2}.",
    "In the examples we use {0} and {1}; the tutorial shows {2}.",
    "Mirror status {0} / {1} / {2}",
)


def _ssn(rng: random.Random) -> str:
    area = rng.choice([n for n in range(1, 900) if n != 666])
    return f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10_000):04d}"


def _review(rng: random.Random, fake: Faker, fmt: str) -> tuple[str, str]:
    value = rng.choice((
        f"rating {rng.randrange(1, 6)}/5", "meets expectations", "does not meet expectations",
        "exceeds expectations in delivery", f"overall {rng.randrange(1, 5)}.{rng.randrange(10)} out of 5",
        "placed on a performance improvement plan",
    ))  # fmt: skip
    return fmt.format(name=fake.name(), value=value), value
