"""Typed dependencies: the chat service lives on app.state, set by whoever builds the app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from serving.rag import ChatService


def get_service(request: Request) -> ChatService:
    return request.app.state.service  # type: ignore[no-any-return]


Service = Annotated[ChatService, Depends(get_service)]
