"""Typed dependencies: the chat and steward services live on app.state, set by whoever builds the app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from serving.rag import ChatService
from serving.steward_service import StewardService


def get_service(request: Request) -> ChatService:
    return request.app.state.service  # type: ignore[no-any-return]


Service = Annotated[ChatService, Depends(get_service)]


def get_steward_service(request: Request) -> StewardService:
    steward = getattr(request.app.state, "steward", None)
    if steward is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the steward workflow is not set up here")
    return steward  # type: ignore[no-any-return]


StewardSvc = Annotated[StewardService, Depends(get_steward_service)]
