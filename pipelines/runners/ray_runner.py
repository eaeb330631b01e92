"""The Ray runner: the score and embed stages of an ingestion run on a Ray cluster.

    vetted ingest --runner ray                        # a local cluster for the run ([ray] num_cpus, ...)
    vetted ingest --runner ray  # with [ray] address = "head:6379": a running cluster

score: the documents in `[ray] partitions` contiguous partitions, one Ray task each. A task builds the
run's scorers in its worker (the same `scoring.build_scorers`, with an embedder of its own and no embedding
cache: the cache is a SQLite file in the driver's work folder) and scores its partition with
`scoring.score_documents`, kept scores included. Duplicate detection compares documents with each other, so
it stays global: the driver runs the DuplicateScorer over all documents (MinHash + LSH, a small share of
the scoring time), and a near-duplicate pair split across partitions is found as in a local run.

embed: the texts the embedding cache lacks go through Ray Data `map_batches` over an actor pool of
`[ray] embed_actors`; each actor loads the model once, with one GPU (`num_gpus=1`) when the run's embedder
is on CUDA, a CPU otherwise. A row number travels with each text, so the vectors come back in chunk order;
the index stage then writes one build from them with pipelines.core.index_store, as a local run does
(README "On Ray" says why not one FAISS shard per partition).

Workers mirror the run's embedder (model folder, device, backend), so their vectors, the embedding cache
and the index manifest name the same model variant as a local run's. The driver still loads the model
once: chunking counts tokens with its tokenizer.

What the profiler counts: every stage still runs in the driver inside its profile stage. Ray's worker
processes are not children of this process (on a cluster not on this machine at all), so their CPU time
and I/O are missing from the stage's kernel figures; each task and actor reports its own CPU seconds,
noted on the stage as `ray_worker_cpu_s`. Their file I/O is not counted anywhere.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import ray
from llama_index.core.schema import TextNode

from curation.models import Document, QuarantineRecord
from curation.scorers import DuplicateScorer, Scorer
from pipelines import scoring
from pipelines.core.embedding import Embedder
from pipelines.core.settings import RaySettings, Settings
from pipelines.observability.profiler import StageHandle
from pipelines.runners import ScorerBuilder

# Scorers whose result for a document depends on other documents: they run once, over all of them.
GLOBAL_SCORERS: tuple[type[Scorer], ...] = (DuplicateScorer,)
CONNECT_TIMEOUT_S = 3.0  # a head that does not accept a TCP connection in this long is not there


class RayUnreachable(ConnectionError):
    """`[ray] address` names no running Ray head."""


def partitions(n: int, parts: int) -> list[range]:
    """`parts` contiguous index ranges covering range(n), sizes differing by one at most (none empty)."""
    size, extra = divmod(n, parts)
    bounds = [0]
    for i in range(parts):
        bounds.append(bounds[-1] + size + (i < extra))
    return [range(lo, hi) for lo, hi in zip(bounds, bounds[1:], strict=False) if hi > lo]


def check_address(address: str) -> None:
    """Fail at once, with what to do, when nothing listens at `address` (ray.init would retry for long)."""
    if address == "auto":
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"ray.address = {address!r}: give host:port (the head's GCS port, 6379 by "
                         "default), ray://host:10001, auto, or leave it unset for a local cluster")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise RayUnreachable(
            f"ray.address = {address!r}: no Ray head answers there ({exc.strerror or exc}). Start one "
            f"(`ray start --head --port={port}`) or unset ray.address to run on a local cluster."
        ) from exc


def init_kwargs(settings: RaySettings) -> dict[str, Any]:
    """ray.init's keyword arguments: a local cluster's size only when no address is given (Ray refuses
    resources for a cluster that is already running)."""
    kwargs: dict[str, Any] = {"ignore_reinit_error": True}
    if settings.address is None:
        kwargs |= {
            "num_cpus": settings.num_cpus,
            "object_store_memory": settings.object_store_mb * 2**20,
            "include_dashboard": False,  # a web server nobody reads in a batch run
        }
    return kwargs


def connect(settings: RaySettings) -> None:
    """Join the cluster of `settings` unless this process already has (prefect-ray's RayTaskRunner
    connects for the flow run; a bare `ingest.run` caller connects here, until the process ends)."""
    if ray.is_initialized():
        return
    if settings.address is not None:
        check_address(settings.address)
    ray.init(settings.address, **init_kwargs(settings))


def task_runner(settings: RaySettings) -> Any:
    """prefect-ray's RayTaskRunner for the ingestion flow: it connects for the flow run (a local cluster
    started for it is stopped after), with the address checked first."""
    from prefect_ray import RayTaskRunner

    if settings.address is not None:
        check_address(settings.address)
    return RayTaskRunner(address=settings.address, init_kwargs=init_kwargs(settings))


def embedder_spec(embedder: Embedder) -> dict[str, Any]:
    """What a worker needs to build the run's embedder (no cache: that is the driver's SQLite file)."""
    return {
        "model_dir": embedder.model_dir,
        "device": embedder.device,
        "backend": embedder.backend,
        "batch_size": embedder.batch_size,
        "export_dir": embedder.export_dir,
    }


class RayRunner:
    """Score in partitions over Ray tasks and embed over a Ray Data actor pool (the module says how)."""

    name = "ray"

    def __init__(self, settings: Settings) -> None:
        self.options = settings.ray  # the [ray] section: address, partitions, actors

    def score(
        self,
        docs: Sequence[Document],
        scorers: Sequence[Scorer],
        kept: scoring.Scores,
        *,
        build: ScorerBuilder,
        embedder: Embedder,
        st: StageHandle,
        failures: dict[str, QuarantineRecord] | None = None,  # unused on Ray: a scorer's error fails the run
    ) -> tuple[scoring.Scores, dict[str, float]]:
        connect(self.options)
        everywhere = [s for s in scorers if isinstance(s, GLOBAL_SCORERS)]
        gpus = 1 if embedder.device == "cuda" else 0  # the relevance scorer embeds each document
        spec, builder = ray.put(embedder_spec(embedder)), ray.put(build)  # once into the object store
        refs = []
        for part in partitions(len(docs), self.options.partitions):
            mine = [docs[i] for i in part]
            mine_kept = {d.doc_id: kept[d.doc_id] for d in mine if d.doc_id in kept}
            refs.append(_score_partition.options(num_gpus=gpus).remote(builder, spec, mine, mine_kept))
        merged, seconds = scoring.score_documents(docs, everywhere, kept)  # while the partitions run
        worker_cpu = worker_wall = 0.0
        for part_scores, part_seconds, cpu_s, wall_s in ray.get(refs):
            for doc_id, results in part_scores.items():
                merged[doc_id] |= results
            for name, sec in part_seconds.items():
                seconds[name] = seconds.get(name, 0.0) + sec
            worker_cpu, worker_wall = worker_cpu + cpu_s, worker_wall + wall_s
        order = [s.name for s in scorers]  # the local run's order of scorers in each document's scores
        scores = {i: {name: results[name] for name in order} for i, results in merged.items()}
        st.note(ray_partitions=len(refs), ray_worker_cpu_s=round(worker_cpu, 3),
                ray_worker_wall_s=round(worker_wall, 3), ray_nodes=_alive_nodes())  # fmt: skip
        return scores, {name: seconds[name] for name in order}

    def embed(self, nodes: list[TextNode], embedder: Embedder, *, st: StageHandle) -> None:
        connect(self.options)
        encoded = {"texts": 0, "cpu_s": 0.0}

        def on_actors(texts: list[str]) -> np.ndarray:  # the texts the embedding cache lacks
            vectors, cpu_s = self._encode(texts, embedder)
            encoded["texts"] += len(texts)
            encoded["cpu_s"] += cpu_s
            return vectors

        vectors = embedder.embed([n.text for n in nodes], encode=on_actors)
        for node, vector in zip(nodes, vectors, strict=True):
            node.embedding = vector.tolist()
        st.note(ray_embed_actors=self._actors(embedder), ray_texts_encoded=int(encoded["texts"]),
                ray_worker_cpu_s=round(encoded["cpu_s"], 3))  # fmt: skip

    def _actors(self, embedder: Embedder) -> int:
        if embedder.device != "cuda":
            return self.options.embed_actors
        return max(1, min(self.options.embed_actors, int(ray.cluster_resources().get("GPU", 0))))

    def _encode(self, texts: list[str], embedder: Embedder) -> tuple[np.ndarray, float]:
        """The vectors of `texts` in their order, and the actors' CPU seconds."""
        dataset = ray.data.from_items([{"row": i, "text": t} for i, t in enumerate(texts)])
        gpu = embedder.device == "cuda"
        out = dataset.map_batches(
            EmbedActor,
            fn_constructor_kwargs={"spec": embedder_spec(embedder)},
            batch_size=embedder.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self._actors(embedder)),
            num_gpus=1 if gpu else 0,
            num_cpus=1,
        )
        rows, parts, cpu_s = [], [], 0.0
        for batch in out.iter_batches(batch_size=None, batch_format="numpy"):
            rows.append(batch["row"])
            parts.append(batch["vector"])
            cpu_s += float(batch["cpu_s"].sum())
        if not parts:
            return np.zeros((0, embedder.dimension), "float32"), 0.0
        order = np.argsort(np.concatenate(rows), kind="stable")
        return np.concatenate(parts).astype("float32", copy=False)[order], cpu_s


class EmbedActor:
    """One embedding model per actor, loaded once; `cpu_s` carries the CPU seconds since the last batch
    (the first batch's include the model load), spread over its rows."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.embedder = Embedder(**spec)
        self.embedder.encode(["warm-up"])  # loads the model here, not inside the first batch's timing
        self.cpu_mark = 0.0  # process CPU since the worker started: Ray's start-up and the model load

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.embedder.encode([str(t) for t in batch["text"]])
        now = time.process_time()
        spent, self.cpu_mark = now - self.cpu_mark, now
        return {"row": batch["row"], "vector": vectors, "cpu_s": np.full(len(vectors), spent / len(vectors))}


@ray.remote
def _score_partition(
    build: ScorerBuilder, spec: dict[str, Any], docs: list[Document], kept: scoring.Scores
) -> tuple[scoring.Scores, dict[str, float], float, float]:
    """One partition through the run's per-document scorers, built here; with the task's CPU and wall."""
    cpu, wall = time.process_time(), time.perf_counter()
    scorers = [s for s in build(Embedder(**spec)) if not isinstance(s, GLOBAL_SCORERS)]
    scores, seconds = scoring.score_documents(docs, scorers, kept)
    return scores, seconds, time.process_time() - cpu, time.perf_counter() - wall


def _alive_nodes() -> int:
    return sum(1 for node in ray.nodes() if node.get("Alive"))
