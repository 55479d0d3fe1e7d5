"""The audit log: GET /api/activity (admin)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from api.auth import require, security_of
from api.schemas.activity import ActivityOut, ActivityRecord
from api.schemas.errors import AUTH_ERRORS
from appliance.security.audit import AuditQuery
from appliance.security.roles import Role

router = APIRouter(
    prefix="/api/activity",
    tags=["activity"],
    dependencies=[Depends(require(Role.ADMIN))],
    responses=AUTH_ERRORS,
)

Text = Annotated[str | None, Query(min_length=1, max_length=200)]


@router.get("", response_model=ActivityOut)
def activity(
    request: Request,
    actor: Text = None,
    action: Text = None,
    outcome: Annotated[Literal["success", "failure", "denied", "error"] | None, Query()] = None,
    since: Annotated[float | None, Query(ge=0, description="Unix time, inclusive.")] = None,
    until: Annotated[float | None, Query(ge=0, description="Unix time, exclusive.")] = None,
    cursor: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="next_cursor of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ActivityOut:
    """Audit records, newest first, filtered; page with ``cursor``."""
    records, next_cursor = security_of(request).audit.query(
        AuditQuery(actor, action, outcome, since, until, cursor, limit)
    )
    return ActivityOut(
        records=[ActivityRecord.model_validate(r) for r in records], next_cursor=next_cursor
    )
