"""The steward page (/steward) and its JSON API (/steward/api/...).

The page and its script hold no data and need no token; every API call needs the steward token
(Authorization: Bearer), which the page asks for and keeps in sessionStorage.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.responses import HTMLResponse

from curation.models import Tier
from serving.auth import Steward
from serving.deps import StewardSvc
from serving.steward_schemas import OverrideIn, OverrideOut
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

router = APIRouter(prefix="/steward", tags=["steward"])


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def page() -> HTMLResponse:
    return HTMLResponse((PAGES / "steward.html").read_text(encoding="utf-8"), headers=PAGE_HEADERS)


@router.get("/steward.js", include_in_schema=False)
def script() -> Response:
    body = (PAGES / "steward.js").read_text(encoding="utf-8")
    return Response(body, media_type="text/javascript; charset=utf-8", headers=PAGE_HEADERS)


@router.get("/api/summary")
def summary(_: Steward, steward: StewardSvc) -> dict[str, Any]:
    return steward.summary()


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
) -> dict[str, Any]:
    return steward.documents(tier=tier, source=source, reason=reason, q=q, limit=limit, offset=offset)


@router.get("/api/documents/{doc_id:path}")
def document(doc_id: str, _: Steward, steward: StewardSvc) -> dict[str, Any]:
    try:
        return steward.document(doc_id)
    except UnknownDocument:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no document {doc_id!r}") from None


@router.post("/api/overrides", response_model=OverrideOut)
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
def overrides(_: Steward, steward: StewardSvc) -> list[dict[str, Any]]:
    return steward.overrides()


@router.get("/api/overrides.csv")
def overrides_csv(_: Steward, steward: StewardSvc) -> Response:
    return Response(
        steward.overrides_csv(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="vetted-overrides.csv"'},
    )


@router.get("/api/audit")
def audit(
    _: Steward, steward: StewardSvc, limit: Annotated[int, Query(ge=1, le=5000)] = 200
) -> list[dict[str, Any]]:
    return steward.audit(limit)
