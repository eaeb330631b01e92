"""Sizing storage from a measured I/O profile (`vetted io plan`); README "Sizing storage" works an example.

Pipeline stages. A profile measured on N0 documents gives each stage's bytes read (rchar, plus one page per
major fault: mmap reads skip rchar) and written (wchar), and its wall time on one worker. At D documents on
W = nodes x gpus-per-node workers, each X times faster than the measuring machine, a stage moves
bytes x D / N0 and, bound by compute, takes wall x D / N0 / (W x X); the bandwidth it asks for is its bytes
over that time. Storage delivers at most B in aggregate, shared by reads and writes: a stage whose bytes take
longer than its compute at B is storage-bound, and lasts bytes / B instead. Capacity is what the stages
write.

Checkpoints. P parameters at b bytes each (weights plus optimizer state: 14 B for bf16 weights with fp32
master weights and two Adam moments) make C = P x b bytes, written by every node at once: at B a save takes
delta = C / B, and a synchronous save stalls training for all of it. Node failures are independent and
exponential with mean m hours, so the job fails every M = m / nodes hours on average. Checkpoint every tau:
Young (1974) tau = sqrt(2 delta M); Daly (2006) tau = sqrt(2 delta M) [1 + sqrt(delta / 2M) / 3
+ delta / 18M] - delta for delta < 2M, else M. The stall share is delta / (tau + delta). The bandwidth that
holds it under a target is found by bisection on delta with Daly's tau. When tau is at least the run length,
no intermediate checkpoint is needed: save only the final one. An asynchronous save (snapshot to host memory,
persist in the background) stalls only for the snapshot; storage then needs C / tau to finish each persist
before the next begins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

PAGE_BYTES = 4096  # one major fault reads at least a page
GB = 1e9  # storage is sold in decimal units: GB and GB/s here are 10**9
DEFAULT_MTBF_NODE_HOURS = 6000.0  # Llama 3 (Meta 2024): 419 unexpected stops in 54 days on 2,048 8-GPU nodes
DEFAULT_CHECKPOINT_BYTES_PER_PARAM = 14.0  # bf16 weights 2 + fp32 master 4 + Adam m 4 + v 4


@dataclass(frozen=True, slots=True)
class Target:
    documents: int
    nodes: int
    gpus_per_node: int
    model_params: float
    run_hours: float
    storage_GBps: float  # aggregate bandwidth the storage delivers, decimal GB/s
    stall_target: float = 0.05  # share of wall time checkpoint saves may stall training
    mtbf_node_hours: float = DEFAULT_MTBF_NODE_HOURS
    checkpoint_bytes_per_param: float = DEFAULT_CHECKPOINT_BYTES_PER_PARAM
    worker_speedup: float = 1.0  # how much faster one target worker runs a stage than the measuring machine
    keep_checkpoints: int = 2  # the last good one, plus the one being written

    def __post_init__(self) -> None:
        positive = ("documents", "nodes", "gpus_per_node", "model_params", "run_hours", "storage_GBps")
        for name in positive + ("mtbf_node_hours", "checkpoint_bytes_per_param", "worker_speedup"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 < self.stall_target < 1:
            raise ValueError(f"stall_target is a share of wall time in (0, 1), got {self.stall_target}")

    @property
    def workers(self) -> int:
        return self.nodes * self.gpus_per_node

    def checkpoint_target(self) -> CheckpointTarget:
        return CheckpointTarget(
            nodes=self.nodes, gpus_per_node=self.gpus_per_node, model_params=self.model_params,
            run_hours=self.run_hours, storage_GBps=self.storage_GBps, stall_target=self.stall_target,
            mtbf_node_hours=self.mtbf_node_hours, checkpoint_bytes_per_param=self.checkpoint_bytes_per_param,
        )


@dataclass(frozen=True, slots=True)
class StagePlan:
    stage: str
    read_GB: float
    write_GB: float
    demand_read_GBps: float  # what the stage asks for when compute sets the pace
    demand_write_GBps: float
    compute_hours: float
    storage_hours: float  # the stage's bytes at the storage bandwidth

    @property
    def bound(self) -> str:
        return "storage" if self.storage_hours > self.compute_hours else "compute"

    @property
    def hours(self) -> float:
        return max(self.compute_hours, self.storage_hours)


# MLPerf Storage v1.0's checkpointing workload: the checkpoint sizes it writes for its Llama 3 models
# (weights + optimizer state as the reference implementation lays them out). Where a plan's model matches one
# of these within 5%, its size is used instead of params x bytes-per-param.
MLPERF_CHECKPOINT_GB = {8e9: 105.0, 70e9: 912.0, 405e9: 5290.0}
DEFAULT_SNAPSHOT_GBPS_PER_NODE = 10.0  # device to pinned host memory, one node: well under PCIe 5 x16's 64


@dataclass(frozen=True, slots=True)
class CheckpointTarget:
    """What the checkpoint interval depends on: the job's size, its model, its run and its storage."""

    nodes: int
    gpus_per_node: int
    model_params: float
    run_hours: float
    storage_GBps: float
    stall_target: float = 0.05
    mtbf_node_hours: float = DEFAULT_MTBF_NODE_HOURS
    checkpoint_bytes_per_param: float | None = None  # None: MLPerf Storage's size where it has one, else 14
    async_save: bool = False  # snapshot to host memory, then persist in the background
    snapshot_GBps_per_node: float = DEFAULT_SNAPSHOT_GBPS_PER_NODE

    def __post_init__(self) -> None:
        for name in ("nodes", "gpus_per_node", "model_params", "run_hours", "storage_GBps", "mtbf_node_hours",
                     "snapshot_GBps_per_node"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.checkpoint_bytes_per_param is not None and self.checkpoint_bytes_per_param <= 0:
            raise ValueError(f"checkpoint_bytes_per_param must be > 0, got {self.checkpoint_bytes_per_param}")
        if not 0 < self.stall_target < 1:
            raise ValueError(f"stall_target is a share of wall time in (0, 1), got {self.stall_target}")

    def size(self) -> tuple[float, str]:
        """Checkpoint bytes and where the figure comes from."""
        per_param = self.checkpoint_bytes_per_param
        if per_param is None:
            for params, gb in MLPERF_CHECKPOINT_GB.items():
                if abs(self.model_params - params) <= 0.05 * params:
                    return gb * GB, f"MLPerf Storage's checkpoint of Llama 3 {params / 1e9:g}B"
            per_param = DEFAULT_CHECKPOINT_BYTES_PER_PARAM
        return self.model_params * per_param, f"{self.model_params:,.0f} parameters x {per_param:g} B"


@dataclass(frozen=True, slots=True)
class CheckpointPlan:
    size_GB: float
    size_source: str
    save_s: float  # delta: one synchronous save at the storage bandwidth (the persist, when async)
    stall_s: float  # what one save stops training for: the save (sync) or the snapshot (async)
    job_mtbf_hours: float
    expected_failures: float
    young_interval_s: float
    daly_interval_s: float
    interval_s: float  # the one to use: Daly's, and never shorter than a persist when async
    stall_share: float  # at that interval
    work_lost_per_failure_s: float  # half an interval, plus the save that was not finished
    needed_GBps: float  # sync: to keep the stall share at the target; async: to persist within the interval
    async_persist_GBps: float  # asynchronous save: persist C within each interval
    async_save: bool
    intermediate_needed: bool


@dataclass(frozen=True, slots=True)
class Plan:
    target: Target
    profile_run: str
    profile_documents: int
    stages: list[StagePlan]
    checkpoint: CheckpointPlan

    @property
    def pipeline_capacity_GB(self) -> float:
        return sum(s.write_GB for s in self.stages)

    @property
    def checkpoint_capacity_GB(self) -> float:
        return self.checkpoint.size_GB * self.target.keep_checkpoints


def young_interval_s(save_s: float, mtbf_s: float) -> float:
    """Young 1974: the first-order optimum sqrt(2 delta M)."""
    return math.sqrt(2 * save_s * mtbf_s)


def daly_interval_s(save_s: float, mtbf_s: float) -> float:
    """Daly 2006, eq. 37: Young's interval with higher-order terms; M itself once delta reaches 2M."""
    if save_s >= 2 * mtbf_s:
        return mtbf_s
    x = save_s / (2 * mtbf_s)
    return math.sqrt(2 * save_s * mtbf_s) * (1 + math.sqrt(x) / 3 + x / 9) - save_s


def stall_share(save_s: float, interval_s: float) -> float:
    return save_s / (interval_s + save_s)


def save_time_for_stall(mtbf_s: float, target: float) -> float:
    """The longest save (delta) whose stall share at Daly's interval stays at `target` (bisection)."""
    low, high = 0.0, 1.0
    while stall_share(high, daly_interval_s(high, mtbf_s)) < target:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        if stall_share(mid, daly_interval_s(mid, mtbf_s)) < target:
            low = mid
        else:
            high = mid
    return low


def checkpoint_plan(target: CheckpointTarget | Target) -> CheckpointPlan:
    if isinstance(target, Target):
        target = target.checkpoint_target()
    size, source = target.size()
    save_s = size / (target.storage_GBps * GB)
    mtbf_s = target.mtbf_node_hours * 3600 / target.nodes
    run_s = target.run_hours * 3600
    if target.async_save:
        # every node snapshots its shard at once; the persist then overlaps training
        stall = size / target.nodes / (target.snapshot_GBps_per_node * GB)
        daly = daly_interval_s(stall, mtbf_s)
        interval = max(daly, save_s)  # one persist in flight at a time
        needed = size / daly / GB
        lost = interval / 2 + save_s  # a failure during a persist falls back one more checkpoint
    else:
        stall = save_s
        daly = daly_interval_s(save_s, mtbf_s)
        interval = daly
        needed = size / save_time_for_stall(mtbf_s, target.stall_target) / GB
        lost = interval / 2 + save_s / 2
    needed_at_all = interval < run_s
    return CheckpointPlan(
        size_GB=size / GB,
        size_source=source,
        save_s=save_s,
        stall_s=stall,
        job_mtbf_hours=mtbf_s / 3600,
        expected_failures=run_s / mtbf_s,
        young_interval_s=young_interval_s(stall, mtbf_s),
        daly_interval_s=daly,
        interval_s=interval,
        stall_share=stall_share(stall, interval) if needed_at_all else 0.0,
        work_lost_per_failure_s=lost if needed_at_all else run_s / 2,
        needed_GBps=needed,
        async_persist_GBps=size / daly / GB,
        async_save=target.async_save,
        intermediate_needed=needed_at_all,
    )


def format_checkpoint_plan(t: CheckpointTarget, c: CheckpointPlan) -> str:
    """What `vetted checkpoint plan` prints."""
    mode = "asynchronous (snapshot, then background persist)" if c.async_save else "synchronous"
    nodes = f"{t.nodes:,} node{'s' if t.nodes != 1 else ''}"
    lines = [
        f"Checkpoint plan: {nodes} x {t.gpus_per_node} GPUs, {t.model_params / 1e9:g}B parameters, "
        f"{t.run_hours:g} h run, storage {t.storage_GBps:,g} GB/s, {mode} saves",
        f"  checkpoint size: {_num(c.size_GB)} GB ({c.size_source})",
        f"  one save at {t.storage_GBps:,g} GB/s: {_duration(c.save_s)}; "
        f"training stalls {_duration(c.stall_s)} a save",
        f"  job MTBF: {t.mtbf_node_hours:,g} node-hours / {nodes} = {_duration(c.job_mtbf_hours * 3600)}; "
        f"expected failures in the run: {_num(c.expected_failures)}",
    ]
    if not c.intermediate_needed:
        lines.append(
            f"  no intermediate checkpoint needed: the optimal interval ({_duration(c.interval_s)}) is "
            f"longer than the run; save only the final one (a failure costs on average half the run, "
            f"{_duration(c.work_lost_per_failure_s)}, with probability "
            f"{1 - math.exp(-c.expected_failures):.1%})"
        )
        return "\n".join(lines)
    lines += [
        f"  interval: every {_duration(c.interval_s)} (Young {_duration(c.young_interval_s)}, "
        f"Daly {_duration(c.daly_interval_s)})",
        f"  stall share: {c.stall_share:.2%} of wall time; work lost per failure: "
        f"{_duration(c.work_lost_per_failure_s)}",
    ]
    if c.async_save:
        lines.append(f"  storage must persist {_num(c.size_GB)} GB within each interval: at least "
                     f"{_num(c.needed_GBps)} GB/s")
    else:
        held = "met" if c.stall_share <= t.stall_target else "NOT met"
        lines.append(f"  to keep the stall under {t.stall_target:.1%}: at least {_num(c.needed_GBps)} GB/s "
                     f"({held} at {t.storage_GBps:,g} GB/s)")
    return "\n".join(lines)


def profile_documents(profile: dict[str, Any]) -> int:
    """Documents the profile measured: the first stage's items in (the load stage reads every input)."""
    stages = profile.get("stages", [])
    count = int(stages[0].get("items_in", 0)) if stages else 0
    if count <= 0:
        raise ValueError("the profile's first stage has no items_in: pass --profile-documents")
    return count


def stage_plans(profile: dict[str, Any], target: Target, documents_measured: int) -> list[StagePlan]:
    scale = target.documents / documents_measured
    pace = target.workers * target.worker_speedup
    out = []
    for s in profile["stages"]:
        read = (s["rchar"] + s["major_faults"] * PAGE_BYTES) * scale
        write = s["wchar"] * scale
        compute_s = s["wall_s"] * scale / pace
        out.append(
            StagePlan(
                stage=s["stage"],
                read_GB=read / GB,
                write_GB=write / GB,
                demand_read_GBps=read / GB / compute_s if compute_s else 0.0,
                demand_write_GBps=write / GB / compute_s if compute_s else 0.0,
                compute_hours=compute_s / 3600,
                storage_hours=(read + write) / (target.storage_GBps * GB) / 3600,
            )
        )
    return out


def plan(profile: dict[str, Any], target: Target, *, documents_measured: int | None = None) -> Plan:
    measured = documents_measured or profile_documents(profile)
    return Plan(
        target=target,
        profile_run=str(profile.get("run_id", "?")),
        profile_documents=measured,
        stages=stage_plans(profile, target, measured),
        checkpoint=checkpoint_plan(target.checkpoint_target()),
    )


def _num(x: float) -> str:
    """3 significant digits, thousands separated, never an exponent for a person to decode."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{_num(seconds / size)} {unit}"
    return f"{seconds:.3g} s"


def format_plan(p: Plan) -> str:
    """The plan as the text `vetted io plan` prints."""
    t, c = p.target, p.checkpoint
    lines = [
        f"Storage plan: {t.documents:,} documents on {t.nodes:,} nodes x {t.gpus_per_node} GPUs "
        f"({t.workers:,} workers, each {t.worker_speedup:g}x the measuring machine); "
        f"storage {t.storage_GBps:,g} GB/s",
        f"Measured: run {p.profile_run}, {p.profile_documents:,} documents (bytes and times scaled "
        f"x{_num(t.documents / p.profile_documents)})",
        "",
        f"{'stage':<22}{'read GB':>12}{'write GB':>12}{'read GB/s':>12}{'write GB/s':>12}"
        f"{'compute':>11}{'at storage':>12}  bound",
    ]
    for s in p.stages:
        lines.append(
            f"{s.stage:<22}{_num(s.read_GB):>12}{_num(s.write_GB):>12}{_num(s.demand_read_GBps):>12}"
            f"{_num(s.demand_write_GBps):>12}{_duration(s.compute_hours * 3600):>11}"
            f"{_duration(s.storage_hours * 3600):>12}  {s.bound}"
        )
    read, write = sum(s.read_GB for s in p.stages), sum(s.write_GB for s in p.stages)
    hours = sum(s.hours for s in p.stages)
    lines += [
        f"{'total':<22}{_num(read):>12}{_num(write):>12}{'':>46}{_duration(hours * 3600):>12}",
        "(read/write GB/s: what each stage asks for when compute sets the pace; bound: which one sets it)",
        "",
        f"Capacity: pipeline writes {_num(p.pipeline_capacity_GB)} GB; checkpoints {t.keep_checkpoints} x "
        f"{_num(c.size_GB)} GB = {_num(p.checkpoint_capacity_GB)} GB",
        "",
        f"Checkpoint: {t.model_params:,.0f} parameters x {t.checkpoint_bytes_per_param:g} B = "
        f"{_num(c.size_GB)} GB; one save at {t.storage_GBps:,g} GB/s takes {_duration(c.save_s)}",
        f"  job MTBF {t.mtbf_node_hours:,g} node-hours / {t.nodes:,} nodes = "
        f"{_duration(c.job_mtbf_hours * 3600)}; expected failures in {t.run_hours:g} h: "
        f"{_num(c.expected_failures)}",
    ]
    if not c.intermediate_needed:
        lines.append(
            f"  no intermediate checkpoint needed: the optimal interval ({_duration(c.daly_interval_s)}) "
            "is longer than the run; save only the final one"
        )
        return "\n".join(lines)
    lines += [
        f"  interval: Young {_duration(c.young_interval_s)}, Daly {_duration(c.daly_interval_s)}; "
        f"synchronous saves stall training {c.stall_share:.2%} of the time",
        f"  to keep the stall under {t.stall_target:.1%}: at least {_num(c.needed_GBps)} GB/s "
        f"({'met' if c.stall_share <= t.stall_target else 'NOT met'} at {t.storage_GBps:,g} GB/s)",
        f"  asynchronous saves stall only for the snapshot to host memory; storage then needs "
        f"{_num(c.async_persist_GBps)} GB/s to finish each persist within the interval",
    ]
    return "\n".join(lines)
