"""`vetted curate --docs DIR [--out FILE.jsonl]`: a steward's dry run on any folder.

Scores and tiers every document with the real scorers and policy, writes one JSON line per document
({"path", "tier", "reasons", "scores"}) and one per quarantined file, and touches no index or work folder.

`vetted retier [--dry-run]`: after a policy.toml change, tiers documents.parquet again from its stored scores
and reasons plus the steward's overrides (curation.retier); no text is read and no scorer runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, TextIO


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("curate", help="score and tier any folder of documents (dry run: no index, no DB)")
    p.add_argument(
        "--docs",
        required=True,
        type=Path,
        help=(
            "folder of documents: text, markdown, reST, HTML, PDF, DOCX, PPTX, XLSX, CSV/TSV, EML, MBOX, "
            "JSONL tickets and JSON/YAML/TOML/INI/.env configuration files (+ optional manifest.jsonl)"
        ),
    )
    p.add_argument("--out", type=Path, help="JSONL output (default: standard output)")
    p.set_defaults(func=cmd_curate)
    p = sub.add_parser("retier", help="apply policy.toml, overrides and group rules to documents.parquet")
    p.add_argument("--dry-run", action="store_true", help="print what would change, write nothing")
    p.set_defaults(func=cmd_retier)


def curate_folder(
    docs_dir: Path, settings: Any
) -> tuple[list[dict[str, Any]], Counter[str], list[str]]:
    """The ingestion run as a dry run: load, score and tier; no table, index, report or steward DB.
    Returns the rows, the count per tier and the folder's warnings (manifest lines, undeclared sources)."""
    from pipelines import ingest

    done = ingest.run(
        settings,
        docs_dir,
        settings.layout,
        write_tables=False,
        write_index=False,
        steward_overrides=False,
        report=False,
    )
    rows: list[dict[str, Any]] = []
    for doc in done.documents:
        decision = done.decisions[doc.doc_id]
        rows.append(
            {
                "path": doc.path,
                "tier": decision.tier.value,
                "reasons": decision.reasons,
                "scores": {name: round(r.score, 4) for name, r in done.scores[doc.doc_id].items()},
            }
        )
    assert done.loaded is not None
    for q in done.loaded.quarantined:
        rows.append(
            {"path": q.path, "tier": "quarantined", "reasons": [q.reason], "scores": {}, "detail": q.detail}
        )
    return rows, Counter(r["tier"] for r in rows), list(done.loaded.warnings)


def cmd_curate(args: argparse.Namespace) -> int:
    from pipelines.cli.main import settings_from_args

    if not args.docs.is_dir():
        raise SystemExit(f"--docs {args.docs} is not a folder")
    rows, counts, warnings = curate_folder(args.docs.resolve(), settings_from_args(args))
    out: TextIO = args.out.open("w", encoding="utf-8") if args.out else sys.stdout
    try:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if args.out:
            out.close()
    for warning in warnings:  # louder than a quarantine line: each can make many documents' scores wrong
        print(f"WARNING: {warning}", file=sys.stderr)
    print(
        f"curated {len(rows)} files: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
        file=sys.stderr,
    )
    return 0


def cmd_retier(args: argparse.Namespace) -> int:
    from curation.policy import load_policy
    from curation.retier import retier_table
    from curation.table import read_documents, write_documents
    from curation.tiers import read_overrides, read_rules
    from pipelines.cli.main import settings_from_args

    settings = settings_from_args(args)
    path = settings.layout.documents
    table = read_documents(path)
    overrides = read_overrides(settings.layout)
    policy = load_policy(settings.resolve(settings.paths.policy_file)).with_rules(read_rules(settings.layout))
    result = retier_table(table, policy, overrides)
    paths = dict(zip(table.column("doc_id").to_pylist(), table.column("path").to_pylist(), strict=True))
    for doc_id, old, new in result.changed:
        print(f"{old:>6s} -> {new:<6s} {paths[doc_id]}  {', '.join(result.decisions[doc_id].reasons)}")
    if not args.dry_run:
        write_documents(path, result.table)
    counts = ", ".join(f"{tier} {n}" for tier, n in sorted(result.counts.items()))
    verb = "would change" if args.dry_run else "changed"
    print(f"re-tiered {table.num_rows} documents ({counts}); {verb} {len(result.changed)}", file=sys.stderr)
    return 0
