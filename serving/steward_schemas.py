"""Steward API bodies (pydantic at the edge)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class OverrideIn(BaseModel):
    doc_id: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    tier: Literal["safe", "unsafe"]  # approve or reject
    why: Reason  # required: an override without a reason is refused (422)


class OverrideOut(BaseModel):
    doc_id: str
    tier: str
    who: str
    why: str
    at: str
    index_change: Literal["added", "removed", "none"]
    chunks: int
    build_id: str | None
