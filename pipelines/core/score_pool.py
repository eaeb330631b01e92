"""The scoring stage over worker processes: the scorers that read one document at a time, on every core.

    with ScorePool(per_document_scorers, workers=2) as pool:
        pending = pool.submit(docs, todo)       # chunks go out at once; the caller scores the rest meanwhile
        ...                                     # the global scorers (duplicate, age, relevance) here
        outcome = pending.get()                 # results in input order, failures by document id

Processes, not threads: the scorers are pure-Python regex and dict work that holds the GIL. What is sent is
what a pool must not lose time on, which is why an earlier try (a pool per call, scorers shipped with every
task) ran at 0.25x of one process:
- the pool starts once per run, and each worker gets the scorers once, in its initializer. With `fork`
  (the default on Linux) a worker inherits them built, presidio's engines included, and nothing is
  pickled; with `forkserver` the server process imports the scorer modules once (set_forkserver_preload)
  and each worker rebuilds the scorers from their pickles (SensitiveDataScorer pickles as its arguments);
- documents go in chunks of CHUNK_DOCS, so a task's pickling and its round trip are paid per chunk;
- `imap` keeps the chunks' order, so results come back in input order whatever worker finished first.

A scorer that raises on a chunk is retried document by document in the worker, so one bad document costs
only its own quarantine record (`score_chunk`, the same code the in-process stage runs). Which scorers may
go to the pool, and when a pool is worth its start, is the stage's decision (pipelines.scoring).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.pool import IMapIterator, Pool
from typing import Any, Literal

from curation.models import Document, QuarantineRecord, ScoreResult
from curation.scorers import Scorer, ScorerStats

CHUNK_DOCS = 32  # ~10-40 ms of scoring a chunk: a task's overhead (~0.1 ms) is lost in it
StartMethod = Literal["fork", "forkserver", "spawn"]
# What a forkserver imports once, before it forks any worker: the scorers' modules (presidio and spaCy
# take seconds to import; without this every worker would pay them)
PRELOAD = ["curation.scorers", "curation.scorers.detect.pii_presidio", "pipelines.core.score_pool"]


@dataclass(slots=True)
class ChunkOutcome:
    """One chunk's results: doc id -> scorer -> result, the documents a scorer failed on, and per scorer
    the seconds spent and the documents that got each reason (to rebuild each scorer's `stats`)."""

    results: dict[str, dict[str, ScoreResult]] = field(default_factory=dict)
    failed: dict[str, QuarantineRecord] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    reasons: dict[str, Counter[str]] = field(default_factory=dict)
    documents: Counter[str] = field(default_factory=Counter)

    def merge(self, other: ChunkOutcome) -> None:
        for doc_id, results in other.results.items():
            self.results.setdefault(doc_id, {}).update(results)
        self.failed |= other.failed
        for name, spent in other.seconds.items():
            self.seconds[name] = self.seconds.get(name, 0.0) + spent
        self.documents.update(other.documents)
        for name, counts in other.reasons.items():
            self.reasons.setdefault(name, Counter()).update(counts)

    def stats(self, name: str) -> ScorerStats:
        """What the scorer's own `score_many` would have recorded over every chunk together."""
        reasons = self.reasons.get(name, Counter())
        seconds = self.seconds.get(name, 0.0)
        return ScorerStats(name, self.documents[name], seconds, dict(sorted(reasons.items())))


def score_chunk(
    scorers: Sequence[Scorer], docs: Sequence[Document], todo: Sequence[frozenset[str]]
) -> ChunkOutcome:
    """Each scorer over the documents whose `todo` names it (`todo[i]`: the scorers docs[i] needs), through
    `score_many` (its checks and stats); a scorer that raises is retried on each document alone, and a
    document it still fails on is given up with a `scorer_error` record and no results at all."""
    out = ChunkOutcome()
    for scorer in scorers:
        mine = [d for d, names in zip(docs, todo, strict=True) if scorer.name in names]
        if not mine:
            continue
        try:
            pairs = list(zip(mine, scorer.score_many(mine), strict=True))
            spent, stats = scorer.stats.seconds, [scorer.stats]
        except Exception:  # one bad document: find it, keep the others' results
            pairs, spent, stats = [], 0.0, []
            for doc in mine:
                try:
                    pairs.append((doc, scorer.score_many([doc])[0]))
                    spent += scorer.stats.seconds
                    stats.append(scorer.stats)
                except Exception as exc:  # noqa: BLE001 - any error of a scorer quarantines its document
                    detail = f"{scorer.name} scorer raised {type(exc).__name__}: {exc}"[:500]
                    record = QuarantineRecord(doc.path, doc.source, "scorer_error", detail)
                    out.failed.setdefault(doc.doc_id, record)
        for doc, result in pairs:
            out.results.setdefault(doc.doc_id, {})[scorer.name] = result
        out.seconds[scorer.name] = out.seconds.get(scorer.name, 0.0) + spent
        counts = out.reasons.setdefault(scorer.name, Counter())
        for s in stats:
            counts.update(s.reasons)
            out.documents[scorer.name] += s.documents
    for doc_id in out.failed:
        out.results.pop(doc_id, None)
    return out


# --- the worker side: the scorers, built once per worker process ---------------------------------------

_WORKER_SCORERS: list[Scorer] = []
_INHERITED: list[Scorer] = []  # what a forked worker finds built (set in the parent just before the fork)


def _init_worker(blob: bytes | None) -> None:
    global _WORKER_SCORERS
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # a worker never runs a model; no thread pools for it
    _WORKER_SCORERS = list(_INHERITED) if blob is None else pickle.loads(blob)


def _worker_chunk(task: tuple[list[Document], list[frozenset[str]]]) -> tuple[ChunkOutcome, float]:
    cpu = time.process_time()
    outcome = score_chunk(_WORKER_SCORERS, *task)
    return outcome, time.process_time() - cpu


# --- the parent side -----------------------------------------------------------------------------------


class Pending:
    """Chunks on their way through the pool; `get` waits for all of them."""

    def __init__(self, results: IMapIterator[tuple[ChunkOutcome, float]], chunks: int) -> None:
        self._results, self.chunks = results, chunks
        self.worker_cpu_s = 0.0

    def get(self) -> ChunkOutcome:
        merged = ChunkOutcome()
        for outcome, cpu_s in self._results:  # imap: in submission order
            merged.merge(outcome)
            self.worker_cpu_s += cpu_s
        return merged


class ScorePool:
    """`workers` processes holding `scorers` (per-document scorers only), started once; a context manager
    (the workers are stopped on exit)."""

    def __init__(self, scorers: Sequence[Scorer], workers: int, start_method: StartMethod = "fork") -> None:
        if workers < 1:
            raise ValueError(f"a pool needs at least one worker, got {workers}")
        self.workers, self.start_method = workers, start_method
        context = multiprocessing.get_context(start_method)
        blob: bytes | None = None
        if start_method == "fork":
            _INHERITED[:] = scorers  # the children see this list as it is at the fork
        else:
            blob = pickle.dumps(list(scorers))
            if start_method == "forkserver":
                context.set_forkserver_preload(PRELOAD)
        self._pool: Pool = context.Pool(workers, initializer=_init_worker, initargs=(blob,))
        if start_method == "fork":
            _INHERITED.clear()  # Pool() forks its workers before it returns

    def submit(self, docs: Sequence[Document], todo: Sequence[frozenset[str]]) -> Pending:
        tasks = list(_chunks(docs, todo, CHUNK_DOCS))
        return Pending(self._pool.imap(_worker_chunk, tasks), len(tasks))

    def close(self) -> None:
        self._pool.close()
        self._pool.join()

    def __enter__(self) -> ScorePool:
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            self.close()
        else:
            self._pool.terminate()
            self._pool.join()


def _chunks(
    docs: Sequence[Document], todo: Sequence[frozenset[str]], size: int
) -> Iterator[tuple[list[Document], list[frozenset[str]]]]:
    for lo in range(0, len(docs), size):
        yield list(docs[lo : lo + size]), list(todo[lo : lo + size])


def available_cores() -> int:
    """The cores this process may run on (its affinity mask: a container's or taskset's limit counts)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
