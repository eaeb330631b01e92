"""`vetted index show [--json]` and `vetted index history [--json]`: what the chatbot is serving and why.

    vetted index show            the build in service: id, chunks, and each document with its path and hash
    vetted index history         every build made current, oldest first: when, why (run or override), sizes
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "index", help="the index build in service and the history of builds",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    cmds = parser.add_subparsers(dest="index_command", required=True)
    p = cmds.add_parser("show", help="the current build: id, chunks, documents (doc_id, path, hash, chunks)")
    p.add_argument("--json", action="store_true", help="one JSON object on standard output")
    p.set_defaults(func=cmd_show)
    p = cmds.add_parser("history", help="builds made current, oldest first: when, why, sizes")
    p.add_argument("--json", action="store_true", help="a JSON list on standard output")
    p.set_defaults(func=cmd_history)


def current_index(work_dir: Path) -> dict[str, Any]:
    """The build index/CURRENT names, with one row per document it holds (from its chunk table)."""
    from pipelines.core.index_files import current_build, read_chunks, read_manifest

    build = current_build(work_dir)
    if build is None:
        raise SystemExit(f"no index under {work_dir / 'index'}: run `vetted ingest` first")
    manifest = read_manifest(build)
    chunks = read_chunks(build, columns=["doc_id", "path"]).to_pylist()
    per_doc = Counter(row["doc_id"] for row in chunks)
    paths = {row["doc_id"]: row["path"] for row in chunks}
    hashes: dict[str, str] = manifest.get("document_hashes", {})
    documents = [
        {"doc_id": d, "path": paths.get(d, ""), "content_hash": hashes.get(d, ""),
         "chunks": per_doc.get(d, 0)}  # fmt: skip
        for d in sorted(set(hashes) | set(per_doc), key=lambda d: (paths.get(d, ""), d))
    ]
    return {
        "build_id": manifest["build_id"],
        "path": str(build),
        "embedding_model": manifest.get("embedding_model"),
        "n_chunks": manifest["n_chunks"],
        "n_documents": len(documents),
        "documents": documents,
    }


def cmd_show(args: argparse.Namespace) -> int:
    from pipelines.cli.main import settings_from_args

    shown = current_index(settings_from_args(args).work_dir)
    if args.json:
        print(json.dumps(shown, indent=2))
        return 0
    print(f"build {shown['build_id']}: {shown['n_chunks']} chunks of {shown['n_documents']} documents")
    print(f"  {shown['path']}")
    for doc in shown["documents"]:
        print(f"  {doc['chunks']:4d}  {doc['content_hash'][:12]}  {doc['path']}  ({doc['doc_id']})")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from pipelines.cli.main import settings_from_args
    from pipelines.core.index_files import read_history

    work_dir = settings_from_args(args).work_dir
    if not (work_dir / "index").is_dir():
        raise SystemExit(f"no index under {work_dir / 'index'}: run `vetted ingest` first")
    history = read_history(work_dir)
    if args.json:
        print(json.dumps(history, indent=2))
        return 0
    if not history:
        print("no build history yet (index/history.jsonl starts with the next build)", file=sys.stderr)
    for h in history:
        why = h["why"]
        if h.get("change"):
            why += f" (removed {len(h['change']['removed'])}, added {len(h['change']['added'])})"
        print(
            f"{h['build_id']}  {h['created']}  {why:30s} {h['n_chunks']:6d} chunks "
            f"{h['n_documents']:5d} docs {h['bytes'] / 1e6:8.2f} MB"
        )
    return 0
