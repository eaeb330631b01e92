"""Recall and precision of the sensitive-data scorer on a labelled set (eval/pii_set/pii_set.jsonl).

    .venv/bin/python -m eval.pii_set.measure              # prints the figures; exit 1 under the targets
    .venv/bin/python -m eval.pii_set.measure --json out.json --show-misses
    .venv/bin/python -m eval.pii_set.measure --set eval/pii_set2/pii_set2.jsonl   # the second set

Document level: a document counts as flagged when the scorer gives it any reason (score 0.0); recall =
flagged positives / positives, precision = flagged positives / flagged. Entity level: a planted value is
found when a span of its kind overlaps where the value sits in the text (its `start` where the set records
it, else its first occurrence). Detector level: a span is right when it overlaps a planted value its kind
finds, so precision per reason = right spans / spans of that reason (over positives and negatives alike).
Targets: recall >= 0.95, precision >= 0.90 (issue 4).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curation.models import Document, Span
from curation.scorers.sensitive import SensitiveDataScorer

SET_PATH = Path(__file__).with_name("pii_set.jsonl")
MIN_RECALL, MIN_PRECISION = 0.95, 0.90
# planted entity -> the span kinds that find it (a password can sit in a connection string)
KINDS = {
    "email": {"pii_email"},
    "phone_number": {"pii_phone"},
    "credit_card": {"pii_credit_card"},
    "iban": {"pii_iban"},
    "us_ssn": {"pii_national_id"},
    "ip_address": {"pii_ip_address"},
    "aws_access_key": {"secret_aws_key"},
    "aws_secret_key": {"secret_aws_key"},
    "github_token": {"secret_github_token"},
    "slack_token": {"secret_slack_token"},
    "password": {"secret_password_assignment", "secret_connection_string"},
    "private_key": {"secret_private_key"},
    # the second set's kinds (eval/pii_set2)
    "passport": {"pii_identity_document"},
    "driver_licence": {"pii_identity_document"},
    "national_id": {"pii_identity_document", "pii_national_id"},
    "salary": {"confidential_hr_record"},
    "pay_band": {"confidential_hr_record"},
    "employee_id": {"confidential_hr_record"},
    "performance_review": {"confidential_hr_record"},
    "stripe_key": {"secret_stripe_key"},
    "twilio_key": {"secret_twilio_key"},
    "sendgrid_key": {"secret_sendgrid_key"},
    "gitlab_token": {"secret_gitlab_token"},
    "openai_key": {"secret_openai_key"},
    "slack_webhook": {"secret_slack_token"},
    "jwt": {"secret_jwt"},
    "telegram_token": {"secret_telegram_token"},
}


@dataclass(slots=True)
class Measured:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    planted: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)
    misses: list[dict[str, Any]] = field(default_factory=list)  # false negatives and false positives
    spans: Counter[str] = field(default_factory=Counter)  # spans per reason
    right_spans: Counter[str] = field(default_factory=Counter)  # of those, the ones on a planted value
    wrong: list[dict[str, Any]] = field(default_factory=list)  # spans on no planted value of their kind

    @property
    def recall(self) -> float:
        return self.tp / max(1, self.tp + self.fn)

    @property
    def precision(self) -> float:
        return self.tp / max(1, self.tp + self.fp)

    def entity_recall(self) -> dict[str, float]:
        return {e: round(self.found[e] / n, 4) for e, n in sorted(self.planted.items())}

    def detector_precision(self) -> dict[str, float]:
        return {r: round(self.right_spans[r] / n, 4) for r, n in sorted(self.spans.items())}

    def summary(self) -> dict[str, Any]:
        return {
            "documents": self.tp + self.fp + self.fn + self.tn,
            "positives": self.tp + self.fn,
            "recall": round(self.recall, 4),
            "precision": round(self.precision, 4),
            "confusion": {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn},
            "entity_recall": self.entity_recall(),
            "entity_counts": dict(sorted(self.planted.items())),
            "detector_precision": self.detector_precision(),
            "detector_spans": dict(sorted(self.spans.items())),
        }


def load_set(path: Path = SET_PATH) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def measure(items: list[dict[str, Any]], scorer: SensitiveDataScorer | None = None) -> Measured:
    scorer = scorer or SensitiveDataScorer()
    m = Measured()
    for item in items:
        text = item["text"]
        result = scorer.score(Document(item["id"], item["source"], "unknown", item["id"], item["id"], text))
        flagged = bool(result.reasons)
        if item["label"]:
            m.tp, m.fn = m.tp + flagged, m.fn + (not flagged)
        else:
            m.fp, m.tn = m.fp + flagged, m.tn + (not flagged)
        if flagged != item["label"]:
            m.misses.append({"id": item["id"], "label": item["label"], "reasons": result.reasons})
        spans: list[Span] = result.details["spans"]  # type: ignore[assignment]
        placed = []
        for planted in item["entities"]:
            entity, value = planted["entity"], planted["value"]
            m.planted[entity] += 1
            start = planted.get("start", text.find(value))  # set 2 records it; set 1's values are unique
            placed.append((KINDS[entity], start, start + len(value)))
            if any(s.kind in KINDS[entity] and s.start < start + len(value) and s.end > start for s in spans):
                m.found[entity] += 1
        for s in spans:
            m.spans[s.kind] += 1
            if any(s.kind in kinds and s.start < end and s.end > start for kinds, start, end in placed):
                m.right_spans[s.kind] += 1
            else:
                m.wrong.append({"id": item["id"], "kind": s.kind, "masked": s.masked})
    return m


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", type=Path, default=SET_PATH)
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--show-misses", action="store_true", help="list the documents the scorer got wrong")
    args = p.parse_args(argv)
    m = measure(load_set(args.set))
    summary = m.summary()
    print(f"{summary['documents']} documents, {summary['positives']} with personal data or secrets")
    print(f"document recall {m.recall:.3f} (target {MIN_RECALL}), precision {m.precision:.3f} "
          f"(target {MIN_PRECISION}); {summary['confusion']}")  # fmt: skip
    for entity, recall in summary["entity_recall"].items():
        print(f"  {entity:18s} recall {recall:.3f}  ({m.found[entity]}/{m.planted[entity]})")
    for reason, precision in summary["detector_precision"].items():
        print(f"  {reason:28s} precision {precision:.3f}  ({m.right_spans[reason]}/{m.spans[reason]} spans)")
    if args.show_misses:
        for miss in m.misses:
            print(f"  miss {miss['id']}: label {miss['label']}, reasons {miss['reasons']}")
        for wrong in m.wrong:
            print(f"  span on no planted value {wrong['id']}: {wrong['kind']} {wrong['masked']}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0 if m.recall >= MIN_RECALL and m.precision >= MIN_PRECISION else 1


if __name__ == "__main__":
    raise SystemExit(main())
