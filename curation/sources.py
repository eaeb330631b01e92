"""The source registry (`sources.toml`): what kind of source a document comes from, how far to trust it,
how fast its content goes stale, and how long the assets it is about stay in service."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(slots=True, frozen=True)
class SourceType:
    name: str
    trust: float  # prior 0..1: filings and product docs high, unknown web text low
    half_life_days: float  # age at which the age score halves (Vetted's domain memory)
    asset_lifetime_days: float = 0.0  # how long what these documents are about stays in service; 0 = none


@dataclass(slots=True, frozen=True)
class SourceSpec:
    name: str
    type: str
    trust: float | None = None  # overrides the type's prior when a source is better or worse than its kind
    half_life_days: float | None = None
    asset_lifetime_days: float | None = None
    authors: frozenset[str] = frozenset()  # known authors (names or e-mails, lower case): a trust signal
    public: bool = False  # published documentation: the contact addresses it prints are not personal data


@dataclass(slots=True, frozen=True)
class TrustSignals:
    """What each document signal adds to its source's trust prior (the sum is capped at 1.0)."""

    resolution_note: float = 0.1  # a ticket closed with a resolution note, a changelog "Closes: #NNN"
    named_reviewer: float = 0.1  # "Reviewed-by:", "Approved by": someone put their name to it
    known_author: float = 0.1  # written by someone on the source's authors list


# Used when sources.toml names no such type: low trust and a short memory, so it lands in review.
UNKNOWN_TYPE = SourceType(name="unknown", trust=0.3, half_life_days=365.0)


@dataclass(slots=True)
class SourceRegistry:
    types: dict[str, SourceType] = field(default_factory=dict)
    sources: dict[str, SourceSpec] = field(default_factory=dict)
    signals: TrustSignals = field(default_factory=TrustSignals)
    allowed_emails: frozenset[str] = frozenset()  # [contacts]: published addresses, kept wherever they occur

    @property
    def public_sources(self) -> frozenset[str]:
        return frozenset(name for name, spec in self.sources.items() if spec.public)

    def source_type(self, source: str, declared_type: str | None = None) -> SourceType:
        spec = self.sources.get(source)
        type_name = spec.type if spec else (declared_type or "unknown")
        return self.types.get(type_name, UNKNOWN_TYPE)

    def trust(self, source: str, declared_type: str | None = None) -> float:
        spec = self.sources.get(source)
        if spec and spec.trust is not None:
            return spec.trust
        return self.source_type(source, declared_type).trust

    def half_life_days(self, source: str, declared_type: str | None = None) -> float:
        spec = self.sources.get(source)
        if spec and spec.half_life_days is not None:
            return spec.half_life_days
        return self.source_type(source, declared_type).half_life_days

    def asset_lifetime_days(self, source: str, declared_type: str | None = None) -> float:
        spec = self.sources.get(source)
        if spec and spec.asset_lifetime_days is not None:
            return spec.asset_lifetime_days
        return self.source_type(source, declared_type).asset_lifetime_days

    def authors(self, source: str) -> frozenset[str]:
        spec = self.sources.get(source)
        return spec.authors if spec else frozenset()

    def is_known(self, source: str, declared_type: str | None = None) -> bool:
        return source in self.sources or (declared_type or "unknown") in self.types


def load_registry(path: Path) -> SourceRegistry:
    if not path.exists():
        raise FileNotFoundError(f"source registry {path} not found: copy sources.toml from the repo")
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    types = {
        name: SourceType(
            name=name,
            trust=float(t["trust"]),
            half_life_days=float(t["half_life_days"]),
            asset_lifetime_days=float(t.get("asset_lifetime_days", 0.0)),
        )
        for name, t in raw.get("types", {}).items()
    }
    sources = {}
    for name, s in raw.get("sources", {}).items():
        if s["type"] not in types:
            raise ValueError(f"{path}: source {name!r} has type {s['type']!r}, not one of {sorted(types)}")
        sources[name] = SourceSpec(
            name=name,
            type=s["type"],
            trust=s.get("trust"),
            half_life_days=s.get("half_life_days"),
            asset_lifetime_days=s.get("asset_lifetime_days"),
            authors=frozenset(a.strip().lower() for a in s.get("authors", []) if a.strip()),
            public=_flag(path, f"sources.{name}.public", s.get("public", False)),
        )
    unknown = set(raw.get("trust_signals", {})) - set(TrustSignals.__dataclass_fields__)
    if unknown:
        raise ValueError(f"{path}: [trust_signals] has unknown keys {sorted(unknown)}")
    signals = TrustSignals(**{k: float(v) for k, v in raw.get("trust_signals", {}).items()})
    contacts = raw.get("contacts", {})
    if set(contacts) - {"allowed_emails"}:
        raise ValueError(f"{path}: [contacts] has unknown keys {sorted(set(contacts) - {'allowed_emails'})}")
    allowed = frozenset(e.strip().lower() for e in contacts.get("allowed_emails", []) if "@" in e)
    return SourceRegistry(types=types, sources=sources, signals=signals, allowed_emails=allowed)


def _flag(path: Path, key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{path}: {key} must be true or false, got {value!r}")
    return value
