"""Profiler overhead: the same real stage with the stage profiler on and off.

    .venv/bin/python -m eval.bench.profiler_overhead              # the test corpus, 5 runs per side
    .venv/bin/python -m eval.bench.profiler_overhead --reps 9 --corpus DIR --json out.json

Two real stages over a corpus: `load_score` reads every file through the connectors and quality-scores every
document (CPU-bound parsing), `write` writes every document durably through pipelines.observability.fsio
(fsync-bound). Profiled, each stage hands its recorder (`st.io`) to the writes, as the flows do; bare, it
hands None. Each run is a fresh child process, alternating off and on: the profiler installs a process-wide
audit hook that cannot be removed, so a bare run must never share a process with a profiled one. Every child
runs the stages once to warm the page cache and the interpreter, then times them `--inner` times; the figure
per side is the median. The target is an overhead of at most 2 % of wall time. The fixed cost of one empty
stage (snapshots, child sampler thread) is printed too: it is what a very short stage pays.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.observability.recorder import IoRecorder

REPO = Path(__file__).resolve().parents[2]
TARGET_OVERHEAD = 0.02


Stage = Callable[["IoRecorder | None"], None]


def _stages(corpus: Path, out_dir: Path) -> dict[str, Stage]:
    """The work itself, as plain functions in run order; each takes the recorder its writes go to."""
    from curation.connectors import FolderConnector
    from curation.models import Document
    from curation.scorers.quality import QualityScorer
    from curation.sources import load_registry
    from pipelines.observability.fsio import atomic_write_json

    registry = load_registry(REPO / "sources.toml")
    state: dict[str, list[Document]] = {}

    def load_score(recorder: IoRecorder | None) -> None:
        connector = FolderConnector(corpus, registry, max_file_bytes=64 * 2**20)
        docs = [d for d in connector if isinstance(d, Document)]
        QualityScorer().score_many(docs)
        state["docs"] = docs

    def write(recorder: IoRecorder | None) -> None:
        for n, doc in enumerate(state["docs"]):
            atomic_write_json(out_dir / f"{n}.json", {"id": doc.doc_id, "text": doc.text}, recorder=recorder)

    return {"load_score": load_score, "write": write}


def child(corpus: Path, profiled: bool, inner: int) -> dict[str, list[float]]:
    """One process: warm up, then time each stage `inner` times, inside the profiler or bare. Wall and CPU
    seconds (all threads: the profiler's sampler thread counts) are kept as `<stage>` and `<stage>.cpu`."""
    from pipelines.observability.profiler import RunProfile

    profile = RunProfile("bench")
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="vetted-bench-") as tmp:
        stages = _stages(corpus, Path(tmp))
        for rep in range(inner + 1):
            for name, run in stages.items():
                start, cpu = time.perf_counter(), time.process_time()
                if profiled:
                    with profile.stage(name) as st:
                        run(st.io)
                else:
                    run(None)
                if rep:  # the first round warms caches and is not counted
                    times.setdefault(name, []).append(time.perf_counter() - start)
                    times.setdefault(f"{name}.cpu", []).append(time.process_time() - cpu)
    return times


def hook_cost(corpus: Path) -> dict[str, float]:
    """In a bare process: the audit events each stage raises, and what the files-opened hook adds to each."""
    from pipelines.observability.recorder import IoRecorder, activate

    def audit_loop(n: int = 200_000) -> float:
        start = time.perf_counter()
        for _ in range(n):
            sys.audit("vetted.bench")
        return (time.perf_counter() - start) / n

    with tempfile.TemporaryDirectory(prefix="vetted-bench-") as tmp:
        stages = _stages(corpus, Path(tmp))
        for run in stages.values():
            run(None)  # warm, as the timed runs are
        bare = audit_loop()
        with activate(IoRecorder()):  # installs the profiler's hook, with a recorder active as in a stage
            per_event = audit_loop() - bare
        events: dict[str, float] = {}
        counting = {"n": 0}
        sys.addaudithook(lambda event, args: counting.__setitem__("n", counting["n"] + 1))
        for name, run in stages.items():
            counting["n"] = 0
            run(None)
            events[name] = counting["n"]
    return {"per_event_s": per_event} | {f"{name}.events": n for name, n in events.items()}


def empty_stage_cost(n: int = 200) -> float:
    from pipelines.observability.profiler import RunProfile

    profile = RunProfile("bench")
    start = time.perf_counter()
    for _ in range(n):
        with profile.stage("empty"):
            pass
    return (time.perf_counter() - start) / n


def summarise(samples: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    """Median per stage and clock, the overhead, and the spread that tells how far to trust it."""
    stages: dict[str, dict[str, float]] = {}
    for name, off_times in samples["off"].items():
        off, on = statistics.median(off_times), statistics.median(samples["on"][name])
        stages[name] = {
            "off_s": off,
            "on_s": on,
            "overhead": on / off - 1,
            "spread_off": (max(off_times) - min(off_times)) / off,
            "spread_on": (max(samples["on"][name]) - min(samples["on"][name])) / on,
        }
    out: dict[str, Any] = {"stages": stages}
    for clock, keep in (("wall", lambda n: not n.endswith(".cpu")), ("cpu", lambda n: n.endswith(".cpu"))):
        off = sum(r["off_s"] for n, r in stages.items() if keep(n))
        on = sum(r["on_s"] for n, r in stages.items() if keep(n))
        out[f"total_{clock}"] = {"off_s": off, "on_s": on, "overhead": on / off - 1}
    return out


def _run_child(mode: str, corpus: Path, inner: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "eval.bench.profiler_overhead", "--child", mode]
    cmd += ["--corpus", str(corpus), "--inner", str(inner)]
    out = subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def accounted_cost(wall_off: dict[str, float], hooks: dict[str, float]) -> dict[str, dict[str, float]]:
    """The profiler's own work per stage, from its parts (steadier than a difference of two busy clocks):
    one enter/exit (snapshots, sampler thread), the child sampler every CHILD_SAMPLE_S, the audit hook."""
    from pipelines.observability.counters import CHILD_SAMPLE_S, children_io

    fixed = empty_stage_cost()
    start = time.perf_counter()
    for _ in range(1000):
        children_io()
    per_sample = (time.perf_counter() - start) / 1000
    out = {}
    for name, wall in wall_off.items():
        cost = fixed + per_sample * wall / CHILD_SAMPLE_S + hooks[f"{name}.events"] * hooks["per_event_s"]
        out[name] = {"cost_s": cost, "share": cost / wall}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, help="corpus folder (default: the test corpus)")
    parser.add_argument("--reps", type=int, default=5, help="child processes per side (default 5)")
    parser.add_argument("--inner", type=int, default=2, help="timed runs per child (default 2)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", choices=["on", "off", "hooks"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child == "hooks":
        print(json.dumps(hook_cost(args.corpus)))
        return 0
    if args.child:
        print(json.dumps(child(args.corpus, args.child == "on", args.inner)))
        return 0

    from eval.machine import describe, machine
    from pipelines.fixtures.build import build_corpus

    corpus = args.corpus or build_corpus(REPO / ".cache" / "test-corpus", "test").out_dir
    load_before = os.getloadavg()  # other work on the machine widens the spread: say how busy it was
    samples: dict[str, dict[str, list[float]]] = {"off": {}, "on": {}}
    for rep in range(args.reps):
        for side in ("off", "on") if rep % 2 == 0 else ("on", "off"):
            for name, times in _run_child(side, corpus, args.inner).items():
                samples[side].setdefault(name, []).extend(times)

    info = machine() | {
        "corpus": str(corpus),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    result = summarise(samples) | {"machine": info, "runs_per_side": args.reps * args.inner}
    result["empty_stage_ms"] = empty_stage_cost() * 1e3
    hooks = _run_child("hooks", corpus, args.inner)
    wall_off = {n: r["off_s"] for n, r in result["stages"].items() if not n.endswith(".cpu")}
    result["accounted"] = accounted_cost(wall_off, hooks) | {"hooks": hooks}
    print(
        f"machine: {describe(info)}; load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print(
        f"{'stage':<12}{'clock':<6}{'off s':>9}{'on s':>9}{'overhead':>10}   spread off / on (max-min)/median"
    )
    for name, row in result["stages"].items():
        print(
            f"{name.split('.')[0]:<12}{'cpu' if name.endswith('.cpu') else 'wall':<6}{row['off_s']:>9.3f}"
            f"{row['on_s']:>9.3f}{row['overhead']:>+10.2%}   {row['spread_off']:.1%} / {row['spread_on']:.1%}"
        )
    for clock in ("wall", "cpu"):
        total = result[f"total_{clock}"]
        verdict = "within" if total["overhead"] <= TARGET_OVERHEAD else "OVER"
        print(f"total {clock}: {total['overhead']:+.2%} ({verdict} the {TARGET_OVERHEAD:.0%} target)")
    print(f"fixed cost of one empty profiled stage: {result['empty_stage_ms']:.2f} ms")
    for name in wall_off:
        row = result["accounted"][name]
        print(
            f"accounted cost of the profiler in {name}: {row['cost_s'] * 1e3:.2f} ms = {row['share']:.3%} of "
            f"wall ({hooks[name + '.events']:,.0f} audit events at {hooks['per_event_s'] * 1e9:.0f} ns)"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
