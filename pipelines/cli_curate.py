"""`vetted curate --docs DIR [--out FILE.jsonl]`: a steward's dry run on any folder.

Scores and tiers every document with the real scorers and policy, writes one JSON line per document
({"path", "tier", "reasons", "scores"}) and one per quarantined file, and touches no index or work folder.
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
        help="folder of text, markdown, HTML or reST files (+ optional manifest.jsonl)",
    )
    p.add_argument("--out", type=Path, help="JSONL output (default: standard output)")
    p.set_defaults(func=cmd_curate)


def curate_folder(docs_dir: Path, settings: Any) -> tuple[list[dict[str, Any]], Counter[str]]:
    from curation.policy import load_policy
    from curation.sources import load_registry
    from pipelines import stages
    from pipelines.embedding import embedder_for

    registry = load_registry(settings.resolve(settings.paths.sources_file))
    loaded = stages.load_documents(
        docs_dir,
        registry,
        max_file_mb=settings.curation.max_file_mb,
        legacy_encoding=settings.curation.legacy_encoding,
    )
    scorers = stages.build_scorers(settings, registry, embedder_for(settings))
    scores, _ = stages.score_documents(loaded.documents, scorers)
    policy = load_policy(settings.resolve(settings.paths.policy_file))
    tiered = stages.tier_documents(loaded.documents, scores, policy, overrides={})
    rows: list[dict[str, Any]] = []
    for doc in loaded.documents:
        decision = tiered.decisions[doc.doc_id]
        rows.append(
            {
                "path": doc.path,
                "tier": decision.tier.value,
                "reasons": decision.reasons,
                "scores": {name: round(r.score, 4) for name, r in scores[doc.doc_id].items()},
            }
        )
    for q in loaded.quarantined:
        rows.append(
            {"path": q.path, "tier": "quarantined", "reasons": [q.reason], "scores": {}, "detail": q.detail}
        )
    return rows, Counter(r["tier"] for r in rows)


def cmd_curate(args: argparse.Namespace) -> int:
    from pipelines.cli import settings_from_args

    if not args.docs.is_dir():
        raise SystemExit(f"--docs {args.docs} is not a folder")
    rows, counts = curate_folder(args.docs.resolve(), settings_from_args(args))
    out: TextIO = args.out.open("w", encoding="utf-8") if args.out else sys.stdout
    try:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if args.out:
            out.close()
    print(
        f"curated {len(rows)} files: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
        file=sys.stderr,
    )
    return 0
