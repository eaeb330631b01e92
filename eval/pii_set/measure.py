"""Recall and precision of the sensitive-data scorer on the labelled set (eval/pii_set/pii_set.jsonl).

    .venv/bin/python -m eval.pii_set.measure              # prints the figures; exit 1 under the targets
    .venv/bin/python -m eval.pii_set.measure --json out.json --show-misses

Document level: a document counts as flagged when the scorer gives it any reason (score 0.0); recall =
flagged positives / positives, precision = flagged positives / flagged. Entity level: a planted value is
found when a span of its kind overlaps where the value sits in the text. Targets: recall >= 0.95,
precision >= 0.90 (issue 4).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curation.models import Document
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

    @property
    def recall(self) -> float:
        return self.tp / max(1, self.tp + self.fn)

    @property
    def precision(self) -> float:
        return self.tp / max(1, self.tp + self.fp)

    def entity_recall(self) -> dict[str, float]:
        return {e: round(self.found[e] / n, 4) for e, n in sorted(self.planted.items())}

    def summary(self) -> dict[str, Any]:
        return {
            "documents": self.tp + self.fp + self.fn + self.tn,
            "positives": self.tp + self.fn,
            "recall": round(self.recall, 4),
            "precision": round(self.precision, 4),
            "confusion": {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn},
            "entity_recall": self.entity_recall(),
            "entity_counts": dict(sorted(self.planted.items())),
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
        spans = result.details["spans"]
        for planted in item["entities"]:
            entity, value = planted["entity"], planted["value"]
            m.planted[entity] += 1
            start = text.find(value)
            end = start + len(value)
            if any(s.kind in KINDS[entity] and s.start < end and s.end > start for s in spans):  # type: ignore[attr-defined]
                m.found[entity] += 1
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
        print(f"  {entity:16s} recall {recall:.3f}  ({m.found[entity]}/{m.planted[entity]})")
    if args.show_misses:
        for miss in m.misses:
            print(f"  miss {miss['id']}: label {miss['label']}, reasons {miss['reasons']}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0 if m.recall >= MIN_RECALL and m.precision >= MIN_PRECISION else 1


if __name__ == "__main__":
    raise SystemExit(main())
