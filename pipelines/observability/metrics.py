"""A run's I/O profile as Prometheus gauges (served at /metrics by serving.routes.metrics).

One gauge family per figure, labelled by run and stage, so a dashboard can chart the latest run's stages
side by side. The values are the run's totals, not live counters: Prometheus keeps the history as it
scrapes. A fresh registry per call keeps the process-wide default registry (and its process metrics) out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "vetted_io"

# (metric name, help, profile field, extra labels)
STAGE_GAUGES: tuple[tuple[str, str, str, dict[str, str]], ...] = (
    ("stage_wall_seconds", "Wall time of the stage", "wall_s", {}),
    ("stage_cpu_seconds", "CPU time of the stage, all threads and waited-for children", "cpu_s", {}),
    ("stage_bytes", "Bytes the stage read or wrote", "rchar", {"direction": "read", "layer": "logical"}),
    ("stage_bytes", "", "wchar", {"direction": "write", "layer": "logical"}),
    ("stage_bytes", "", "read_bytes", {"direction": "read", "layer": "device"}),
    ("stage_bytes", "", "write_bytes", {"direction": "write", "layer": "device"}),
    ("stage_syscalls", "Read and write system calls", "syscr", {"direction": "read"}),
    ("stage_syscalls", "", "syscw", {"direction": "write"}),
    ("stage_throughput_megabytes_per_second", "Logical MB/s", "read_MB_per_second", {"direction": "read"}),
    ("stage_throughput_megabytes_per_second", "", "write_MB_per_second", {"direction": "write"}),
    ("stage_fsyncs", "fsync calls through pipelines.observability.fsio", "fsync_count", {}),
    ("stage_fsync_seconds", "Time inside fsync", "fsync_s", {}),
    ("stage_major_faults", "Major page faults (mmap reads)", "major_faults", {}),
    ("stage_files_opened", "Files opened from Python code", "files_opened", {}),
    ("stage_io_wait_share", "Share of wall time waiting on I/O", "io_share", {}),
    ("stage_cpu_share", "CPU time over wall time", "cpu_share", {}),
    ("stage_items", "Items into and out of the stage", "items_in", {"kind": "in"}),
    ("stage_items", "", "items_out", {"kind": "out"}),
)


class ProfileCollector(Collector):
    def __init__(self, profile: dict[str, Any] | None) -> None:
        self.profile = profile

    def collect(self) -> Iterator[GaugeMetricFamily]:
        present = GaugeMetricFamily(f"{PREFIX}_profile_present", "1 when a run's I/O profile was found")
        present.add_metric([], 1.0 if self.profile else 0.0)
        yield present
        if not self.profile:
            return
        run = str(self.profile.get("run_id", ""))
        started = GaugeMetricFamily(
            f"{PREFIX}_run_started_timestamp_seconds", "When the run started", labels=["run_id"]
        )
        started.add_metric([run], float(self.profile.get("started_at", 0.0)))
        yield started
        families: dict[str, GaugeMetricFamily] = {}
        for name, help_text, key, extra in STAGE_GAUGES:
            family = families.get(name)
            if family is None:
                labels = ["run_id", "stage", *extra]
                family = families[name] = GaugeMetricFamily(f"{PREFIX}_{name}", help_text, labels=labels)
            for stage in self.profile.get("stages", []):
                family.add_metric([run, stage["stage"], *extra.values()], float(stage.get(key, 0.0)))
        yield from families.values()
        summary = self.profile.get("checkpoint_summary") or {}
        for key, value in summary.items():
            gauge = GaugeMetricFamily(f"{PREFIX}_{key}", f"DLIO {key} over the run", labels=["run_id"])
            gauge.add_metric([run], float(value))
            yield gauge


def render_metrics(profile: dict[str, Any] | None) -> bytes:
    """Prometheus text exposition of one profile (or only `vetted_io_profile_present 0`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ProfileCollector(profile))
    return generate_latest(registry)
