"""Where the heavy work of an ingestion run goes: this process (`LocalRunner`) or a Ray cluster
(`pipelines.runners.ray_runner.RayRunner`, imported only when asked for: Ray takes ~2 s to import).

A runner replaces the bodies of two stages and nothing else: score (every scorer over every document) and
embed (the model over the chunks). The run (pipelines.ingest) keeps the order of the stages, the profiler
around each one, the incremental state and everything it publishes; a runner only computes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from llama_index.core.schema import TextNode

from curation.models import Document, QuarantineRecord
from curation.scorers import Scorer
from pipelines import scoring, stages
from pipelines.core.embedding import Embedder
from pipelines.core.settings import ScoringSettings, Settings
from pipelines.observability.profiler import StageHandle

# The run's scorers from an embedder: `partial(scoring.build_scorers, settings, registry, steward=...)`. A
# runner that scores elsewhere builds them there with an embedder of its own.
ScorerBuilder = Callable[[Embedder], list[Scorer]]


class Runner(Protocol):
    name: str

    def score(
        self,
        docs: Sequence[Document],
        scorers: Sequence[Scorer],
        kept: scoring.Scores,
        *,
        build: ScorerBuilder,
        embedder: Embedder,
        st: StageHandle,
        failures: dict[str, QuarantineRecord] | None = None,
    ) -> tuple[scoring.Scores, dict[str, float]]:
        """`scoring.score_documents(docs, scorers, kept)`: the scores and each scorer's seconds. `build`
        and `embedder` (the run's) let a runner build the same scorers elsewhere. `failures`, where the
        runner supports it: documents a scorer raised on, left out of the scores (scoring.score_documents)."""
        ...

    def embed(self, nodes: list[TextNode], embedder: Embedder, *, st: StageHandle) -> None:
        """`stages.embed_chunks(nodes, embedder)`: every node gets its vector, through the embedding cache."""
        ...


class LocalRunner:
    """Every stage on this machine (the default): scoring with `[scoring]`'s worker processes for the
    per-document scorers (pipelines.core.score_pool), embedding in this process."""

    name = "local"

    def __init__(self, scoring: ScoringSettings | None = None) -> None:
        self.scoring = scoring or ScoringSettings()

    def score(
        self,
        docs: Sequence[Document],
        scorers: Sequence[Scorer],
        kept: scoring.Scores,
        *,
        build: ScorerBuilder,
        embedder: Embedder,
        st: StageHandle,
        failures: dict[str, QuarantineRecord] | None = None,
    ) -> tuple[scoring.Scores, dict[str, float]]:
        return scoring.score_documents(docs, scorers, kept, scoring=self.scoring, failures=failures)

    def embed(self, nodes: list[TextNode], embedder: Embedder, *, st: StageHandle) -> None:
        stages.embed_chunks(nodes, embedder)


def runner_for(settings: Settings) -> Runner:
    """The runner `[ray] runner` names."""
    if settings.ray.runner == "ray":
        from pipelines.runners.ray_runner import RayRunner

        return RayRunner(settings)
    return LocalRunner(settings.scoring)
