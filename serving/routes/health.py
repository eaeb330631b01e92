"""GET /healthz: the app is up, with the index build and the engine it answers from."""

from __future__ import annotations

from fastapi import APIRouter

from serving.deps import Service
from serving.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz(service: Service) -> Health:
    service.retriever.refresh()  # name the build the next question will use, not the one the last used
    return Health(status="ok", index_build=service.retriever.build.name, engine=str(service.llm.api_base))
