"""GET /healthz: the app is up, with the index build and the engine it answers from (and whether that
engine answers its health check, when a health watch runs)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from serving.deps import Service
from serving.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz(request: Request, service: Service) -> Health:
    service.retriever.refresh()  # name the build the next question will use, not the one the last used
    up = service.engine_up() if service.engine_up is not None else None
    return Health(
        status="degraded" if up is False else "ok", index_build=service.retriever.build.name,
        engine=str(service.llm.api_base), engine_up=up,
    )  # fmt: skip
