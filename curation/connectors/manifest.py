"""`manifest.jsonl`: one line per file (path, title, source, source_type, updated, author), and the warnings
a steward needs when its lines name files that are not there or source types sources.toml does not declare.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from curation.sources import SourceRegistry

MAX_LINES_NAMED = 10  # a warning names this many line numbers, then "and N more"


@dataclass(slots=True)
class ManifestEntry:
    title: str | None = None
    source: str | None = None
    source_type: str | None = None
    updated: str | None = None
    updated_from: str | None = None  # "content" when the manifest's date was read from the text itself
    author: str | None = None  # who wrote it: a trust signal when the source lists them as a known author
    line: int = 0  # the manifest line it came from (for warnings)


def read_corpus_manifest(root: Path) -> dict[str, ManifestEntry]:
    path = root / "manifest.jsonl"
    if not path.exists():
        return {}
    entries: dict[str, ManifestEntry] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            entries[row["path"]] = ManifestEntry(
                title=row.get("title"),
                source=row.get("source"),
                source_type=row.get("source_type"),
                updated=row.get("updated"),
                updated_from=row.get("updated_from"),
                author=row.get("author"),
                line=n,
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f'{path}:{n}: not a manifest line ({exc}); expected {{"path": ...}}') from exc
    return entries


def manifest_warnings(root: Path, entries: dict[str, ManifestEntry], registry: SourceRegistry) -> list[str]:
    """What is wrong with the manifest, line by line, and what to do; nothing is raised."""
    warnings = []
    missing = [(e.line, p) for p, e in entries.items() if not (root / p).is_file()]
    if missing:
        share = "every line" if len(missing) == len(entries) else f"{len(missing)} of {len(entries)} lines"
        warnings.append(
            f"manifest.jsonl: {share} name files that are not in {root.name}/ ({_lines(missing)}): those "
            "entries are ignored. Paths are relative to the corpus folder; fix them or drop the lines"
        )
    undeclared: dict[str, list[tuple[int, str]]] = {}
    for rel, entry in entries.items():
        if (
            entry.source_type
            and entry.source_type not in registry.types
            and entry.source not in registry.sources
        ):
            undeclared.setdefault(entry.source_type, []).append((entry.line, rel))
    for source_type, lines in sorted(undeclared.items()):
        warnings.append(
            f"manifest.jsonl: source_type {source_type!r} is not declared in sources.toml ({_lines(lines)}): "
            f"those documents get the unknown-source trust. Add [types.{source_type}] to sources.toml, or "
            f"use one of {sorted(registry.types) or 'its types'}"
        )
    return warnings


def _lines(found: list[tuple[int, str]]) -> str:
    found = sorted(found)
    named = ", ".join(f"line {n} {p!r}" for n, p in found[:MAX_LINES_NAMED])
    more = f" and {len(found) - MAX_LINES_NAMED} more" if len(found) > MAX_LINES_NAMED else ""
    return named + more
