"""The steward's group decisions (/steward/api/groups, /steward/api/rules): what needs a decision by source
and reason, and rules that decide a whole group at once (serving.steward_groups says when each applies)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status

from curation.steward import RuleConflict, UnknownRule
from serving.auth import Steward
from serving.deps import StewardSvc
from serving.routes.steward import NOT_FOUND, PAGE_HEADERS, PAGES
from serving.routes.steward import router as steward_router
from serving.schemas import ErrorOut
from serving.steward_groups import StewardGroups, UnknownSource
from serving.steward_rule_schemas import GroupsPage, RetireIn, RuleIn, RuleOut, RuleRow
from serving.steward_service import IndexUpdateFailed

router = APIRouter(prefix="/steward", tags=["steward"], responses=steward_router.responses)


def get_groups(steward: StewardSvc) -> StewardGroups:
    return StewardGroups(steward)


Groups = Annotated[StewardGroups, Depends(get_groups)]


@router.get("/steward_groups.js", include_in_schema=False)
def script() -> Response:
    body = (PAGES / "steward_groups.js").read_text(encoding="utf-8")
    return Response(body, media_type="text/javascript; charset=utf-8", headers=PAGE_HEADERS)


@router.get("/api/groups")
def groups(
    _: Steward,
    decisions: Groups,
    source: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=2000)] = 200,
) -> GroupsPage:
    """What needs a decision, by source and reason, largest first, with what each decision would change."""
    return GroupsPage.model_validate(decisions.groups(source=source, limit=limit))


@router.get("/api/rules")
def rules(_: Steward, decisions: Groups) -> list[RuleRow]:
    """Every group rule, newest first, retired ones included (the audit trail keeps what they decided)."""
    return [RuleRow.model_validate(r) for r in decisions.rules()]


@router.post(
    "/api/rules",
    status_code=status.HTTP_201_CREATED,
    responses={
        status.HTTP_409_CONFLICT: {"model": ErrorOut, "description": "an active rule decides this already"},
        status.HTTP_422_UNPROCESSABLE_CONTENT: {"model": ErrorOut, "description": "a rule that cannot apply"},
        status.HTTP_500_INTERNAL_SERVER_ERROR: {"model": ErrorOut, "description": "stored; the index failed"},
    },
)
def add_rule(body: RuleIn, who: Steward, decisions: Groups) -> RuleOut:
    try:
        made = decisions.add_rule(
            source=body.source, reason=body.reason, decision=body.decision, who=who, why=body.why
        )
    except RuleConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except (UnknownSource, ValueError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except IndexUpdateFailed as exc:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, str(exc)) from exc
    return RuleOut.model_validate(made)


@router.post("/api/rules/{rule_id}/retire", responses=NOT_FOUND)
def retire_rule(rule_id: int, body: RetireIn, who: Steward, decisions: Groups) -> RuleRow:
    try:
        return RuleRow.model_validate(decisions.retire_rule(rule_id, who=who, why=body.why))
    except UnknownRule:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no active rule #{rule_id}") from None
