"""The steward page (/steward) and its JSON API (/steward/api/...).

The page and its script hold no data and need no token; every API call needs a steward's or an admin's token
(Authorization: Bearer; an account's from `vetted tokens issue`, or the legacy steward token), which the page
asks for and keeps in sessionStorage. The audit log's "who" is the token's account (serving.auth).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse

from curation.models import Tier
from serving.auth import Steward
from serving.chat_store import UnknownAnswer
from serving.deps import StewardSvc
from serving.schemas import ErrorOut
from serving.steward_schemas import (
    AuditEntry,
    DocumentOut,
    DocumentsPage,
    FeedbackItem,
    OverrideIn,
    OverrideOut,
    OverrideRow,
    ResolveIn,
    SummaryOut,
)
from serving.steward_service import IndexUpdateFailed, UnknownDocument

PAGES = Path(__file__).resolve().parents[1] / "pages"
# Nothing outside this server is loaded: scripts only from here, no frames, no referrer leaving the page.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"model": ErrorOut, "description": "no such document"}
}
CSV_TYPE = "text/csv; charset=utf-8"

router = APIRouter(
    prefix="/steward",
    tags=["steward"],
    responses={
        status.HTTP_401_UNAUTHORIZED: {"model": ErrorOut, "description": "no or wrong steward token"},
        status.HTTP_503_SERVICE_UNAVAILABLE: {"model": ErrorOut, "description": "no steward workflow here"},
    },
)


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def page() -> HTMLResponse:
    return HTMLResponse((PAGES / "steward.html").read_text(encoding="utf-8"), headers=PAGE_HEADERS)


@router.get("/steward.js", include_in_schema=False)
def script() -> Response:
    body = (PAGES / "steward.js").read_text(encoding="utf-8")
    return Response(body, media_type="text/javascript; charset=utf-8", headers=PAGE_HEADERS)


# exclude_unset: a run's summary.json goes out as the file holds it (older runs wrote fewer fields, no nulls)
@router.get("/api/summary", response_model_exclude_unset=True)
def summary(_: Steward, steward: StewardSvc) -> SummaryOut:
    return SummaryOut.model_validate(steward.summary())


@router.get("/api/documents")
def documents(
    _: Steward,
    steward: StewardSvc,
    tier: Literal["safe", "review", "unsafe"] | None = None,
    source: Annotated[str | None, Query(max_length=200)] = None,
    reason: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DocumentsPage:
    page = steward.documents(tier=tier, source=source, reason=reason, q=q, limit=limit, offset=offset)
    return DocumentsPage.model_validate(page)


@router.get("/api/documents/{doc_id:path}", responses=NOT_FOUND)
def document(doc_id: str, _: Steward, steward: StewardSvc) -> DocumentOut:
    try:
        return DocumentOut.model_validate(steward.document(doc_id))
    except UnknownDocument:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no document {doc_id!r}") from None


@router.post(
    "/api/overrides",
    responses={
        **NOT_FOUND,
        status.HTTP_500_INTERNAL_SERVER_ERROR: {"model": ErrorOut, "description": "stored; the index failed"},
    },
)
def override(body: OverrideIn, who: Steward, steward: StewardSvc) -> OverrideOut:
    try:
        result = steward.apply_override(doc_id=body.doc_id, tier=Tier(body.tier), who=who, why=body.why)
    except UnknownDocument:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no document {body.doc_id!r}") from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from exc
    except IndexUpdateFailed as exc:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, str(exc)) from exc
    return OverrideOut.model_validate(asdict(result))


@router.get("/api/overrides")
def overrides(_: Steward, steward: StewardSvc) -> list[OverrideRow]:
    """Every override, newest first."""
    return [OverrideRow.model_validate(o) for o in steward.overrides()]


@router.get("/api/overrides.csv", response_class=Response, responses={200: {"content": {CSV_TYPE: {}}}})
def overrides_csv(_: Steward, steward: StewardSvc) -> Response:
    return Response(
        steward.overrides_csv(),
        media_type=CSV_TYPE,
        headers={"Content-Disposition": 'attachment; filename="vetted-overrides.csv"'},
    )


@router.get("/api/audit")
def audit(
    _: Steward, steward: StewardSvc, limit: Annotated[int, Query(ge=1, le=5000)] = 200
) -> list[AuditEntry]:
    """The newest `limit` entries of the audit log, newest first."""
    return [AuditEntry.model_validate(a) for a in steward.audit(limit)]


@router.get("/api/feedback")
def feedback_queue(request: Request, _: Steward) -> list[FeedbackItem]:
    """Thumbs-down answers not yet resolved, newest first, each source with the chunks that were shown: demote
    a source with POST /steward/api/overrides, then resolve the item."""
    return [FeedbackItem.model_validate(asdict(item)) for item in request.app.state.chats.queue()]


@router.post("/api/feedback/{answer_id}/resolve", status_code=204, responses=NOT_FOUND)
def resolve_feedback(answer_id: str, body: ResolveIn, request: Request, who: Steward) -> None:
    try:
        request.app.state.chats.resolve(answer_id, who=who, resolution=body.resolution)
    except UnknownAnswer:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no open feedback on answer {answer_id}") from None
