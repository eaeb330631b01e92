"""How long ingestion takes at a target scale, on 1, 8 or 64 GPUs, from the per-stage costs of a real run.

    vetted ingest --corpus DIR                       # the measurement: runs/<run>/io_profile.json
    vetted io scale --profile latest --documents 10M --gpus 1,8,64

The model, stage by stage (each stage's CPU seconds per item come from the profile):
- parallel on CPU cores (a Ray task per partition of documents): parse (load), the non-model scorers and
  chunking. Work / (GPUs x cores per GPU x worker speed-up).
- on GPUs (a Ray Data actor per GPU): the relevance scorer's one embedding per document head and one
  embedding per chunk, at `gpu_embeddings_per_s` per GPU. Not measured here (no GPU was lent to this
  project's machines): the default is issue 15's goal, 5,000 chunks/s on one GPU, a third of SBERT's 14,200
  sentences/s for MiniLM on a V100 (sentences are shorter than 256-token chunks). With no GPU, the profile's
  own CPU embedding rate, spread over the cores.
- global, on one process: duplicate detection (MinHash LSH must see every document: the profile's duplicate
  seconds per document) and the index build (training the IVF cells, adding every vector, writing the chunk
  rows): `index_build_s_per_million`, measured by `python -m eval.bench.scale` at 1M vectors (IVF4000,
  129 s on 2 cores; k-means with 4 x sqrt(N) lists and 40 samples a list grows about linearly in N). A small
  run's own index stage is fixed costs, so it is not scaled.
The stages run one after another, as the flow runs them, so the wall time is their sum; GPU-hours are the
GPUs held for that whole time, and the GPU share is the part of it the GPUs compute. What it leaves out:
reading the corpus from storage (`vetted io plan` sizes that), Ray's scheduling and object transfer, and
stragglers; treat the figures as a lower bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_GPU_EMBEDDINGS_PER_S = 5000.0  # issue 15's goal for one GPU; not measured here
DEFAULT_CORES_PER_GPU = 16  # the GPU machine this project is lent: 16 cores for its one H200
DEFAULT_INDEX_BUILD_S_PER_MILLION = 129.0  # eval.bench.scale, IVF4000 at 1M vectors, 2-core EPYC


@dataclass(slots=True, frozen=True)
class Costs:
    """Per-item CPU seconds measured by one run on this machine."""

    parse_s_per_doc: float
    score_s_per_doc: float  # the non-model scorers but duplicate
    duplicate_s_per_doc: float  # global: one LSH over every document
    relevance_s_per_doc: float  # one embedding of each document's head, on this machine's CPU
    chunk_s_per_chunk: float
    embed_s_per_chunk: float  # on this machine's CPU
    safe_share: float  # documents that reach chunking (the safe tier)
    chunks_per_safe_doc: float
    measured_documents: int


@dataclass(slots=True)
class ScalePlan:
    gpus: int
    wall_h: float
    stages_h: dict[str, float]
    gpu_hours: float  # GPUs held for the whole run
    gpu_busy_share: float  # of those, the part the GPUs compute
    cpu_core_hours: float
    bottleneck: str
    chunks: float


@dataclass(slots=True)
class ScaleTarget:
    documents: float
    gpus: Sequence[int]
    cores_per_gpu: int = DEFAULT_CORES_PER_GPU
    gpu_embeddings_per_s: float = DEFAULT_GPU_EMBEDDINGS_PER_S
    worker_speedup: float = 1.0  # one target core vs one core here
    index_build_s_per_million: float = DEFAULT_INDEX_BUILD_S_PER_MILLION
    cpu_cores: int = 2  # for gpus = 0: the cores of a CPU-only machine

    def __post_init__(self) -> None:
        if self.documents <= 0:
            raise ValueError("--documents must be positive")
        if not self.gpus or any(g < 0 for g in self.gpus):
            raise ValueError("--gpus takes counts >= 0, e.g. 1,8,64 (0 = CPU only)")
        if min(self.cores_per_gpu, self.cpu_cores) < 1 or self.gpu_embeddings_per_s <= 0:
            raise ValueError("cores and the GPU embedding rate must be positive")
        if self.worker_speedup <= 0 or self.index_build_s_per_million < 0:
            raise ValueError("--worker-speedup must be positive and the index training time >= 0")


def costs_from_profile(profile: Mapping[str, Any]) -> Costs:
    """Per-item costs from an ingestion run's io_profile.json (a run that indexed: it needs the chunk,
    embed and index stages and the score stage's per-scorer seconds)."""
    stages = {s["stage"]: s for s in profile.get("stages", [])}
    missing = [n for n in ("load", "score", "chunk", "embed", "index") if n not in stages]
    if missing:
        raise ValueError(
            f"the profile has no {', '.join(missing)} stage: measure a full curated run (`vetted ingest`)"
        )
    docs = int(stages["score"]["items_in"])
    chunks = int(stages["embed"]["items_in"])
    if docs < 1 or chunks < 1 or int(stages["chunk"]["items_in"]) < 1:
        raise ValueError("the profile's run scored or embedded nothing: measure a run over a real corpus")
    if stages["score"].get("extra", {}).get("rescored", docs) < docs:
        raise ValueError("the profile's run reused kept scores (incremental): measure a first run")
    extra = stages["score"].get("extra", {})
    scorer_s = {k[:-2]: float(v) for k, v in extra.items() if k.endswith("_s")}
    if "relevance" not in scorer_s:
        raise ValueError("the profile's score stage has no per-scorer seconds: measure it again")
    other = sum(v for k, v in scorer_s.items() if k not in ("relevance", "duplicate"))
    return Costs(
        parse_s_per_doc=float(stages["load"]["cpu_s"]) / max(int(stages["load"]["items_in"]), 1),
        score_s_per_doc=other / docs,
        duplicate_s_per_doc=scorer_s.get("duplicate", 0.0) / docs,
        relevance_s_per_doc=scorer_s["relevance"] / docs,
        chunk_s_per_chunk=float(stages["chunk"]["cpu_s"]) / chunks,
        embed_s_per_chunk=float(stages["embed"]["cpu_s"]) / chunks,
        safe_share=int(stages["chunk"]["items_in"]) / docs,
        chunks_per_safe_doc=chunks / int(stages["chunk"]["items_in"]),
        measured_documents=docs,
    )


def plan_scale(costs: Costs, target: ScaleTarget) -> list[ScalePlan]:
    """One plan per GPU count of the target."""
    n = target.documents
    chunks = n * costs.safe_share * costs.chunks_per_safe_doc
    out = []
    for gpus in target.gpus:
        cores = (gpus * target.cores_per_gpu if gpus else target.cpu_cores) * target.worker_speedup
        if gpus:
            embed_s = (n + chunks) / (gpus * target.gpu_embeddings_per_s)  # doc heads + chunks
            relevance_s, chunk_embed_s = n / (n + chunks) * embed_s, chunks / (n + chunks) * embed_s
        else:
            relevance_s = n * costs.relevance_s_per_doc / cores
            chunk_embed_s = chunks * costs.embed_s_per_chunk / cores
        stages = {
            "parse": n * costs.parse_s_per_doc / cores,
            "score (CPU scorers)": n * costs.score_s_per_doc / cores,
            "score (relevance embeddings)": relevance_s,
            "duplicates (global)": n * costs.duplicate_s_per_doc / target.worker_speedup,
            "chunk": chunks * costs.chunk_s_per_chunk / cores,
            "embed": chunk_embed_s,
            "index (global)": chunks / 1e6 * target.index_build_s_per_million / target.worker_speedup,
        }  # fmt: skip
        wall = sum(stages.values())
        gpu_busy = relevance_s + chunk_embed_s if gpus else 0.0
        cpu_parallel = sum(
            v for k, v in stages.items() if "global" not in k and (not gpus or "embed" not in k)
        )
        out.append(
            ScalePlan(
                gpus=gpus,
                wall_h=wall / 3600,
                stages_h={k: v / 3600 for k, v in stages.items()},
                gpu_hours=gpus * wall / 3600,
                gpu_busy_share=gpu_busy / wall if gpus and wall else 0.0,
                cpu_core_hours=cpu_parallel * cores / target.worker_speedup / 3600,
                bottleneck=max(stages, key=lambda k: stages[k]),
                chunks=chunks,
            )
        )
    return out


def format_scale(costs: Costs, target: ScaleTarget, plans: Sequence[ScalePlan]) -> str:
    lines = [
        f"measured on {costs.measured_documents:,} documents: {costs.safe_share:.0%} reach the index, "
        f"{costs.chunks_per_safe_doc:.1f} chunks each; target {target.documents:,.0f} documents "
        f"({plans[0].chunks:,.0f} chunks)",
        f"GPU embeddings/s per GPU: {target.gpu_embeddings_per_s:,.0f} (assumed); cores per GPU: "
        f"{target.cores_per_gpu}; worker speed-up vs here: {target.worker_speedup:g}",
        "",
        f"{'GPUs':>5} {'wall h':>8} {'GPU-h':>8} {'GPU busy':>9} {'core-h':>9}  slowest stage",
    ]
    for p in plans:
        lines.append(
            f"{p.gpus:>5} {p.wall_h:>8.2f} {p.gpu_hours:>8.1f} {p.gpu_busy_share:>9.0%} "
            f"{p.cpu_core_hours:>9.1f}  {p.bottleneck} ({p.stages_h[p.bottleneck]:.2f} h)"
        )
    lines += ["", "per stage, hours: " + ", ".join(plans[0].stages_h)]
    for p in plans:
        lines.append(f"{p.gpus:>5}: " + ", ".join(f"{v:.2f}" for v in p.stages_h.values()))
    return "\n".join(lines)


def as_dict(costs: Costs, plans: Sequence[ScalePlan]) -> dict[str, Any]:
    return {"costs": asdict(costs), "plans": [asdict(p) for p in plans]}
