"""The staff chat page (/) and its script: static files, no data and no token in them; the page asks for a
token and keeps it in the tab (sessionStorage), as the steward page does."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from serving.routes.steward import PAGE_HEADERS, PAGES

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def chat_page() -> FileResponse:
    return FileResponse(PAGES / "chat.html", media_type="text/html", headers=PAGE_HEADERS)


@router.get("/chat.js")
def chat_script() -> FileResponse:
    return FileResponse(PAGES / "chat.js", media_type="text/javascript; charset=utf-8", headers=PAGE_HEADERS)
