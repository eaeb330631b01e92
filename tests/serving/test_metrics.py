"""GET /metrics: the latest run's I/O profile as Prometheus text that a Prometheus parser reads back."""

from __future__ import annotations

import os
from types import SimpleNamespace

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from pipelines.observability.fsio import atomic_write_bytes
from pipelines.observability.metrics import render_metrics
from pipelines.observability.profiler import (
    PROFILE_FILE,
    RunProfile,
    latest_profile,
    load_profile,
    new_run_dir,
)
from serving.main import create_app

MB = 2**20


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _run(work_dir) -> str:
    run_id, run_dir = new_run_dir(work_dir)
    profile = RunProfile(run_id)
    with profile.stage("write") as st:
        atomic_write_bytes(run_dir / "data.bin", os.urandom(2 * MB), recorder=st.io)
        st.items(items_in=1, items_out=1)
    profile.write(run_dir / PROFILE_FILE)
    return run_id


def test_metrics_render_every_stage_gauge(tmp_path):
    run_id = _run(tmp_path)
    samples = _samples(render_metrics(load_profile(latest_profile(tmp_path))).decode())
    labels = (("direction", "write"), ("layer", "logical"), ("run_id", run_id), ("stage", "write"))
    assert samples[("vetted_io_stage_bytes", labels)] >= 2 * MB
    assert samples[("vetted_io_stage_fsyncs", (("run_id", run_id), ("stage", "write")))] == 2
    assert samples[("vetted_io_profile_present", ())] == 1


def test_metrics_without_any_run_say_so():
    assert _samples(render_metrics(None).decode()) == {("vetted_io_profile_present", ()): 0.0}


def test_the_app_serves_the_latest_run(tmp_path):
    _run(tmp_path)
    latest = _run(tmp_path)
    # the route asks only this
    service = SimpleNamespace(
        retriever=SimpleNamespace(work_dir=tmp_path), llm=SimpleNamespace(model="m"), engine_up=None
    )
    client = TestClient(create_app(service, steward_token="metrics-test-token-123"))  # type: ignore[arg-type]
    assert client.get("/metrics").status_code == 401  # what the corpus holds is for stewards
    reply = client.get("/metrics", headers={"Authorization": "Bearer metrics-test-token-123"})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    samples = _samples(reply.text)
    runs = {dict(labels).get("run_id") for (name, labels) in samples if name.endswith("_seconds")}
    assert runs == {latest}
