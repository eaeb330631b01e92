"""What redaction keeps: the tiers of one curated run under policy.toml as it is, and under the same policy
with every flagged reason excluding its document (what Vetted did before contact data was redacted), by
source. Both are decided by the real policy from the scores and reasons the run stored (curation.retier),
so the only difference is the [actions] table.

    .venv/bin/vetted --work-dir W corpus demo --out W/corpus/demo
    .venv/bin/vetted --work-dir W ingest --corpus W/corpus/demo
    .venv/bin/python -m eval.redaction_effect --work-dir W [--json out.json]

Redacted documents are decided "before" on the reasons the run found in the original text (the sensitive
scorer's reasons are kept as found; only the spans were masked), so "before" is exactly what exclusion
would have decided on that run.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from curation.layout import WorkLayout
from curation.policy import load_policy
from curation.retier import retier_table
from curation.table import read_documents

TIERS = ("safe", "review", "unsafe")


def effect(work_dir: Path, policy_file: Path) -> dict[str, Any]:
    """{"after": {source: tier counts}, "before": ..., "totals": {...}} for the run in `work_dir`."""
    table = read_documents(WorkLayout(work_dir).documents)
    policy = load_policy(policy_file)
    excluding = replace(policy, actions={})  # a flagged reason not in [actions] is "unsafe"
    sources = table.column("source").to_pylist()
    out: dict[str, Any] = {}
    for name, chosen in (("before", excluding), ("after", policy)):
        decided = retier_table(table, chosen, {}).decisions
        by_source: dict[str, Counter[str]] = {}
        for source, decision in zip(sources, decided.values(), strict=True):
            by_source.setdefault(source, Counter())[decision.tier.value] += 1
        out[name] = {s: {t: c.get(t, 0) for t in TIERS} for s, c in sorted(by_source.items())}
    out["totals"] = {
        name: {t: sum(c[t] for c in out[name].values()) for t in TIERS} for name in ("before", "after")
    }
    return out


def render(result: dict[str, Any]) -> str:
    lines = ["| source | before: safe / review / unsafe | after: safe / review / unsafe | safe gained |",
             "|---|---|---|---|"]  # fmt: skip
    rows = [*result["after"], "all"]
    for source in rows:
        b = result["totals"]["before"] if source == "all" else result["before"][source]
        a = result["totals"]["after"] if source == "all" else result["after"][source]
        cells = [" / ".join(str(x[t]) for t in TIERS) for x in (b, a)]
        lines.append(f"| {source} | {cells[0]} | {cells[1]} | {a['safe'] - b['safe']:+d} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work-dir", type=Path, required=True, help="a work folder with a curated run")
    p.add_argument("--policy", type=Path, default=Path("policy.toml"), help="the policy of that run")
    p.add_argument("--json", type=Path, help="also write the counts here")
    args = p.parse_args(argv)
    if not WorkLayout(args.work_dir).documents.exists():
        p.error(f"{args.work_dir} holds no documents.parquet: run `vetted ingest` into it first")
    result = effect(args.work_dir, args.policy)
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
