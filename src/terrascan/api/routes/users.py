"""The signed-in user's own account."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from terrascan.api.deps import SessionDep, SettingsDep
from terrascan.api.ratelimit import enforce
from terrascan.api.schemas.users import MembershipPublic, UserMe, UserUpdate
from terrascan.api.security import (
    AccessClaimsDep,
    CommitFirst,
    CurrentUser,
    RateLimiterDep,
    client_ip,
)
from terrascan.catalog.accounts import (
    AuditLogRepository,
    OrganizationRepository,
    RefreshTokenRepository,
)
from terrascan.catalog.models import User
from terrascan.errors import InvalidInputError
from terrascan.passwords import hash_password, verify_password

router = APIRouter(prefix="/users", tags=["users"], dependencies=[CommitFirst])


def _me(session: Session, user: User) -> UserMe:
    memberships = [
        MembershipPublic(
            org_id=m.org.id,
            name=m.org.name,
            slug=m.org.slug,
            is_personal=m.org.is_personal,
            role=m.role,
        )
        for m in OrganizationRepository(session).memberships(user.id)
    ]
    return UserMe(
        id=user.id,
        email=user.email,
        name=user.name,
        created_at=user.created_at,
        memberships=memberships,
    )


@router.get("/me", response_model=UserMe, summary="The signed-in user and their organisations")
def read_me(user: CurrentUser, session: SessionDep) -> UserMe:
    return _me(session, user)


@router.patch(
    "/me",
    response_model=UserMe,
    summary="Change the display name or the password",
    responses={422: {"description": "Invalid fields, or the current password is wrong"}},
)
def update_me(
    body: UserUpdate,
    request: Request,
    user: CurrentUser,
    claims: AccessClaimsDep,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> UserMe:
    if body.name is not None:
        user.name = body.name
    if body.password is not None:
        enforce(
            limiter,
            {f"password:account:{user.id}": settings.auth_rate_limit_per_account},
            window_s=settings.auth_rate_limit_window_s,
        )
        if not user.password_hash or not verify_password(
            user.password_hash, body.current_password or ""
        ):
            raise InvalidInputError("current_password is incorrect")
        user.password_hash = hash_password(body.password)
        # Other sign-in sessions end; this one goes on.
        RefreshTokenRepository(session).revoke_all(user.id, except_family=claims.session_id)
        AuditLogRepository(session).record(
            "user.password_changed",
            org_id=OrganizationRepository(session).personal_org(user.id).org.id,
            actor_id=user.id,
            target_type="user",
            target_id=str(user.id),
            ip=client_ip(request),
        )
    session.flush()
    return _me(session, user)
