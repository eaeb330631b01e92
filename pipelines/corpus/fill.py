"""Fill presidio-evaluator's {{placeholder}} templates with Faker values, remembering what was planted.

Every value that a PII scorer should find is recorded as (entity, value), so tests and leak probes can
check recall against the exact strings that went in.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from faker import Faker

from pipelines.corpus.templates import Nationality, TemplateBook

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")

# Placeholders that are personal data on their own, and the entity name they are planted as.
PII_ENTITIES = {
    "person": "person",
    "name": "person",
    "name_female": "person",
    "name_male": "person",
    "email": "email",
    "phone_number": "phone_number",
    "credit_card_number": "credit_card",
    "iban": "iban",
    "ssn": "us_ssn",
    "us_ssn": "us_ssn",
    "address": "address",
    "ip_address": "ip_address",
    "us_driver_license": "us_driver_license",
    "date_of_birth": "date_of_birth",
}

# Dates are drawn from fixed windows, not relative to today, so the same seed gives the same corpus next year.
# Faker's own date providers draw between the epoch and datetime.now(): a seeded "Wednesday" becomes "Sunday"
# a few days later. Even between two fixed dates Faker converts through the machine's time zone, whose
# history shifts pre-1970 birth dates by a day in some zones; `_moment` draws the same way in UTC arithmetic.
_BIRTH_WINDOW = (datetime(1955, 1, 1), datetime(2004, 12, 31))
_EPOCH = datetime(1970, 1, 1)
_EVENT_WINDOW = (datetime(2019, 1, 1), datetime(2026, 6, 30))
# English names, not strftime's %A / %B: those follow LC_TIME, which a library may set from the environment.
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_CLOCK_PROVIDER = "faker.providers.date_time"


@dataclass(slots=True)
class Filler:
    """A seeded Faker plus the presidio nationalities; `planted` collects every PII value handed out."""

    fake: Faker
    nationalities: tuple[Nationality, ...]
    planted: list[tuple[str, str]] = field(default_factory=list)
    _producers: dict[str, Callable[[], str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._producers = self._special()

    @classmethod
    def seeded(cls, book: TemplateBook, seed: int) -> Filler:
        fake = Faker("en_US")
        fake.seed_instance(seed)
        return cls(fake, book.nationalities)

    def value(self, placeholder: str) -> str:
        """A fake value for one placeholder; planted when it is personal data."""
        produce = self._producers.get(placeholder)
        if produce is not None:
            text = produce()
        else:
            text = self._faker_value(placeholder)
        entity = PII_ENTITIES.get(placeholder)
        if entity:
            self.planted.append((entity, text))
        return text

    def _faker_value(self, placeholder: str) -> str:
        try:
            formatter = self.fake.get_formatter(placeholder)
        except AttributeError:
            # A placeholder Faker does not know: a plain word keeps the sentence readable.
            return str(self.fake.word())
        provider = type(getattr(formatter, "__self__", None)).__module__
        if provider.startswith(_CLOCK_PROVIDER):
            # Would draw relative to today and break "same seed, same bytes": give it a producer in _special.
            raise ValueError(
                f"placeholder {{{{{placeholder}}}}} comes from Faker's clock-relative date provider; "
                "add a fixed-window producer for it to Filler._special"
            )
        return str(formatter())

    def fill(self, template: str) -> str:
        return _PLACEHOLDER.sub(lambda match: self.value(match[1]), template)

    def plant(self, entity: str, text: str) -> str:
        """Record a value that a composer made itself (a secret, a table cell) and hand it back."""
        self.planted.append((entity, text))
        return text

    def take_planted(self) -> list[tuple[str, str]]:
        planted, self.planted = self.planted, []
        return planted

    def _special(self) -> dict[str, Callable[[], str]]:
        """Placeholders Faker lacks, and those whose Faker default depends on today's date."""
        fake = self.fake
        return {
            "person": fake.name,
            "organization": fake.company,
            # One line, as addresses appear in forms and tables (and so the planted value is findable as is).
            "address": lambda: fake.address().replace("\n", ", "),
            "ssn": fake.ssn,
            "us_ssn": fake.ssn,
            "ip_address": fake.ipv4_public,
            "date_of_birth": lambda: self._moment(*_BIRTH_WINDOW).date().isoformat(),
            "date_time": lambda: self._moment(*_EVENT_WINDOW).strftime("%Y-%m-%d %H:%M"),
            "day_of_week": lambda: _WEEKDAYS[self._moment(*_EVENT_WINDOW).weekday()],
            "year": lambda: str(fake.random_int(1970, 2025)),
            "age": lambda: str(fake.random_int(18, 90)),
            "us_driver_license": lambda: fake.bothify("?#######").upper(),
            "nationality": lambda: self._nation().nationality,
            "nation_man": lambda: self._nation().man,
            "nation_woman": lambda: self._nation().woman,
            "nation_plural": lambda: self._nation().plural,
        }

    def _moment(self, start: datetime, end: datetime) -> datetime:
        """What Faker's date_time_between_dates draws (one uniform over the UTC timestamps), without the trip
        through the local time zone."""
        low, high = calendar.timegm(start.timetuple()), calendar.timegm(end.timetuple())
        return _EPOCH + timedelta(seconds=self.fake.random.uniform(low, high))

    def _nation(self) -> Nationality:
        return self.fake.random_element(self.nationalities)


def pii_templates(book: TemplateBook) -> list[str]:
    """Templates with at least one personal-data placeholder: the others plant nothing worth finding."""
    return [t for t in book.templates if any(p in PII_ENTITIES for p in _PLACEHOLDER.findall(t))]
