"""What the benchmarks share: the corpus they run on, median timing, and how they report."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.machine import describe, machine

REPO = Path(__file__).resolve().parents[2]
TODAY = "2026-11-26"  # ages measured against a fixed day, as the tests do, so tiers do not drift


def parser(doc: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, help="corpus folder (default: the test corpus, built if missing)")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions per side; the median is reported")
    p.add_argument("--json", type=Path, help="also write the result here")
    return p


def corpus(path: Path | None) -> Path:
    """The given corpus, or the test-size corpus under .cache/ (the one the test suite uses)."""
    if path is not None:
        return path.resolve()
    from pipelines.fixtures.build import build_corpus

    return build_corpus(REPO / ".cache" / "test-corpus", "test").out_dir.resolve()


def settings_for(work_dir: Path, corpus_dir: Path, **overrides: Any):  # type: ignore[no-untyped-def]
    """vetted.toml with the bench's work folder, corpus and fixed date, plus any dotted overrides."""
    from pipelines.core.settings import load_settings

    return load_settings(
        REPO / "vetted.toml",
        {
            "paths.work_dir": str(work_dir),
            "paths.corpus_dir": str(corpus_dir),
            "paths.sources_file": str(REPO / "sources.toml"),
            "paths.policy_file": str(REPO / "policy.toml"),
            "curation.today": TODAY,
            **overrides,
        },
    )


def median_seconds(fn: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass(slots=True)
class Timing:
    """Median wall and CPU seconds of one side. On a shared machine wall time swings with other processes'
    load; CPU time (this process, all its threads) is the steadier measure of the work itself."""

    wall_s: float
    cpu_s: float
    spread: float  # (max - min) / median of the wall times: the noise the comparison has to beat


def alternate(sides: Mapping[str, Callable[[], object]], reps: int) -> dict[str, Timing]:
    """Time each side `reps` times, interleaved run by run and in a rotating order, so load from other
    processes and any warm-cache advantage of going second fall on every side alike."""
    wall: dict[str, list[float]] = {name: [] for name in sides}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for rep in range(reps):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            start, start_cpu = time.perf_counter(), time.process_time()
            sides[name]()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {
        name: Timing(
            statistics.median(wall[name]),
            statistics.median(cpu[name]),
            (max(wall[name]) - min(wall[name])) / statistics.median(wall[name]),
        )
        for name in names
    }


def report(name: str, result: dict[str, Any], out: Path | None) -> dict[str, Any]:
    """Print the machine line and write the JSON; returns the result with the machine added."""
    info = machine()
    result = {"benchmark": name, "machine": info, **result}
    print(f"machine: {describe(info)}")
    if out is not None:
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"result: {out}")
    return result
