"""One ingestion run: the stage sequence, written once.

    load -> score -> tier -> redact -> chunk -> embed -> index -> report

The redact stage masks what the tier decisions say to redact (policy.toml [actions]) and then writes the
documents table, so the table, the chunks and the index only ever hold the redacted text.
`run()` is what every caller runs: `vetted ingest` through the Prefect flow (pipelines.flows wraps each stage
in a task through `run_stage`, without knowing their order), the evaluation's work folders (eval.workdirs:
curated, or the uncurated baseline with `curate=False`) and `vetted curate` (a dry run: the same stages with
tables, index and report off). Every stage runs inside the stage profiler. The input accounting (files in =
documents + quarantined) is checked as soon as the corpus is read, before anything is written: a run that
lost a document never publishes a table or an index build.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_index.core.schema import TextNode

from curation.layout import RunFolder, WorkLayout
from curation.models import Decision, Document, Tier
from curation.policy import load_policy
from curation.sources import SourceRegistry, load_registry
from curation.tiers import read_overrides
from pipelines import stages
from pipelines.core.embedding import Embedder, embedder_for
from pipelines.core.index_store import BuildInfo
from pipelines.core.settings import Settings
from pipelines.observability.fsio import atomic_write_json
from pipelines.observability.io_report import write_io_report
from pipelines.observability.profiler import RunProfile, StageHandle, new_run_id

UNCURATED_REASON = "uncurated_baseline"  # the baseline's one reason: indexed without curation

StageBody = Callable[[], None]
StageRunner = Callable[[str, StageBody], None]  # (stage name, its body): the flow makes each a Prefect task


class AccountingError(RuntimeError):
    """Files in != documents + quarantined: a connector lost or invented a document; nothing was written."""


@dataclass(slots=True, frozen=True)
class RunOptions:
    curate: bool = True  # False: no scorer runs and every readable document is "safe" (uncurated baseline)
    write_tables: bool = True  # documents.parquet and quarantine.jsonl
    write_index: bool = True  # chunk, embed and a new index build swapped into CURRENT
    steward_overrides: bool = True  # apply steward.db's decisions (a folder outside the work dir has none)
    report: bool = True  # runs/<run-id>/: steward report, I/O profile and charts, summary.json

    def __post_init__(self) -> None:
        if self.report and not self.write_tables:
            raise ValueError("the steward report reads documents.parquet: report needs write_tables")


@dataclass
class IngestRun:
    """What one run knows as it goes; each stage reads what the ones before it left."""

    settings: Settings
    corpus: Path
    layout: WorkLayout
    options: RunOptions
    embedder: Embedder
    registry: SourceRegistry
    profile: RunProfile
    loaded: stages.Loaded | None = None
    scores: stages.Scores = field(default_factory=dict)
    tiered: stages.Tiered | None = None
    nodes: list[TextNode] = field(default_factory=list)
    build: BuildInfo | None = None
    report: tuple[Path, Path] | None = None  # steward report JSON and HTML
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def documents(self) -> list[Document]:
        assert self.loaded is not None, "the load stage has not run"
        return self.loaded.documents

    @property
    def decisions(self) -> dict[str, Decision]:
        assert self.tiered is not None, "the tier stage has not run"
        return self.tiered.decisions

    @property
    def safe_documents(self) -> list[Document]:
        return [d for d in self.documents if self.decisions[d.doc_id].tier is Tier.SAFE]

    @property
    def run_folder(self) -> RunFolder:
        return self.layout.run(self.profile.run_id)


def run(
    settings: Settings,
    corpus: Path,
    layout: WorkLayout,
    *,
    curate: bool = True,
    write_tables: bool = True,
    write_index: bool = True,
    steward_overrides: bool = True,
    report: bool = True,
    embedder: Embedder | None = None,
    run_id: str | None = None,
    run_stage: StageRunner | None = None,
) -> IngestRun:
    """Run the stages the options ask for over `corpus` into `layout`; returns the finished run.

    Raises:
        AccountingError: the corpus's files and the documents read from them do not add up (nothing written).
        FileNotFoundError: no such corpus folder.
    """
    options = RunOptions(curate, write_tables, write_index, steward_overrides, report)
    if not corpus.is_dir():
        raise FileNotFoundError(f"corpus folder {corpus} not found (build one: vetted corpus demo|test)")
    state = IngestRun(
        settings=settings,
        corpus=corpus,
        layout=layout,
        options=options,
        embedder=embedder or embedder_for(settings),
        registry=load_registry(settings.resolve(settings.paths.sources_file)),
        profile=RunProfile(run_id or new_run_id()),
    )
    call = run_stage or _inline
    try:
        for name, body, wanted in STAGES:
            if wanted(options):
                call(name, _profiled(state, name, body))
    except AccountingError as exc:
        if options.report:  # the failed run leaves its record; no table, index or report was written
            _write_summary(state, error=str(exc))
        raise
    if options.report:
        _finish_report(state)
    return state


def _inline(name: str, body: StageBody) -> None:
    body()


def _profiled(state: IngestRun, name: str, body: Callable[[IngestRun, StageHandle], None]) -> StageBody:
    def stage() -> None:
        with state.profile.stage(name) as st:
            body(state, st)

    return stage


# --- the stages ------------------------------------------------------------------------------------------


def _load(run: IngestRun, st: StageHandle) -> None:
    loaded = stages.load_documents(run.corpus, run.registry, run.settings.curation)
    st.items(items_in=loaded.units, items_out=len(loaded.documents))
    st.note(quarantined=len(loaded.quarantined), warnings=len(loaded.warnings))
    run.loaded = loaded
    if not loaded.accounted:
        raise AccountingError(
            f"input accounting failed in {run.corpus}: {loaded.units} inputs, "
            f"{len(loaded.documents)} documents + {len(loaded.quarantined)} quarantined"
        )


def _score(run: IngestRun, st: StageHandle) -> None:
    scorers = stages.build_scorers(run.settings, run.registry, run.embedder)
    run.scores, seconds = stages.score_documents(run.documents, scorers)
    st.items(items_in=len(run.documents), items_out=len(run.scores))
    st.note(**{f"{name}_s": round(sec, 3) for name, sec in seconds.items()})


def _tier(run: IngestRun, st: StageHandle) -> None:
    docs = run.documents
    if run.options.curate:
        policy = load_policy(run.settings.resolve(run.settings.paths.policy_file))
        overrides = read_overrides(run.layout) if run.options.steward_overrides else {}
        run.tiered = stages.tier_documents(docs, run.scores, policy, overrides)
    else:
        run.scores = {d.doc_id: {} for d in docs}
        baseline = {d.doc_id: Decision(d.doc_id, Tier.SAFE, [UNCURATED_REASON]) for d in docs}
        run.tiered = stages.Tiered.of(baseline)
    st.items(items_in=len(docs), items_out=len(run.decisions))
    st.note(**run.tiered.counts)


def _redact(run: IngestRun, st: StageHandle) -> None:
    """Mask what the decisions say to redact, then publish the tables: from here on (table, chunks, index,
    prompts, the steward's page and approve path) only the redacted text exists."""
    masked = stages.redact_documents(run.documents, run.scores, run.decisions)
    redacted = sum(1 for d in run.decisions.values() if d.redact)
    if run.options.write_tables:
        assert run.loaded is not None and run.tiered is not None
        stages.write_tables(run.layout, run.loaded, run.scores, run.tiered)
    st.items(items_in=len(run.documents), items_out=redacted)
    st.note(**{f"masked_{reason}": n for reason, n in sorted(masked.items())})


def _chunk(run: IngestRun, st: StageHandle) -> None:
    safe = run.safe_documents
    run.nodes = stages.chunk_documents(safe, run.embedder, run.settings)
    st.items(items_in=len(safe), items_out=len(run.nodes))


def _embed(run: IngestRun, st: StageHandle) -> None:
    stages.embed_chunks(run.nodes, run.embedder)
    st.items(items_in=len(run.nodes), items_out=len(run.nodes))
    st.note(device=run.embedder.device)


def _index(run: IngestRun, st: StageHandle) -> None:
    run.build = stages.build_index(
        run.layout, run.nodes, run.safe_documents, run.embedder, run.settings, recorder=st.io
    )
    st.items(items_in=len(run.nodes), items_out=run.build.n_chunks)
    st.note(build_id=run.build.build_id)


def _report(run: IngestRun, st: StageHandle) -> None:
    assert run.loaded is not None
    run.report = stages.report_run(run.run_folder, run.layout, run.loaded.quarantined, run.loaded.warnings)
    st.items(items_in=len(run.documents), items_out=2)


# (name, body, runs when): the one order of the stages.
STAGES: tuple[tuple[str, Callable[[IngestRun, StageHandle], None], Callable[[RunOptions], bool]], ...] = (
    ("load", _load, lambda o: True),
    ("score", _score, lambda o: o.curate),
    ("tier", _tier, lambda o: True),
    ("redact", _redact, lambda o: True),  # also writes the documents table: it holds the redacted text
    ("chunk", _chunk, lambda o: o.write_index),
    ("embed", _embed, lambda o: o.write_index),
    ("index", _index, lambda o: o.write_index),
    ("report", _report, lambda o: o.report),
)
STAGE_NAMES = tuple(name for name, _, _ in STAGES)


# --- what a reported run leaves in runs/<run-id>/ -----------------------------------------------------


def _finish_report(run: IngestRun) -> None:
    folder = run.run_folder
    run.profile.write(folder.io_profile)
    write_io_report(folder.io_profile, run.profile.to_dict())  # charts for people; the JSON stays the record
    _write_summary(run)


def _write_summary(run: IngestRun, *, error: str | None = None) -> None:
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
        "steward_report": str(run.report[1]) if run.report else None,
        "io_profile": str(run.run_folder.io_profile),
    }
    if error:
        summary["error"] = error
    run.run_folder.path.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run.run_folder.summary, summary)
    run.summary = summary
