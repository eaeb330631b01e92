"""The steward report of one run: tier counts, counts by source, reasons, what was redacted (per reason:
documents, spans, distinct values), the documents that need a steward (unsafe and review), and the documents
deleted since the last completed run (gone from the corpus: their chunks left the index), as JSON and as a
static HTML page."""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from curation.groups import Group
from curation.layout import RunFolder
from curation.models import QuarantineRecord

MAX_ROWS = 2000  # rows of the attention table in the HTML page; the JSON keeps them all


def build_report(
    run_id: str,
    table: pa.Table,
    quarantined: list[QuarantineRecord],
    warnings: Sequence[str] = (),
    *,
    deleted: Sequence[dict[str, str]] = (),
    groups: Sequence[Group] = (),
) -> dict[str, Any]:
    """The steward's view of a run: tiers, reasons, what needs a steward (each document, and `groups` of
    them by source and reason with what a decision on the group would change: curation.groups), the
    quarantine, `deleted` (doc_id, source, path, title of each document gone since the last run; not
    counted in `documents`), and
    `warnings` (what the folder got wrong without losing a document: a manifest naming missing files,
    undeclared source types), shown first because each one can make many documents' scores wrong."""
    rows = table.select(
        [
            "doc_id",
            "title",
            "source",
            "path",
            "updated",
            "tier",
            "reasons",
            "score_age",
            "score_relevance",
            "score_trust",
            "score_quality",
            "overridden_by",
        ]
    ).to_pylist()
    redacted: dict[str, Counter[str]] = {"documents": Counter(), "spans": Counter(), "values": Counter()}
    if "details" in table.column_names:  # the relevance scorer names the nearest exemplar: show it
        for row, details in zip(rows, table.column("details").to_pylist(), strict=True):
            row["nearest_exemplar"] = _nearest(details)
            _count_redactions(details, redacted)
    by_source: dict[str, Counter[str]] = {}
    reasons: Counter[str] = Counter()
    for row in rows:
        by_source.setdefault(row["source"], Counter())[row["tier"]] += 1
        reasons.update(row["reasons"])
    attention = [
        {**row, "updated": row["updated"].isoformat() if row["updated"] else None}
        for row in rows
        if row["tier"] != "safe"
    ]
    attention.sort(key=lambda r: (r["tier"] != "unsafe", r["source"], r["path"]))
    return {
        "run_id": run_id,
        "documents": len(rows),
        "quarantined": len(quarantined),
        "warnings": list(warnings),
        "tiers": dict(Counter(row["tier"] for row in rows)),
        "by_source": {s: dict(c) for s, c in sorted(by_source.items())},
        "reasons": dict(reasons.most_common()),
        "quarantine": [
            {"path": q.path, "source": q.source, "reason": q.reason, "detail": q.detail} for q in quarantined
        ],
        "attention": attention,
        "groups": [g.to_dict() for g in groups],
        "deleted": [dict(d) for d in deleted],
        # per reason: documents with masked spans, spans masked, distinct values (placeholders) masked
        "redacted": {
            reason: {k: redacted[k][reason] for k in ("documents", "spans", "values")}
            for reason in sorted(redacted["documents"])
        },
    }


def _count_redactions(details_json: str | None, into: dict[str, Counter[str]]) -> None:
    """Add one document's `details.sensitive` redaction counts (curation.redaction) to `into`."""
    try:
        sensitive = json.loads(details_json or "{}").get("sensitive") or {}
    except (json.JSONDecodeError, AttributeError):
        return
    for reason, n in (sensitive.get("redacted") or {}).items():
        into["documents"][reason] += 1
        into["spans"][reason] += int(n)
        into["values"][reason] += int((sensitive.get("placeholders") or {}).get(reason, 0))


def _nearest(details_json: str | None) -> str | None:
    try:
        relevance = json.loads(details_json or "{}").get("relevance") or {}
    except (json.JSONDecodeError, AttributeError):
        return None
    return relevance.get("nearest")


def write_steward_report(report: dict[str, Any], run: RunFolder) -> tuple[Path, Path]:
    run.path.mkdir(parents=True, exist_ok=True)
    json_path, html_path = run.steward_report_json, run.steward_report_html
    json_path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path


_CSS = """body{font:14px system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}.n{text-align:right}
.bar{background:#4a7;height:10px}tr.unsafe td:first-child{color:#b00;font-weight:bold}
tr.review td:first-child{color:#a60}.cards span{display:inline-block;margin-right:2em;font-size:20px}
.warn{color:#b00}"""


def _bar_rows(counts: dict[str, int]) -> str:
    top = max(counts.values(), default=1)
    return "".join(
        f"<tr><td>{html.escape(k)}</td><td class=n>{v}</td>"
        f"<td><div class=bar style='width:{300 * v / top:.0f}px'></div></td></tr>"
        for k, v in counts.items()
    )


def render_html(report: dict[str, Any]) -> str:
    e = html.escape
    tiers = report["tiers"]
    source_rows = "".join(
        f"<tr><td>{e(s)}</td>"
        + "".join(f"<td class=n>{c.get(t, 0)}</td>" for t in ("safe", "review", "unsafe"))
        + "</tr>"
        for s, c in report["by_source"].items()
    )
    attention = "".join(
        f"<tr class={e(r['tier'])}><td>{e(r['tier'])}</td><td>{e(r['title'] or '')}</td>"
        f"<td>{e(r['source'])}</td>"
        f"<td>{e(r['path'])}</td><td>{e(str(r['updated'] or 'unknown'))}</td>"
        f"<td>{e(', '.join(r['reasons']))}</td><td>{e(r.get('nearest_exemplar') or '')}</td></tr>"
        for r in report["attention"][:MAX_ROWS]
    )
    redacted = "".join(
        f"<tr><td>{e(reason)}</td><td class=n>{c['documents']}</td><td class=n>{c['spans']}</td>"
        f"<td class=n>{c['values']}</td></tr>"
        for reason, c in report.get("redacted", {}).items()
    )
    quarantine = "".join(
        f"<tr><td>{e(q['path'])}</td><td>{e(q['reason'])}</td><td>{e(q['detail'])}</td></tr>"
        for q in report["quarantine"]
    )
    groups = "".join(
        f"<tr><td>{e(g['source'])}</td><td>{e(g['reason'])}</td><td class=n>{g['documents']}</td>"
        f"<td>{e('; '.join(x['title'] or x['path'] for x in g['examples']))}</td>"
        + "".join(
            f"<td class=n>{g['outcomes'][d]['safe']}</td>" if d in g["outcomes"] else "<td>-</td>"
            for d in ("approve", "redact")
        )
        + "</tr>"
        for g in report.get("groups", [])[:MAX_ROWS]
    )
    deleted = "".join(
        f"<tr><td>{e(d['source'])}</td><td>{e(d['path'])}</td><td>{e(d['title'])}</td></tr>"
        for d in report.get("deleted", [])[:MAX_ROWS]
    )
    warning_items = "".join(f"<li>{e(w)}</li>" for w in report.get("warnings", []))
    warnings = (
        f"<h2 class=warn>Warnings ({len(report['warnings'])})</h2><ul class=warn>{warning_items}</ul>"
        if warning_items
        else ""
    )
    return f"""<!doctype html><html lang=en><head><meta charset=utf-8>
<title>Vetted steward report {e(report["run_id"])}</title>
<style>{_CSS}</style>
</head><body><h1>Steward report</h1><p>Run <code>{e(report["run_id"])}</code>: {report["documents"]} documents
scored, {report["quarantined"]} quarantined.</p>
<div class=cards><span>safe {tiers.get("safe", 0)}</span><span>review {tiers.get("review", 0)}</span>
<span>unsafe {tiers.get("unsafe", 0)}</span></div>
{warnings}
<h2>By source</h2><table><tr><th>source</th><th>safe</th><th>review</th><th>unsafe</th></tr>
{source_rows}</table>
<h2>Reasons</h2><table>{_bar_rows(report["reasons"])}</table>
<h2>Redacted (masked in the text, the documents kept)</h2>
<table><tr><th>reason</th><th>documents</th><th>spans</th><th>distinct values</th></tr>{redacted}</table>
<h2>Needs a steward ({len(report["attention"])})</h2>
<h3>By source and reason ({len(report.get("groups", []))} groups: decide one on the steward page)</h3>
<table><tr><th>source</th><th>reason</th><th>documents</th><th>examples</th><th>safe if approved</th>
<th>safe if redacted</th></tr>{groups}</table>
<h3>Each document</h3>
<table><tr><th>tier</th><th>title</th><th>source</th><th>path</th><th>updated</th><th>reasons</th>
<th>nearest exemplar</th></tr>
{attention}</table>
<h2>Deleted since the last run ({len(report.get("deleted", []))}: gone from the corpus, out of the index)</h2>
<table><tr><th>source</th><th>path</th><th>title</th></tr>{deleted}</table>
<h2>Quarantined ({report["quarantined"]})</h2>
<table><tr><th>path</th><th>reason</th><th>detail</th></tr>{quarantine}</table>
</body></html>
"""
