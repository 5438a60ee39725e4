"""Organisations, their members and invitations.

Every route under ``/orgs/{org_id}`` first loads the caller's membership there: an organisation
the caller does not belong to answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response, status
from sqlalchemy.orm import Session

from terrascan.api.deps import CatalogDep, SessionDep, SettingsDep
from terrascan.api.mail import deliver_outbox
from terrascan.api.policy import may_assign
from terrascan.api.schemas.orgs import (
    InvitationAccept,
    InvitationCreate,
    InvitationPublic,
    MemberPublic,
    MemberUpdate,
    OrgCreate,
    OrgPublic,
    OrgUpdate,
)
from terrascan.api.schemas.users import MembershipPublic
from terrascan.api.security import CommitFirst, CurrentUser, OrgContext, client_ip, require_member
from terrascan.catalog.accounts import (
    AuditLogRepository,
    InvitationRepository,
    Member,
    Membership,
    OrganizationRepository,
    OutboxRepository,
)
from terrascan.catalog.models import Invitation, Organization, Role
from terrascan.errors import PermissionDeniedError

router = APIRouter(prefix="/orgs", tags=["organizations"], dependencies=[CommitFirst])
invitations_router = APIRouter(
    prefix="/invitations", tags=["organizations"], dependencies=[CommitFirst]
)

Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=100_000)]


def _public(org: Organization, role: Role) -> OrgPublic:
    return OrgPublic(
        id=org.id,
        name=org.name,
        slug=org.slug,
        is_personal=org.is_personal,
        plan=org.plan,
        created_at=org.created_at,
        role=role,
    )


def _member(member: Member) -> MemberPublic:
    return MemberPublic(
        user_id=member.user.id,
        email=member.user.email,
        name=member.user.name,
        role=member.role,
        joined_at=member.joined_at,
    )


def _audit(
    session: Session,
    request: Request,
    ctx: OrgContext,
    action: str,
    target: tuple[str, str],
    **details: str,
) -> None:
    AuditLogRepository(session).record(
        action,
        org_id=ctx.org_id,
        actor_id=ctx.user.id,
        target_type=target[0],
        target_id=target[1],
        ip=client_ip(request),
        details=dict(details),
    )


# ----------------------------------------------------------------------------- organisations


@router.get("", response_model=list[OrgPublic], summary="The organisations I belong to")
def list_orgs(user: CurrentUser, session: SessionDep) -> list[OrgPublic]:
    return [_public(m.org, m.role) for m in OrganizationRepository(session).memberships(user.id)]


@router.post(
    "",
    response_model=OrgPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Create a team organisation (I become its owner)",
)
def create_org(
    body: OrgCreate, request: Request, user: CurrentUser, session: SessionDep
) -> OrgPublic:
    org = OrganizationRepository(session).create_team(body.name, owner_id=user.id)
    ctx = OrgContext(user=user, org=org, role=Role.OWNER)
    _audit(session, request, ctx, "org.created", ("organization", str(org.id)))
    return _public(org, Role.OWNER)


@router.get("/{org_id}", response_model=OrgPublic, summary="One of my organisations")
def read_org(ctx: Annotated[OrgContext, Depends(require_member("org:read"))]) -> OrgPublic:
    return _public(ctx.org, ctx.role)


@router.patch("/{org_id}", response_model=OrgPublic, summary="Rename an organisation")
def update_org(
    body: OrgUpdate,
    request: Request,
    ctx: Annotated[OrgContext, Depends(require_member("org:update"))],
    session: SessionDep,
) -> OrgPublic:
    if body.name is not None:
        OrganizationRepository(session).rename(ctx.org, body.name)
        _audit(session, request, ctx, "org.updated", ("organization", str(ctx.org_id)))
    return _public(ctx.org, ctx.role)


@router.delete(
    "/{org_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a team organisation and everything it owns",
)
def delete_org(
    request: Request,
    ctx: Annotated[OrgContext, Depends(require_member("org:delete"))],
    session: SessionDep,
) -> Response:
    org_id = ctx.org_id
    OrganizationRepository(session).delete(ctx.org)
    AuditLogRepository(session).record(
        "org.deleted",
        org_id=None,
        actor_id=ctx.user.id,
        target_type="organization",
        target_id=str(org_id),
        ip=client_ip(request),
        details={"name": ctx.org.name},
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ----------------------------------------------------------------------------- members


@router.get("/{org_id}/members", response_model=list[MemberPublic], summary="Members and roles")
def list_members(
    ctx: Annotated[OrgContext, Depends(require_member("org:members:read"))],
    session: SessionDep,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[MemberPublic]:
    members = OrganizationRepository(session).members(ctx.org_id, limit=limit, offset=offset)
    return [_member(m) for m in members]


@router.patch(
    "/{org_id}/members/{user_id}",
    response_model=MemberPublic,
    summary="Change a member's role (only owners grant or take away the owner role)",
)
def update_member(
    user_id: uuid.UUID,
    body: MemberUpdate,
    request: Request,
    ctx: Annotated[OrgContext, Depends(require_member("org:members:manage"))],
    session: SessionDep,
) -> MemberPublic:
    repo = OrganizationRepository(session)
    target = repo.member(ctx.org_id, user_id)
    if not may_assign(ctx.role, target.role, body.role):
        raise PermissionDeniedError("only an owner may grant or take away the owner role")
    previous = repo.set_role(ctx.org_id, user_id, body.role)
    if previous is not body.role:
        _audit(
            session,
            request,
            ctx,
            "member.role_changed",
            ("user", str(user_id)),
            previous=previous.value,
            role=body.role.value,
        )
    return _member(repo.member(ctx.org_id, user_id))


@router.delete(
    "/{org_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a member (their access ends at once)",
)
def remove_member(
    user_id: uuid.UUID,
    request: Request,
    ctx: Annotated[OrgContext, Depends(require_member("org:members:manage"))],
    session: SessionDep,
) -> Response:
    repo = OrganizationRepository(session)
    target = repo.member(ctx.org_id, user_id)
    if not may_assign(ctx.role, target.role, None):
        raise PermissionDeniedError("only an owner may remove an owner")
    repo.remove_member(ctx.org_id, user_id)
    _audit(session, request, ctx, "member.removed", ("user", str(user_id)), role=target.role.value)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{org_id}/leave",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Leave an organisation (the last owner cannot)",
)
def leave_org(
    request: Request,
    ctx: Annotated[OrgContext, Depends(require_member("org:read"))],
    session: SessionDep,
) -> Response:
    OrganizationRepository(session).remove_member(ctx.org_id, ctx.user.id)
    _audit(session, request, ctx, "member.left", ("user", str(ctx.user.id)), role=ctx.role.value)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ----------------------------------------------------------------------------- invitations


def _invitation_email(settings_url: str, org: Organization, raw: str, role: Role) -> str:
    return (
        f"You have been invited to join {org.name} on TerraScan as {role.value}.\n\n"
        f"Accept the invitation: {settings_url.rstrip('/')}/invitations/accept?token={raw}\n\n"
        "Sign in (or create an account) with this email address first. If you did not expect "
        "this invitation, ignore this message.\n"
    )


@router.post(
    "/{org_id}/invitations",
    response_model=InvitationPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Invite someone by email",
)
def create_invitation(
    body: InvitationCreate,
    request: Request,
    background: BackgroundTasks,
    ctx: Annotated[OrgContext, Depends(require_member("org:invitations:manage"))],
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
) -> Invitation:
    if not may_assign(ctx.role, None, body.role):
        raise PermissionDeniedError("only an owner may invite an owner")
    raw, invitation = InvitationRepository(session).create(
        ctx.org,
        email=body.email,
        role=body.role,
        invited_by=ctx.user.id,
        ttl=timedelta(days=settings.invitation_days),
    )
    OutboxRepository(session).enqueue(
        to=invitation.email,
        subject=f"Invitation to {ctx.org.name} on TerraScan",
        body=_invitation_email(settings.public_url, ctx.org, raw, body.role),
        org_id=ctx.org_id,
    )
    _audit(
        session,
        request,
        ctx,
        "invitation.created",
        ("invitation", str(invitation.id)),
        email=invitation.email,
        role=body.role.value,
    )
    background.add_task(deliver_outbox, catalog, settings)
    return invitation


@router.get(
    "/{org_id}/invitations",
    response_model=list[InvitationPublic],
    summary="Pending invitations",
)
def list_invitations(
    ctx: Annotated[OrgContext, Depends(require_member("org:invitations:manage"))],
    session: SessionDep,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[Invitation]:
    return InvitationRepository(session).pending(ctx.org_id, limit=limit, offset=offset)


@router.delete(
    "/{org_id}/invitations/{invitation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Withdraw an invitation",
)
def revoke_invitation(
    invitation_id: uuid.UUID,
    request: Request,
    ctx: Annotated[OrgContext, Depends(require_member("org:invitations:manage"))],
    session: SessionDep,
) -> Response:
    InvitationRepository(session).revoke(invitation_id, org_id=ctx.org_id)
    _audit(session, request, ctx, "invitation.revoked", ("invitation", str(invitation_id)))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@invitations_router.post(
    "/accept",
    response_model=MembershipPublic,
    summary="Accept an invitation (signed in with the invited email address)",
)
def accept_invitation(
    body: InvitationAccept, request: Request, user: CurrentUser, session: SessionDep
) -> MembershipPublic:
    invitation = InvitationRepository(session).accept(body.token, user)
    membership: Membership = OrganizationRepository(session).membership(invitation.org_id, user.id)
    ctx = OrgContext(user=user, org=membership.org, role=membership.role)
    _audit(session, request, ctx, "member.joined", ("user", str(user.id)), role=invitation.role)
    return MembershipPublic(
        org_id=membership.org.id,
        name=membership.org.name,
        slug=membership.org.slug,
        is_personal=membership.org.is_personal,
        role=membership.role,
    )
