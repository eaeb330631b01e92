"""The ingestion stages as plain typed functions: data in, data out, no Prefect inside.

load -> score -> tier -> redact -> chunk -> embed -> index -> report. The ingestion run (pipelines.ingest)
puts them in order and runs each inside the stage profiler; the Prefect flow, the evaluation and
`vetted curate` call it. Given what the last run kept (pipelines.incremental), load parses only changed files,
score runs each scorer only where its kept result does not hold, and the index keeps the build's chunks of
unchanged documents (`index_plan`, `build_index`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

from curation.connectors import FolderConnector, Limits, location
from curation.feedback import StewardExemplars
from curation.groups import needs_a_steward
from curation.layout import RunFolder, WorkLayout
from curation.models import Decision, Document, Override, QuarantineRecord, ScoreResult, Tier
from curation.policy import TierPolicy
from curation.redaction import redact
from curation.report import build_report, write_steward_report
from curation.scorers import (
    AgeScorer,
    DuplicateScorer,
    QualityScorer,
    RelevanceScorer,
    Scorer,
    SensitiveDataScorer,
    SourceTrustScorer,
)
from curation.sources import SourceRegistry
from curation.table import SCORE_NAMES, documents_table, write_documents, write_quarantine
from pipelines.core.embedding import Embedder
from pipelines.core.index_store import BuildInfo, reusable_documents, update_build, write_build
from pipelines.core.score_pool import ChunkOutcome, ScorePool, available_cores, score_chunk
from pipelines.core.settings import CurationSettings, DomainSettings, ScoringSettings, Settings
from pipelines.incremental import RESCORED_EVERY_RUN, Gone, IngestState, RememberingConnector
from pipelines.observability.recorder import IoRecorder


@dataclass(slots=True)
class Loaded:
    documents: list[Document]
    quarantined: list[QuarantineRecord]
    units: int  # files, or lines of JSONL ticket files: units == documents + quarantined
    # what the folder got wrong without losing a document: manifest lines naming missing files, source
    # types sources.toml does not declare (curation.connectors.manifest); the summary and report show them
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # every file walked (relative paths)
    parsed: int = 0  # files read by their parser; the others came from the incremental state

    @property
    def accounted(self) -> bool:
        return self.units == len(self.documents) + len(self.quarantined)


@dataclass(slots=True)
class Tiered:
    decisions: dict[str, Decision]
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, decisions: dict[str, Decision]) -> Tiered:
        counts = {t.value: 0 for t in Tier}
        for decision in decisions.values():
            counts[decision.tier.value] += 1
        return cls(decisions, counts)


Scores = dict[str, dict[str, ScoreResult]]


def load_documents(
    corpus_dir: Path,
    registry: SourceRegistry,
    cur: CurationSettings,
    *,
    state: IngestState | None = None,
    loader: str = "",
) -> Loaded:
    """Every file of the folder through its format parser, within the per-file bounds of the settings; with
    `state`, a file whose key (bytes, mtime, manifest entry, `loader`) it holds is taken from it unparsed."""
    limits = Limits(max_pages=cur.max_pages, max_rows=cur.max_sheet_rows, max_messages=cur.max_messages)
    bounds: dict[str, Any] = {
        "max_file_bytes": int(cur.max_file_mb * 2**20),
        "legacy_encoding": cur.legacy_encoding,
        "file_timeout_s": cur.file_timeout_s,
        "limits": limits,
    }
    connector = (
        FolderConnector(corpus_dir, registry, **bounds)
        if state is None
        else RememberingConnector(corpus_dir, registry, state=state, loader=loader, **bounds)
    )
    docs: list[Document] = []
    bad: list[QuarantineRecord] = []
    for item in connector:
        (docs if isinstance(item, Document) else bad).append(item)  # type: ignore[arg-type]
    loaded = Loaded(docs, bad, units=connector.units, warnings=list(connector.warnings))
    if isinstance(connector, RememberingConnector):
        assert state is not None
        state.put_files(connector.fresh)
        loaded.files, loaded.parsed = connector.seen, connector.parsed
    else:
        loaded.files = [p.relative_to(corpus_dir).as_posix() for p in connector.files()]
        loaded.parsed = len(loaded.files)
    return loaded


def build_scorers(
    settings: Settings,
    registry: SourceRegistry,
    embedder: Embedder,
    steward: StewardExemplars | None = None,
) -> list[Scorer]:
    """The six scorers of a run; `steward` is what stewards decided so far (curation.feedback)."""
    cur = settings.curation
    today = cur.as_of()
    return [
        AgeScorer(registry, today=today),
        SourceTrustScorer(registry),
        relevance_scorer(embedder.embed, settings.domain, cur, steward),
        SensitiveDataScorer(allowed_emails=registry.allowed_emails, public_sources=registry.public_sources),
        DuplicateScorer(lambda d: registry.trust(d.source, d.source_type)),
        QualityScorer(),
    ]


def relevance_scorer(
    embed: Callable[[list[str]], Any],
    domain: DomainSettings,
    cur: CurationSettings,
    steward: StewardExemplars | None = None,
) -> RelevanceScorer:
    """The relevance scorer that the domain and curation settings describe (the run, the relevance set's
    measure and its tests build it here, so the three never drift apart)."""
    return RelevanceScorer(
        embed,
        description=domain.description,
        exemplars=domain.exemplars,
        off_domain_exemplars=domain.off_domain_exemplars,
        low=cur.relevance_low,
        high=cur.relevance_high,
        chars=cur.relevance_chars,
        steward=steward,
    )


def score_documents(
    docs: Sequence[Document],
    scorers: Sequence[Scorer],
    kept: Scores | None = None,
    *,
    scoring: ScoringSettings | None = None,
    failures: dict[str, QuarantineRecord] | None = None,
) -> tuple[Scores, dict[str, float]]:
    """Every scorer over every document, but where `kept` (doc id -> scorer -> result, from the last run)
    holds a result of a scorer outside RESCORED_EVERY_RUN, that result is taken as it is. Returns the scores
    and each scorer's seconds; the scorers' own `stats` (curation.scorers.base) hold the seconds, documents
    and reason counts of this run.

    `scoring` ([scoring] of vetted.toml): with workers > 1 and enough documents, the per-document scorers
    run in a process pool (pipelines.core.score_pool) while this process runs the others; the scores are
    the same either way. `failures`: given, a document a scorer raises on is left out of the scores and
    recorded there (doc id -> `scorer_error` quarantine record) instead of failing the stage."""
    kept = kept or {}
    todo = [
        frozenset(
            s.name for s in scorers if s.name in RESCORED_EVERY_RUN or s.name not in kept.get(d.doc_id, {})
        )
        for d in docs
    ]
    scoring = scoring or ScoringSettings()
    per_document = {s.name for s in scorers if is_per_document(s)}
    workers = pool_workers(scoring, sum(1 for names in todo if names & per_document))
    pooled = [s for s in scorers if workers > 1 and s.name in per_document]
    here = [s for s in scorers if s not in pooled]
    pending = None
    if pooled:
        pool = ScorePool(pooled, workers, scoring.start_method)
        pending = pool.submit(docs, todo)  # the pool scores while this process runs the global scorers
    try:
        outcome = _score_here(here, docs, todo, failures is not None)
        if pending is not None:
            outcome.merge(pending.get())
    finally:
        if pending is not None:
            pool.close()
    if outcome.failed and failures is None:
        raise ScoringError(outcome.failed)
    for scorer in pooled:  # as if its own score_many had run over every document
        scorer._stats = outcome.stats(scorer.name)
    scores: Scores = {}
    for doc in docs:
        if doc.doc_id in outcome.failed:
            continue
        fresh = outcome.results.get(doc.doc_id, {})
        scores[doc.doc_id] = {
            s.name: fresh[s.name] if s.name in fresh else kept[doc.doc_id][s.name] for s in scorers
        }
    if failures is not None:
        failures.update(outcome.failed)
    return scores, {scorer.name: scorer.stats.seconds for scorer in scorers}


class ScoringError(RuntimeError):
    """A scorer raised on documents and the caller keeps no quarantine for them (`failures` not given)."""

    def __init__(self, failed: dict[str, QuarantineRecord]) -> None:
        super().__init__("; ".join(f"{r.path}: {r.detail}" for r in failed.values()))
        self.failed = failed


def is_per_document(scorer: Scorer) -> bool:
    """A scorer whose rule reads one document at a time (no `score_batch` of its own): it may score in any
    process. Duplicate (compares documents), age (version families) and relevance (one model call, the
    embedding cache) score the batch, so they stay in this process."""
    return type(scorer).score_batch is Scorer.score_batch


def pool_workers(scoring: ScoringSettings, documents: int) -> int:
    """The processes the per-document scorers get: 1 (this one, no pool) on one core or under
    `pool_min_docs` documents, where a pool's start costs more than it saves."""
    cores = available_cores()
    wanted = cores if scoring.workers == "auto" else scoring.workers
    if wanted <= 1 or cores <= 1 or documents < scoring.pool_min_docs:
        return 1
    return wanted


def _score_here(
    scorers: Sequence[Scorer], docs: Sequence[Document], todo: Sequence[frozenset[str]], isolate: bool
) -> ChunkOutcome:
    """The scorers in this process, each over every document it has to score at once (score_batch scorers
    need the whole batch). With `isolate`, a per-document scorer that raises is retried on each document
    alone, as a pool worker does; a batch scorer's error has no one document to blame and is raised."""
    out = ChunkOutcome()
    for scorer in scorers:
        if isolate and is_per_document(scorer):
            out.merge(score_chunk([scorer], docs, todo))
            continue
        mine = [d for d, names in zip(docs, todo, strict=True) if scorer.name in names]
        for doc, result in zip(mine, scorer.score_many(mine) if mine else [], strict=True):
            out.results.setdefault(doc.doc_id, {})[scorer.name] = result
    for doc_id in out.failed:
        out.results.pop(doc_id, None)
    return out


def tier_documents(
    docs: Sequence[Document], scores: Scores, policy: TierPolicy, overrides: dict[str, Override]
) -> Tiered:
    """Every document's decision; `policy` carries the steward's group rules (TierPolicy.with_rules), which
    apply by the document's source."""
    return Tiered.of(
        {
            d.doc_id: policy.decide(d.doc_id, scores[d.doc_id], overrides.get(d.doc_id), source=d.source)
            for d in docs
        }
    )


def redact_documents(docs: list[Document], scores: Scores, decisions: dict[str, Decision]) -> Counter[str]:
    """Mask, in place, the spans each decision says to redact: the document's text becomes the redacted one
    and its sensitive details move onto it (`spans` at the new positions, `redacted` = spans masked per
    reason, `placeholders` = distinct values per reason). Returns the spans masked per reason."""
    masked: Counter[str] = Counter()
    for i, doc in enumerate(docs):
        kinds = decisions[doc.doc_id].redact
        if not kinds:
            continue
        details = scores[doc.doc_id]["sensitive"].details  # a redact action comes from the sensitive scorer
        result = redact(doc.text, details["spans"], set(kinds))  # type: ignore[arg-type]
        docs[i] = replace(doc, text=result.text)
        details.update(spans=result.spans, redacted=result.counts, placeholders=result.placeholders)
        masked.update(result.counts)
    return masked


def write_tables(layout: WorkLayout, loaded: Loaded, scores: Scores, tiered: Tiered) -> Path:
    layout.root.mkdir(parents=True, exist_ok=True)
    write_documents(layout.documents, documents_table(loaded.documents, scores, tiered.decisions))
    write_quarantine(layout.quarantine, loaded.quarantined)
    return layout.documents


def chunk_documents(docs: Sequence[Document], embedder: Embedder, settings: Settings) -> list[TextNode]:
    """Split documents into chunks measured in the embedding model's own tokens."""
    splitter = SentenceSplitter(
        chunk_size=settings.chunking.chunk_size_tokens,
        chunk_overlap=settings.chunking.chunk_overlap_tokens,
        tokenizer=embedder.tokenizer_fn(),
    )
    nodes: list[TextNode] = []
    for doc in docs:
        cursor = 0
        for n, piece in enumerate(splitter.split_text(doc.text)):
            metadata: dict[str, Any] = {
                "doc_id": doc.doc_id,
                "chunk_no": n,
                "title": doc.title,
                "source": doc.source,
                "path": doc.path,
                "content_hash": doc.content_hash,
            }
            # where the chunk starts inside its file ("page 12", "slide 3", "sheet Q3"), for citations
            start = _chunk_start(doc.text, piece, cursor)
            cursor = start
            where = location(doc.meta, start)
            if where:
                metadata["location"] = where
            node = TextNode(
                id_=f"{doc.doc_id}:{n}",
                text=piece,
                metadata=metadata,
                excluded_embed_metadata_keys=[
                    "doc_id",
                    "chunk_no",
                    "source",
                    "path",
                    "content_hash",
                    "location",
                ],  # fmt: skip
                excluded_llm_metadata_keys=["doc_id", "chunk_no", "content_hash"],
            )
            node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=doc.doc_id)
            nodes.append(node)
    return nodes


def _chunk_start(text: str, piece: str, cursor: int) -> int:
    """The offset of a chunk in its document's text. The splitter returns pieces in order and may strip
    their edges, so the search starts where the previous chunk started and falls back on the piece's first
    line; a piece it cannot find (whitespace normalised) keeps the previous offset."""
    for probe in (piece, piece[:80], piece.split("\n", 1)[0][:40]):
        if probe.strip():
            found = text.find(probe.strip(), cursor)
            if found >= 0:
                return found
    return cursor


def embed_chunks(nodes: list[TextNode], embedder: Embedder) -> list[TextNode]:
    vectors = embedder.embed([n.text for n in nodes])
    for node, vector in zip(nodes, vectors, strict=True):
        node.embedding = vector.tolist()
    return nodes


def build_index(
    layout: WorkLayout,
    nodes: list[TextNode],
    safe_docs: Sequence[Document],
    embedder: Embedder,
    settings: Settings,
    *,
    base: IndexPlan | None = None,
    recorder: IoRecorder | None = None,
) -> BuildInfo:
    """A new build of the safe documents: written whole, or derived from `base` (its reused documents'
    chunks kept, `nodes` holding every other safe document's)."""
    if base is not None and base.base_id is not None:
        fresh = {d.doc_id: d.content_hash for d in safe_docs if d.doc_id not in base.reuse}
        return update_build(
            layout.root,
            base_id=base.base_id,
            keep=base.reuse,
            nodes=nodes,
            doc_hashes=fresh,
            recorder=recorder,
        )
    return write_build(
        layout.root,
        nodes,
        dimension=embedder.dimension,
        model=embedder.model_label,  # the backend and precision too: a change re-embeds
        doc_hashes={d.doc_id: d.content_hash for d in safe_docs},
        settings=settings.chunking.model_dump(),
        index=settings.index,
        recorder=recorder,
    )


@dataclass(slots=True, frozen=True)
class IndexPlan:
    """The build in service to derive from (None: write one whole) and the documents it already holds."""

    base_id: str | None
    reuse: set[str]


def index_plan(
    layout: WorkLayout, safe_docs: Sequence[Document], embedder: Embedder, settings: Settings
) -> IndexPlan:
    base_id, reuse = reusable_documents(
        layout.root,
        model=embedder.model_label,
        settings=settings.chunking.model_dump(),
        doc_hashes={d.doc_id: d.content_hash for d in safe_docs},  # the redacted text: what the build holds
    )
    return IndexPlan(base_id, reuse)


def report_run(
    run: RunFolder,
    layout: WorkLayout,
    quarantined: list[QuarantineRecord],
    warnings: Sequence[str] = (),
    *,
    deleted: Sequence[Gone] = (),
    policy: TierPolicy | None = None,
) -> tuple[Path, Path]:
    """The steward report of this run, from the documents table it wrote, with the documents that left the
    corpus since the last completed run and, given the run's `policy` (with its rules), what needs a steward
    grouped by source and reason: (JSON path, HTML path)."""
    import pyarrow.parquet as pq

    score_columns = [f"score_{n}" for n in SCORE_NAMES]
    columns = ["doc_id", "title", "source", "path", "updated", "tier", "reasons", *score_columns]
    table = pq.read_table(layout.documents, columns=[*columns, "overridden_by", "details"])
    groups = []
    if policy is not None:
        rows = table.select([c for c in columns if c != "updated"]).to_pylist()
        by = table["overridden_by"].to_pylist()
        overridden = [r["doc_id"] for r, who in zip(rows, by, strict=True) if who]
        groups = needs_a_steward(rows, policy, overridden=overridden)
    gone = [{"doc_id": g.doc_id, "source": g.source, "path": g.path, "title": g.title} for g in deleted]
    report = build_report(run.run_id, table, quarantined, warnings, deleted=gone, groups=groups)
    return write_steward_report(report, run)
