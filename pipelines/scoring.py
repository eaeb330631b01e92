"""The score stage: every scorer of a run over the documents, in this process or a pool of processes.

`build_scorers` makes a run's six scorers from its settings; `score_documents` runs them, taking the last
run's results where they still hold (pipelines.incremental) and sending the per-document scorers to a process
pool (pipelines.core.score_pool) when there are enough documents and cores. The ingestion run
(pipelines.ingest), the runners (pipelines.runners) and the benchmarks call it; pipelines.stages holds the
stages around it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from curation.feedback import StewardExemplars
from curation.models import Document, QuarantineRecord, ScoreResult
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
from pipelines.core.embedding import Embedder
from pipelines.core.score_pool import ChunkOutcome, ScorePool, available_cores, score_chunk
from pipelines.core.settings import CurationSettings, DomainSettings, ScoringSettings, Settings
from pipelines.incremental import RESCORED_EVERY_RUN

Scores = dict[str, dict[str, ScoreResult]]  # doc id -> scorer name -> result


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
