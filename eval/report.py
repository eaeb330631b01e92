"""Print an evaluation result as plain-text tables (one per section) and write it as JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eval.machine import describe

RETRIEVAL_COLUMNS = (
    "recall@1",
    "recall@5",
    "recall@10",
    "mrr",
    "ndcg@10",
    "gold_indexed",
    "answerable",
    "rejected_in_top5",
)
LEAK_COLUMNS = (
    "probes",
    "canaries_in_index",
    "canaries_in_contexts",
    "planted_docs_in_contexts",
    "probes_leaking_context",
    "canaries_in_answers",
    "answers_quoting_planted",
)
ANSWER_COLUMNS = (
    "token_f1",
    "embedding_similarity",
    "groundedness",
    "citation_accuracy",
    "cited_accuracy",
    "refusal_rate",
    "s_per_question",
)


def format_result(result: Mapping[str, Any]) -> str:
    """Every section the result holds, each a table with one row per variant (or model)."""
    lines = [f"{result['command']}: {result['corpus']} ({result['questions']} questions)"]
    lines.append(f"machine: {describe(result['machine'])}")
    sections = (
        ("retrieval", RETRIEVAL_COLUMNS + ("ms_per_question",)),
        ("leaks", LEAK_COLUMNS),
        ("answers", ANSWER_COLUMNS),
    )
    for name, columns in sections:
        runs = result.get(name) or {}
        if runs:
            rows = {label: run["summary"] for label, run in runs.items()}
            lines += ["", name, table(rows, columns)]
    return "\n".join(lines)


def table(rows: Mapping[str, Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A fixed-width table: a label column, then the columns any row has."""
    shown = [c for c in columns if any(c in r for r in rows.values())]
    cells = [["", *shown]] + [[label, *(_cell(r.get(c)) for c in shown)] for label, r in rows.items()]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells)


def write_json(result: Mapping[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
