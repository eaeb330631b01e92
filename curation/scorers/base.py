"""The scorer base: a concrete scorer declares its name and reason prefixes and writes its rule; the base
times each run, counts documents and reasons, and refuses a reason the scorer did not declare (datatrove's
BaseFilter: `filter(doc)` is the rule, the base owns the stats).

    class AgeScorer(Scorer):
        name = "age"
        reason_prefixes = ("age_",)

        def score(self, doc): ...           # the rule, one document at a time, or
        def score_batch(self, docs): ...    # the rule over the batch (embeddings, comparisons)

    results = scorer.score_many(docs)       # the counted entry point the pipeline calls
    scorer.stats                            # ScorerStats("age", 255, 0.007, {"age_stale_for_domain": 3, ...})
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from curation.models import Document, ScoreResult

_PREFIX = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*_")  # snake_case words ending in "_": "pii_", "steward_"


@dataclass(slots=True, frozen=True)
class ScorerStats:
    """One `score_many` call: how many documents, how long, and how often each reason was given."""

    name: str
    documents: int = 0
    seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)  # reason -> documents that got it, sorted by reason


class Scorer:
    """Base of every scorer. Subclasses set `name` and `reason_prefixes` and override `score` (a rule over
    one document) or `score_batch` (a rule that needs the batch); callers use `score_many`."""

    name: ClassVar[str]  # the key of its ScoreResult, the `score_<name>` column, the module's name
    reason_prefixes: ClassVar[tuple[str, ...]]  # every reason it gives starts with one ("pii_", "secret_")
    _stats: ScorerStats | None = None  # the last score_many call's, set per instance

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        name, prefixes = getattr(cls, "name", None), getattr(cls, "reason_prefixes", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f'{cls.__qualname__} must declare `name = "..."`, the key of its scores')
        if not prefixes or not isinstance(prefixes, tuple) or not all(_is_prefix(p) for p in prefixes):
            raise TypeError(
                f"{cls.__qualname__} must declare `reason_prefixes` as a tuple of snake_case prefixes "
                f"ending in '_' (e.g. (\"{name}_\",)), got {prefixes!r}"
            )
        if cls.score is Scorer.score and cls.score_batch is Scorer.score_batch:
            raise TypeError(f"{cls.__qualname__} must override `score` (per document) or `score_batch`")

    def score(self, doc: Document) -> ScoreResult:
        """The rule for one document, uncounted (tests and single-document callers)."""
        raise NotImplementedError(f"{type(self).__qualname__} scores whole batches: call score_many")

    def score_batch(self, docs: Sequence[Document]) -> list[ScoreResult]:
        """The rule over a batch, one result per document in order; override when documents are scored
        together (one embedding call, comparisons across documents)."""
        return [self.score(d) for d in docs]

    def score_many(self, docs: Sequence[Document]) -> list[ScoreResult]:
        """Score every document, and record the run's `stats`.

        Raises:
            ValueError: the rule returned a result count other than the documents', or a reason that starts
                with none of `reason_prefixes` (a bug in the scorer: declare the prefix or fix the reason).
        """
        start = time.perf_counter()
        results = self.score_batch(docs)
        seconds = time.perf_counter() - start
        if len(results) != len(docs):
            raise ValueError(f"{self.name} returned {len(results)} results for {len(docs)} documents")
        counts: Counter[str] = Counter()
        for doc, result in zip(docs, results, strict=True):
            undeclared = [r for r in result.reasons if not r.startswith(self.reason_prefixes)]
            if undeclared:
                raise ValueError(
                    f"{type(self).__qualname__} gave {undeclared} for {doc.path}, which start with none of "
                    f"its reason_prefixes {self.reason_prefixes}: declare the prefix or fix the reason"
                )
            counts.update(set(result.reasons))
        self._stats = ScorerStats(self.name, len(docs), seconds, dict(sorted(counts.items())))
        return results

    @property
    def stats(self) -> ScorerStats:
        """The last `score_many` call's figures (zero documents before the first)."""
        return self._stats if self._stats is not None else ScorerStats(self.name)


def _is_prefix(prefix: object) -> bool:
    return isinstance(prefix, str) and _PREFIX.fullmatch(prefix) is not None
