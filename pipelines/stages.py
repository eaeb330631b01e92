"""The ingestion stages as plain typed functions: data in, data out, no Prefect inside.

load -> score -> tier -> redact -> chunk -> embed -> index -> report. The ingestion run (pipelines.ingest)
puts them in order and runs each inside the stage profiler; the Prefect flow, the evaluation and
`vetted curate` call it; the score stage (its scorers, the process pool) is pipelines.scoring. Given what the
last run kept (pipelines.incremental), load parses only changed files, score runs each scorer only where its
kept result does not hold, and the index keeps the build's chunks of unchanged documents (`index_plan`,
`build_index`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

from curation.connectors import FolderConnector, Limits, location
from curation.groups import needs_a_steward
from curation.layout import RunFolder, WorkLayout
from curation.models import Decision, Document, Override, QuarantineRecord, Tier
from curation.policy import TierPolicy
from curation.redaction import redact
from curation.report import build_report, write_steward_report
from curation.sources import SourceRegistry
from curation.table import SCORE_NAMES, documents_table, write_documents, write_quarantine
from pipelines.core.embedding import Embedder
from pipelines.core.index_store import BuildInfo, reusable_documents, update_build, write_build
from pipelines.core.settings import CurationSettings, Settings
from pipelines.incremental import Gone, IngestState, RememberingConnector
from pipelines.observability.recorder import IoRecorder
from pipelines.scoring import Scores


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
