"""Bodies of the steward's group decisions (/steward/api/groups, /steward/api/rules): what needs a decision
by source and reason, and the rules that decide a group at once (serving.steward_groups)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from serving.steward_schemas import Counts, IsoTime, Reason

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Example(BaseModel):
    doc_id: str
    title: str
    path: str


class GroupOut(BaseModel):
    """Documents of one source held out of safe by one reason, and what a rule on them would do."""

    source: str
    reason: str
    documents: int
    tiers: Counts = Field(description="the group's documents by the tier the last run gave them")
    examples: list[Example]
    outcomes: dict[str, Counts] = Field(
        description="decision (approve, reject, redact where the reason has spans to mask) -> the group's "
        "documents by tier after the next run under it (the policy decides each again on its stored scores)"
    )


class GroupsPage(BaseModel):
    total: int
    groups: list[GroupOut]


class RuleIn(BaseModel):
    source: Name
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z][a-z0-9_]*$", max_length=100)
    ]
    decision: Literal["approve", "reject", "redact"]
    why: Reason  # required: a rule without a reason is refused (422)


class RetireIn(BaseModel):
    why: Reason


class RuleRow(BaseModel):
    id: int
    source: str
    reason: str
    decision: Literal["approve", "reject", "redact"]
    who: str
    why: str
    at: IsoTime
    active: bool
    retired_by: str | None
    retired_at: str | None
    retired_why: str | None
    documents: int = Field(description="documents of the last run from this source that carry this reason")


class RuleOut(BaseModel):
    """What POST /rules did: the rule stored, when it takes effect, and how the index followed."""

    rule: RuleRow
    documents: int
    applies: Literal["now", "next run"] = Field(
        description="reject applies at once (tier check and index); approve and redact on the next run, that "
        "weighs each document's other reasons and masks the spans"
    )
    index_change: Literal["removed", "none"]
    chunks: int
    build_id: str | None
