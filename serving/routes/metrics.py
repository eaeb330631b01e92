"""GET /metrics: the chat service's request and answer metrics (serving.telemetry), then the latest run's I/O
profile as gauges, in Prometheus' text format (prometheus_client)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from pipelines.observability.metrics import CONTENT_TYPE, render_metrics
from pipelines.observability.profiler import latest_profile, load_profile
from serving.auth import StewardUser

router = APIRouter(tags=["metrics"])


def get_work_dir(request: Request) -> Path:
    """app.state.work_dir when whoever built the app set it; otherwise the chat service's work folder."""
    work_dir = getattr(request.app.state, "work_dir", None) or request.app.state.service.retriever.work_dir
    return Path(work_dir)


WorkDir = Annotated[Path, Depends(get_work_dir)]


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
def metrics(request: Request, work_dir: WorkDir, _: StewardUser) -> Response:  # stewards: it shows the corpus
    serving = request.app.state.metrics
    engine_up = request.app.state.service.engine_up
    if engine_up is not None:
        serving.engine_up.set(1 if engine_up() else 0)
    path = latest_profile(work_dir)
    io = render_metrics(load_profile(path) if path else None)
    return Response(serving.render() + io, media_type=CONTENT_TYPE)
