"""One ingestion run: the stage sequence, written once.

    load -> score -> tier -> redact -> chunk -> embed -> index -> report

The redact stage masks what the tier decisions say to redact (policy.toml [actions]), so the table, the
chunks and the index only ever hold the redacted text. The documents table is published with the index
build, right after its swap (at the end of redact when the index is off): a run killed before then leaves
the table and the build in service as they were, and they always agree.
`run()` is what every caller runs: `vetted ingest` through the Prefect flow (pipelines.flows wraps each stage
in a task through `run_stage`, without knowing their order), the evaluation's work folders (eval.workdirs:
curated, or the uncurated baseline with `curate=False`) and `vetted curate` (a dry run: the same stages with
tables, index and report off). Every stage runs inside the stage profiler. The input accounting (files in =
documents + quarantined) is checked as soon as the corpus is read, before anything is written: a run that
lost a document never publishes a table or an index build.

Runs are incremental (pipelines.incremental): a run compares its documents with the last completed run's
(new, changed, unchanged, deleted), parses only changed files, keeps the scores that depend on a document
alone while its version and their inputs stay the same, and derives its index build from the one in
service, so only new and changed documents are chunked and embedded. The run publishes the tables and
then commits its state as the last completed run right after the index swap (pipelines.run_records): a run
killed before that, in any stage, leaves the build in service, the tables and steward.db as they were, and the
next run compares against the same last completed run and takes up the work from the caches it left.
summary.json's `incremental` section holds the counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from llama_index.core.schema import TextNode

from curation.feedback import steward_exemplars
from curation.layout import RunFolder, WorkLayout
from curation.models import Decision, Document, Override, QuarantineRecord, Tier
from curation.policy import TierPolicy, load_policy
from curation.scorers import DuplicateScorer
from curation.sources import SourceRegistry, load_registry
from curation.tiers import read_overrides, read_rules
from pipelines import incremental, scoring, stages
from pipelines import run_records as records
from pipelines.core.embedding import Embedder, embedder_for
from pipelines.core.index_store import BuildInfo
from pipelines.core.settings import Settings
from pipelines.incremental import Changes, IngestState
from pipelines.observability.profiler import RunProfile, StageHandle, new_run_id
from pipelines.runners import LocalRunner, Runner

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
    runner: Runner = field(default_factory=LocalRunner)  # where score and embed compute (pipelines.runners)
    loaded: stages.Loaded | None = None
    scores: scoring.Scores = field(default_factory=dict)
    tiered: stages.Tiered | None = None
    policy: TierPolicy | None = None  # the tier stage's, with the steward's group rules (None: uncurated)
    nodes: list[TextNode] = field(default_factory=list)
    build: BuildInfo | None = None
    state: IngestState | None = None  # None: a dry run reads and keeps nothing
    versions: dict[str, str] = field(default_factory=dict)  # doc id -> version (pipelines.incremental)
    changes: Changes | None = None
    plan: stages.IndexPlan | None = None
    vectors_reused: int = 0
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
    runner: Runner | None = None,
) -> IngestRun:
    """Run the stages the options ask for over `corpus` into `layout`; returns the finished run.
    `run_stage` wraps each stage (the flow's Prefect tasks); `runner` computes the score and embed stages'
    work (None: this process; pipelines.runners.ray_runner: a Ray cluster).

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
        runner=runner or LocalRunner(settings.scoring),
        state=IngestState(layout.ingest_state) if options.write_tables else None,
    )
    call = run_stage or _inline
    try:
        for name, body, wanted in STAGES:
            if wanted(options):
                call(name, _profiled(state, name, body))
    except AccountingError as exc:
        if options.report:  # the failed run leaves its record; no table, index or report was written
            records.write_summary(state, error=str(exc))
        raise
    if options.report:
        records.finish_report(state)
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
    loader = incremental.loader_key(run.settings)
    loaded = stages.load_documents(
        run.corpus, run.registry, run.settings.curation, state=run.state, loader=loader
    )
    st.items(items_in=loaded.units, items_out=len(loaded.documents))
    st.note(quarantined=len(loaded.quarantined), warnings=len(loaded.warnings), files_parsed=loaded.parsed)
    run.loaded = loaded
    if not loaded.accounted:
        raise AccountingError(
            f"input accounting failed in {run.corpus}: {loaded.units} inputs, "
            f"{len(loaded.documents)} documents + {len(loaded.quarantined)} quarantined"
        )
    run.versions = {d.doc_id: incremental.version_hash(d) for d in loaded.documents}
    if run.state is not None:
        run.changes = run.state.changes(loaded.documents, run.versions)
        st.note(**run.changes.counts())


def _score(run: IngestRun, st: StageHandle) -> None:
    steward = None
    if run.options.steward_overrides:  # decisions so far teach relevance (curation.feedback)
        steward = steward_exemplars(run.layout, chars=run.settings.curation.relevance_chars)
    build = partial(scoring.build_scorers, run.settings, run.registry, steward=steward)
    scorers = build(run.embedder)
    deps = incremental.score_deps(run.settings, run.embedder.model_label)
    stored = run.state.stored(run.versions, deps) if run.state is not None else {}
    relearned = incremental.drop_stale_relevance(stored, steward.key if steward else "none")
    hashes = {d.doc_id: d.content_hash for d in run.documents}
    for scorer in scorers:
        if isinstance(scorer, DuplicateScorer):  # the signatures kept: only new text is shingled
            scorer.signatures = {hashes[i]: k.signature for i, k in stored.items() if k.signature is not None}
    failures: dict[str, QuarantineRecord] = {}  # a document a scorer raised on: quarantined, not the run lost
    items_in = len(run.documents)
    run.scores, seconds = run.runner.score(
        run.documents, scorers, {i: k.scores for i, k in stored.items()}, build=build,
        embedder=run.embedder, st=st, failures=failures,
    )
    if failures:  # in = out + quarantined still holds: each leaves the documents for the quarantine
        assert run.loaded is not None
        run.loaded.documents = [d for d in run.loaded.documents if d.doc_id not in failures]
        run.loaded.quarantined.extend(failures.values())
    if run.state is not None:  # kept before redaction edits the sensitive details in place
        sigs = next((s.signatures for s in scorers if isinstance(s, DuplicateScorer)), {})
        run.state.put_scores(
            (d.doc_id, run.versions[d.doc_id], deps, incremental.kept_scores(run.scores[d.doc_id]),
             sigs.get(d.content_hash))
            for d in run.documents
            if d.doc_id not in stored or d.doc_id in relearned
        )  # fmt: skip
    st.items(items_in=items_in, items_out=len(run.scores))
    st.note(
        scorer_errors=len(failures),
        rescored=len(run.documents) - len(stored),
        relevance_relearned=len(relearned),
        **{f"{name}_s": round(sec, 3) for name, sec in seconds.items()},
    )


def _tier(run: IngestRun, st: StageHandle) -> None:
    docs = run.documents
    if run.options.curate:
        policy = load_policy(run.settings.resolve(run.settings.paths.policy_file))
        overrides: dict[str, Override] = {}
        if run.options.steward_overrides:
            overrides = read_overrides(run.layout)
            policy = policy.with_rules(read_rules(run.layout))
        run.policy = policy
        run.tiered = stages.tier_documents(docs, run.scores, policy, overrides)
    else:
        run.scores = {d.doc_id: {} for d in docs}
        baseline = {d.doc_id: Decision(d.doc_id, Tier.SAFE, [UNCURATED_REASON]) for d in docs}
        run.tiered = stages.Tiered.of(baseline)
    st.items(items_in=len(docs), items_out=len(run.decisions))
    st.note(**run.tiered.counts)


def _redact(run: IngestRun, st: StageHandle) -> None:
    """Mask what the decisions say to redact: from here on (table, chunks, index, prompts, the steward's
    page and approve path) only the redacted text exists. Without an index the tables are published here."""
    masked = stages.redact_documents(run.documents, run.scores, run.decisions)
    redacted = sum(1 for d in run.decisions.values() if d.redact)
    if not run.options.write_index:
        records.publish(run)
    st.items(items_in=len(run.documents), items_out=redacted)
    st.note(**{f"masked_{reason}": n for reason, n in sorted(masked.items())})


def _chunk(run: IngestRun, st: StageHandle) -> None:
    safe = run.safe_documents
    if run.state is not None:  # the build in service holds the chunks of the unchanged safe documents
        run.plan = stages.index_plan(run.layout, safe, run.embedder, run.settings)
    reuse = run.plan.reuse if run.plan else set()
    fresh = [d for d in safe if d.doc_id not in reuse]
    run.nodes = stages.chunk_documents(fresh, run.embedder, run.settings)
    st.items(items_in=len(fresh), items_out=len(run.nodes))
    st.note(documents_reused=len(reuse))


def _embed(run: IngestRun, st: StageHandle) -> None:
    run.runner.embed(run.nodes, run.embedder, st=st)
    st.items(items_in=len(run.nodes), items_out=len(run.nodes))
    st.note(device=run.embedder.device, runner=run.runner.name)


def _index(run: IngestRun, st: StageHandle) -> None:
    run.build = stages.build_index(
        run.layout, run.nodes, run.safe_documents, run.embedder, run.settings, base=run.plan, recorder=st.io
    )
    run.vectors_reused = run.build.n_chunks - len(run.nodes) if run.plan and run.plan.base_id else 0
    st.items(items_in=len(run.nodes), items_out=run.build.n_chunks)
    st.note(build_id=run.build.build_id, vectors_reused=run.vectors_reused)
    records.publish(run)


def _report(run: IngestRun, st: StageHandle) -> None:
    assert run.loaded is not None
    deleted = run.changes.deleted if run.changes else []
    run.report = stages.report_run(
        run.run_folder,
        run.layout,
        run.loaded.quarantined,
        run.loaded.warnings,
        deleted=deleted,
        policy=run.policy,
    )
    st.items(items_in=len(run.documents), items_out=2)


# (name, body, runs when): the one order of the stages.
STAGES: tuple[tuple[str, Callable[[IngestRun, StageHandle], None], Callable[[RunOptions], bool]], ...] = (
    ("load", _load, lambda o: True),
    ("score", _score, lambda o: o.curate),
    ("tier", _tier, lambda o: True),
    ("redact", _redact, lambda o: True),  # the tables are published after the index (or here, without one)
    ("chunk", _chunk, lambda o: o.write_index),
    ("embed", _embed, lambda o: o.write_index),
    ("index", _index, lambda o: o.write_index),
    ("report", _report, lambda o: o.report),
)
STAGE_NAMES = tuple(name for name, _, _ in STAGES)
