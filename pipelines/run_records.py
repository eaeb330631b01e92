"""What an ingestion run leaves behind, once its stages ran: the tables and the incremental state (`publish`,
right after the index swap), steward.db's audit lines, and runs/<run-id>/ (summary.json, the I/O profile
and its charts). Split from pipelines.ingest, which runs the stages and calls these at its commit points.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from curation.policy import RULE_PREFIX
from curation.steward import StewardDB
from pipelines import stages
from pipelines.observability.fsio import atomic_write_json
from pipelines.observability.io_report import write_io_report

if TYPE_CHECKING:
    from pipelines.ingest import IngestRun


def publish(run: IngestRun) -> None:
    """The tables, then the incremental state: this run's documents become the last completed run's, the
    gone ones are marked deleted (and logged in steward.db's audit before the state moves on: a kill between
    the two logs them twice, never not at all)."""
    if not run.options.write_tables:
        return
    assert run.loaded is not None and run.tiered is not None
    stages.write_tables(run.layout, run.loaded, run.scores, run.tiered)
    audit_rules(run)
    if run.state is None or run.changes is None:
        return
    gone = run.changes.deleted
    if gone and run.options.steward_overrides:
        db = StewardDB(run.layout.steward_db)
        for doc in gone:
            detail = f"{doc.path} left the corpus and the index (run {run.profile.run_id})"
            db.log(who="ingest", action="document_deleted", doc_id=doc.doc_id, detail=detail)
    run.state.commit(run.profile.run_id, run.documents, run.versions, gone, run.loaded.files)


def audit_rules(run: IngestRun) -> None:
    """One audit line per group rule this run applied: how many documents it decided."""
    if not run.options.steward_overrides or run.tiered is None:
        return
    applied = Counter(r for d in run.decisions.values() for r in d.reasons if r.startswith(RULE_PREFIX))
    if not applied:
        return
    db = StewardDB(run.layout.steward_db)
    for note, n in sorted(applied.items()):
        detail = f"rule #{note.removeprefix(RULE_PREFIX)} decided {n} document(s) in run {run.profile.run_id}"
        db.log(who="ingest", action="rule_applied", doc_id=None, detail=detail)


def finish_report(run: IngestRun) -> None:
    folder = run.run_folder
    run.profile.write(folder.io_profile)
    write_io_report(folder.io_profile, run.profile.to_dict())  # charts for people; the JSON stays the record
    write_summary(run)


def write_summary(run: IngestRun, *, error: str | None = None) -> None:
    loaded = run.loaded
    summary: dict[str, Any] = {
        "run_id": run.profile.run_id,
        "inputs": loaded.units if loaded else 0,
        "documents": len(loaded.documents) if loaded else 0,
        "quarantined": len(loaded.quarantined) if loaded else 0,
        "accounted": bool(loaded and loaded.accounted),
        "warnings": list(loaded.warnings) if loaded else [],
        "tiers": run.tiered.counts if run.tiered else {},
        "index": (
            {"build_id": run.build.build_id, "path": str(run.build.path), "chunks": run.build.n_chunks}
            if run.build
            else None
        ),
        "incremental": incremental_summary(run),
        "steward_report": str(run.report[1]) if run.report else None,
        "io_profile": str(run.run_folder.io_profile),
    }
    if error:
        summary["error"] = error
    run.run_folder.path.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run.run_folder.summary, summary)
    run.summary = summary


def incremental_summary(run: IngestRun) -> dict[str, Any] | None:
    """What this run redid and what it kept; deleted documents are listed here, never among "documents"."""
    if run.changes is None:
        return None
    return run.changes.counts() | {
        "chunks_embedded": len(run.nodes),
        "vectors_reused": run.vectors_reused,
        "files_parsed": run.loaded.parsed if run.loaded else 0,
        "deleted_documents": [
            {"doc_id": g.doc_id, "source": g.source, "path": g.path} for g in run.changes.deleted
        ],
    }
