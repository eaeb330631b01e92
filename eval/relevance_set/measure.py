"""How well the relevance scorer separates on-domain from off-domain text (eval/relevance_set).

    .venv/bin/python -m eval.relevance_set.measure              # both splits; exit 1 under the held-out goals
    .venv/bin/python -m eval.relevance_set.measure --json out.json --show-misses

The scorer is built from the default settings alone (domain description, exemplars, off-domain exemplars,
calibration), as `vetted ingest` builds it. Per split: AUC of the relevance score (on-domain = positive; the
Mann-Whitney form, ties counted half), the share of on-domain documents flagged `relevance_off_domain`, and
the share of off-domain documents flagged; `--baseline` adds the same figures for the old scorer (the best
domain cosine alone, [0.05, 0.45], flagged under 0.25) on the same embeddings. Goals on the held-out split
(issue 11): AUC >= 0.95, on-domain flagged <= 5%, off-domain flagged >= 90%.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curation.models import Document
from curation.scorers.relevance import RelevanceScorer

SET_PATH = Path(__file__).with_name("relevance_set.jsonl")
MIN_AUC, MAX_ON_FLAGGED, MIN_OFF_FLAGGED = 0.95, 0.05, 0.90
SPLITS = ("tuning", "heldout")
# the scorer before issue 11: the best cosine alone (details["cosine"]) from [0.05, 0.45], flagged < 0.25
SINGLE_COSINE_LOW, SINGLE_COSINE_HIGH = 0.05, 0.45


@dataclass(slots=True)
class Measured:
    split: str
    on_scores: list[float] = field(default_factory=list)
    off_scores: list[float] = field(default_factory=list)
    on_flagged: int = 0
    off_flagged: int = 0
    misses: list[dict[str, Any]] = field(default_factory=list)  # flagged on-domain, passed off-domain
    cosines: list[tuple[bool, float]] = field(default_factory=list)  # (label, best domain cosine)

    @property
    def auc(self) -> float:
        on, off = np.array(self.on_scores)[:, None], np.array(self.off_scores)[None, :]
        return float(((on > off) + 0.5 * (on == off)).mean())

    @property
    def on_flagged_share(self) -> float:
        return self.on_flagged / max(1, len(self.on_scores))

    @property
    def off_flagged_share(self) -> float:
        return self.off_flagged / max(1, len(self.off_scores))

    def meets_goals(self) -> bool:
        return (
            self.auc >= MIN_AUC
            and self.on_flagged_share <= MAX_ON_FLAGGED
            and self.off_flagged_share >= MIN_OFF_FLAGGED
        )

    def summary(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "on_domain": len(self.on_scores),
            "off_domain": len(self.off_scores),
            "auc": round(self.auc, 4),
            "on_domain_flagged": round(self.on_flagged_share, 4),
            "off_domain_flagged": round(self.off_flagged_share, 4),
        }


def single_cosine_baseline(m: Measured) -> Measured:
    """The same documents scored as the old scorer did: best domain cosine alone, linearly calibrated."""
    base = Measured(f"{m.split} (single cosine)")
    for label, cos in m.cosines:
        value = min(1.0, max(0.0, (cos - SINGLE_COSINE_LOW) / (SINGLE_COSINE_HIGH - SINGLE_COSINE_LOW)))
        (base.on_scores if label else base.off_scores).append(value)
        if label:
            base.on_flagged += value < 0.25
        else:
            base.off_flagged += value < 0.25
    return base


def load_set(path: Path = SET_PATH) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def default_scorer(embed: Callable[[list[str]], np.ndarray] | None = None) -> RelevanceScorer:
    """The scorer as the ingestion run builds it from default settings (embedder: the packaged MiniLM)."""
    from pipelines.core.embedding import Embedder
    from pipelines.core.settings import CurationSettings, DomainSettings
    from pipelines.scoring import relevance_scorer

    return relevance_scorer(embed or Embedder().embed, DomainSettings(), CurationSettings())


def as_document(item: dict[str, Any]) -> Document:
    return Document(item["id"], item["source"], "eval", item["id"], "", item["text"])


def measure(items: list[dict[str, Any]], scorer: RelevanceScorer, split: str) -> Measured:
    chosen = [i for i in items if i["split"] == split]
    m = Measured(split)
    for item, result in zip(chosen, scorer.score_many([as_document(i) for i in chosen]), strict=True):
        flagged = "relevance_off_domain" in result.reasons
        (m.on_scores if item["label"] else m.off_scores).append(result.score)
        m.cosines.append((item["label"], float(result.details["cosine"])))  # type: ignore[arg-type]
        if item["label"]:
            m.on_flagged += flagged
        else:
            m.off_flagged += flagged
        if flagged == item["label"]:
            m.misses.append({"id": item["id"], "label": item["label"], "score": result.score,
                             "details": result.details, "text": item["text"][:200]})  # fmt: skip
    return m


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", type=Path, default=SET_PATH)
    p.add_argument("--json", type=Path, help="write the figures here")
    p.add_argument("--show-misses", action="store_true")
    p.add_argument("--baseline", action="store_true", help="also the old single-cosine score, same documents")
    args = p.parse_args(argv)
    items, scorer = load_set(args.set), default_scorer()
    results = {split: measure(items, scorer, split) for split in SPLITS}
    shown = [*results.values()]
    if args.baseline:
        shown += [single_cosine_baseline(m) for m in results.values()]
    for m in shown:
        s = m.summary()
        print(
            f"{s['split']:8s} {s['on_domain']} on / {s['off_domain']} off: AUC {s['auc']:.3f}, on-domain "
            f"flagged {s['on_domain_flagged']:.1%}, off-domain flagged {s['off_domain_flagged']:.1%}"
        )
        if args.show_misses:
            for miss in m.misses:
                print(f"  miss {miss['id']} ({miss['score']}): {miss['text'][:100]!r}")
    if args.json:
        args.json.write_text(json.dumps({k: m.summary() for k, m in results.items()}, indent=2) + "\n")
    ok = results["heldout"].meets_goals()
    print("held-out goals (AUC >= 0.95, on flagged <= 5%, off flagged >= 90%):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
