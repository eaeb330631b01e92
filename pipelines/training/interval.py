"""How often to checkpoint, from one measured save: the one model of pipelines.observability.io_plan.

A save costs training its stall (the wait for the previous persist plus the snapshot to host memory; the
persist itself runs in the background). With the job's MTBF M (the device MTBF over the devices it runs on),
Daly (2006) gives the interval tau from delta = the stall; expected failures over the planned run are
run / M. When they are below `max_expected_failures`, or tau is at least the run, no intermediate checkpoint
is needed and only the final adapter is saved. A save is never planned closer than its persist takes, so
one is in flight at a time without training waiting for it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from pipelines.observability.io_plan import daly_interval_s, stall_share, young_interval_s
from pipelines.training.config import CheckpointSettings


@dataclass(frozen=True, slots=True)
class IntervalDecision:
    every_steps: int  # 0: no intermediate checkpoint
    reason: str
    stall_s: float
    persist_s: float
    step_s: float
    run_s: float
    job_mtbf_s: float
    expected_failures: float
    young_interval_s: float
    daly_interval_s: float
    stall_share: float  # at the chosen interval (0 without intermediate checkpoints)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide_interval(
    *, stall_s: float, persist_s: float, step_s: float, steps: int, settings: CheckpointSettings
) -> IntervalDecision:
    """The checkpoint interval in steps for a run of `steps` steps of `step_s` seconds each."""
    run_s = steps * step_s
    mtbf_s = settings.mtbf_device_hours * 3600 / settings.devices
    delta = max(stall_s, 1e-9)
    young, daly = young_interval_s(delta, mtbf_s), daly_interval_s(delta, mtbf_s)
    failures = run_s / mtbf_s
    figures = dict(stall_s=stall_s, persist_s=persist_s, step_s=step_s, run_s=run_s, job_mtbf_s=mtbf_s,
                   expected_failures=failures, young_interval_s=young, daly_interval_s=daly)
    if settings.every_steps > 0:
        every = settings.every_steps
        return IntervalDecision(every, f"every {every} steps, as configured (checkpoint.every_steps)",
                                stall_share=stall_share(stall_s, every * step_s), **figures)
    if failures < settings.max_expected_failures or daly >= run_s:
        reason = (f"no intermediate checkpoint needed: {failures:.2g} expected failures in the planned "
                  f"{run_s:.0f} s (threshold {settings.max_expected_failures}, Daly interval {daly:.0f} s); "
                  "only the final adapter is saved")
        return IntervalDecision(0, reason, stall_share=0.0, **figures)
    every = max(1, math.ceil(max(daly, persist_s) / step_s))
    reason = (f"every {every} steps ({every * step_s:.0f} s): Daly interval {daly:.0f} s for a "
              f"{stall_s:.3f} s "
              f"stall and a job MTBF of {mtbf_s / 3600:.0f} h, {failures:.2g} expected failures in the run")
    return IntervalDecision(every, reason, stall_share=stall_share(stall_s, every * step_s), **figures)
