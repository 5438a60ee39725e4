"""An organisation's audit log and usage records (owners and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from terrascan.api.deps import SessionDep
from terrascan.api.schemas.orgs import AuditEntryPublic, UsagePublic
from terrascan.api.security import CommitFirst, OrgContext, require_member
from terrascan.catalog.accounts import AuditLogRepository, UsageRepository, UsageTotal
from terrascan.catalog.models import AuditLog

router = APIRouter(prefix="/orgs", tags=["organizations"], dependencies=[CommitFirst])

Period = Annotated[
    str | None,
    Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="A month, YYYY-MM."),
]
ActionName = Annotated[str, Query(max_length=100)]


@router.get(
    "/{org_id}/audit",
    response_model=list[AuditEntryPublic],
    summary="Security-relevant actions in this organisation, newest first",
)
def read_audit_log(
    ctx: Annotated[OrgContext, Depends(require_member("audit:read"))],
    session: SessionDep,
    action: Annotated[list[ActionName] | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[AuditLog]:
    return AuditLogRepository(session).list(
        org_id=ctx.org_id, actions=action, limit=limit, offset=offset
    )


@router.get(
    "/{org_id}/usage",
    response_model=list[UsagePublic],
    summary="Usage totals per month and metric",
)
def read_usage(
    ctx: Annotated[OrgContext, Depends(require_member("usage:read"))],
    session: SessionDep,
    period: Period = None,
) -> list[UsageTotal]:
    return UsageRepository(session).totals(org_id=ctx.org_id, period=period)
