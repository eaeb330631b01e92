"""GET /metrics: the latest run's I/O profile as Prometheus gauges (text format, via prometheus_client)."""

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
def metrics(work_dir: WorkDir, _: StewardUser) -> Response:  # stewards and admins: it shows the corpus
    path = latest_profile(work_dir)
    return Response(render_metrics(load_profile(path) if path else None), media_type=CONTENT_TYPE)
