"""Redaction: mask the personal data the policy says to redact, keep the document.

    redacted = redact(doc.text, spans, kinds={"pii_email", "pii_phone"})
    redacted.text        # "... write to <EMAIL_1> or call <PHONE_1>; <EMAIL_1> again ..."
    redacted.spans       # every span moved onto the new text; a masked one shows its placeholder
    redacted.counts      # {"pii_email": 2, "pii_phone": 1}: spans masked per reason

The spans are the sensitive scorer's (`details["spans"]`: kind, start, end; never the raw value), so this
runs where the text is: in the ingestion run, right after the tier is decided. presidio-anonymizer's engine
does the replacing with a custom operator that numbers values per document and per type: the same address
twice is `<EMAIL_1>` both times, a second address `<EMAIL_2>` (as NeMo Curator and datatrove redact, typed
placeholders rather than deletion, so a sentence still reads and a citation still makes sense).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

from curation.models import Span

REASON_PREFIXES = ("pii_", "secret_", "confidential_")


@dataclass(slots=True)
class Redacted:
    text: str
    spans: list[Span]  # the input spans on the new text's positions
    counts: dict[str, int] = field(default_factory=dict)  # spans masked per reason
    placeholders: dict[str, int] = field(default_factory=dict)  # distinct values per reason


def placeholder_type(kind: str) -> str:
    """`pii_email` -> `EMAIL`, `pii_ip_address` -> `IP_ADDRESS`: the placeholder's type name."""
    for prefix in REASON_PREFIXES:
        if kind.startswith(prefix):
            return kind[len(prefix) :].upper()
    return kind.upper()


def _normal(kind: str, value: str) -> str:
    """What makes two values the same one: case for e-mails, the digits for phone numbers."""
    if kind == "pii_phone":
        return "".join(c for c in value if c.isdigit())[-9:]  # +44 20 7946 0018 == (020) 7946 0018
    return value.strip().lower()


def redact(
    text: str, spans: Sequence[Span], kinds: Collection[str], numbers: dict[str, dict[str, int]] | None = None
) -> Redacted:
    """`text` with every span whose kind is in `kinds` replaced by a typed placeholder.

    `numbers` (kind -> normalised value -> n) carries the numbering across calls: a streamed answer masked
    sentence by sentence still calls one address `<EMAIL_1>` throughout; it is updated in place.

    Overlapping spans to mask are merged into the first one's kind. Spans not masked keep their kind and
    masked value and move with the text; one inside a masked span takes the placeholder's position.
    """
    masked = _merged(sorted((s for s in spans if s.kind in kinds), key=lambda s: (s.start, s.end)))
    if not masked:
        return Redacted(text, list(spans))
    # Numbered in reading order here: the engine replaces from the end of the text backwards.
    numbers = {} if numbers is None else numbers
    for s in masked:
        seen = numbers.setdefault(s.kind, {})
        seen.setdefault(_normal(s.kind, text[s.start : s.end]), len(seen) + 1)

    def number(kind: str) -> OperatorConfig:
        def placeholder(value: str) -> str:
            return f"<{placeholder_type(kind)}_{numbers[kind][_normal(kind, value)]}>"

        return OperatorConfig("custom", {"lambda": placeholder})

    results = [RecognizerResult(s.kind, s.start, s.end, s.score) for s in masked]
    operators = {kind: number(kind) for kind in sorted({s.kind for s in masked})}
    engine_result = AnonymizerEngine().anonymize(text, results, operators)
    items = sorted(engine_result.items, key=lambda i: i.start)
    moves = [(o.start, o.end, n.start, n.end, n.text) for o, n in zip(masked, items, strict=True)]
    return Redacted(
        engine_result.text,
        [_moved(s, moves) for s in spans],
        dict(Counter(s.kind for s in masked)),
        {kind: len(seen) for kind, seen in sorted(numbers.items())},
    )


def _merged(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for s in spans:
        if out and s.start < out[-1].end:
            last = out[-1]
            out[-1] = Span(last.kind, last.start, max(last.end, s.end), last.masked, last.score)
        else:
            out.append(s)
    return out


def _moved(span: Span, moves: list[tuple[int, int, int, int, str]]) -> Span:
    """`span` on the redacted text: shifted by the replacements before it, or onto the one it lies in."""
    shift = 0
    for old_start, old_end, new_start, new_end, placeholder in moves:
        if span.end <= old_start:
            break
        if span.start < old_end:  # inside (or across) a masked span: it shows the placeholder
            return Span(span.kind, new_start, new_end, placeholder, span.score)
        shift = new_end - old_end
    return Span(span.kind, span.start + shift, span.end + shift, span.masked, span.score)
