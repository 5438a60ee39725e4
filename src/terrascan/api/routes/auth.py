"""Registration, sign-in, token refresh and sign-out.

Login answers the same 401 for an unknown email and a wrong password, after the same work: an
unknown email is checked against a dummy Argon2id hash. Login, register and refresh are
rate-limited per client IP and per account (429 with Retry-After).
"""

from __future__ import annotations

import functools
import secrets
import uuid

from fastapi import APIRouter, Request, Response, status
from sqlalchemy.orm import Session

from terrascan.api.deps import SessionDep, SettingsDep
from terrascan.api.ratelimit import enforce
from terrascan.api.schemas.users import (
    LoginRequest,
    RefreshRequest,
    TokenPair,
    UserCreate,
    UserPublic,
)
from terrascan.api.security import CommitFirst, RateLimiterDep, TokensDep, TokenService, client_ip
from terrascan.catalog.accounts import (
    AuditLogRepository,
    OrganizationRepository,
    RefreshTokenRepository,
    hash_token,
)
from terrascan.catalog.models import User
from terrascan.catalog.repositories import UserRepository
from terrascan.errors import AuthenticationError
from terrascan.passwords import hash_password, verify_password
from terrascan.settings import Settings


@functools.cache
def dummy_password_hash() -> str:
    """A hash with the real parameters, so a login for an unknown email costs the same."""
    return hash_password(secrets.token_urlsafe(24))


def _limit(
    request: Request, limiter: RateLimiterDep, settings: Settings, route: str, account: str
) -> None:
    enforce(
        limiter,
        {
            f"{route}:ip:{client_ip(request)}": settings.auth_rate_limit_per_ip,
            f"{route}:account:{account}": settings.auth_rate_limit_per_account,
        },
        window_s=settings.auth_rate_limit_window_s,
    )


def issue_pair(
    session: Session, tokens: TokenService, user_id: uuid.UUID, family: uuid.UUID | None = None
) -> TokenPair:
    refresh, row = RefreshTokenRepository(session).issue(
        user_id, ttl=tokens.refresh_ttl, family_id=family
    )
    return TokenPair(
        access_token=tokens.issue_access(user_id, row.family_id),
        refresh_token=refresh,
        expires_in=int(tokens.access_ttl.total_seconds()),
    )


def _personal_org_id(session: Session, user: User) -> uuid.UUID:
    return OrganizationRepository(session).personal_org(user.id).org.id


router = APIRouter(prefix="/auth", tags=["auth"], dependencies=[CommitFirst])


@router.post(
    "/register",
    response_model=UserPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Create an account (and its personal organisation)",
    responses={
        409: {"description": "An account with this email exists"},
        429: {"description": "Too many attempts; see Retry-After"},
    },
)
def register(
    body: UserCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> User:
    _limit(request, limiter, settings, "register", body.email)
    user = UserRepository(session).create(
        email=body.email, name=body.name, password_hash=hash_password(body.password)
    )
    AuditLogRepository(session).record(
        "user.registered",
        org_id=_personal_org_id(session, user),
        actor_id=user.id,
        target_type="user",
        target_id=str(user.id),
        ip=client_ip(request),
    )
    return user


@router.post(
    "/login",
    response_model=TokenPair,
    summary="Sign in with email and password",
    responses={
        401: {"description": "Incorrect email or password"},
        429: {"description": "Too many attempts; see Retry-After"},
    },
)
def login(
    body: LoginRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    tokens: TokensDep,
) -> TokenPair:
    _limit(request, limiter, settings, "login", body.email)
    user = UserRepository(session).get_by_email(body.email)
    stored = user.password_hash if user is not None and user.password_hash else None
    verified = verify_password(stored or dummy_password_hash(), body.password)
    audit = AuditLogRepository(session)
    if user is None or stored is None or not verified or not user.is_active:
        audit.record(
            "auth.login_failed",
            org_id=_personal_org_id(session, user) if user is not None else None,
            actor_id=user.id if user is not None else None,
            ip=client_ip(request),
            details={"email": body.email},
        )
        session.commit()  # the failed attempt is recorded although the request fails
        raise AuthenticationError("incorrect email or password")
    pair = issue_pair(session, tokens, user.id)
    audit.record(
        "auth.login",
        org_id=_personal_org_id(session, user),
        actor_id=user.id,
        ip=client_ip(request),
    )
    return pair


@router.post(
    "/refresh",
    response_model=TokenPair,
    summary="Exchange a refresh token for a new pair (the old one stops working)",
    responses={
        401: {"description": "Invalid, expired or reused refresh token"},
        429: {"description": "Too many attempts; see Retry-After"},
    },
)
def refresh(
    body: RefreshRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    tokens: TokensDep,
) -> TokenPair:
    _limit(request, limiter, settings, "refresh", hash_token(body.refresh_token)[:32])
    rotation = RefreshTokenRepository(session).rotate(body.refresh_token, ttl=tokens.refresh_ttl)
    user = session.get(User, rotation.user_id)
    if rotation.reused:
        AuditLogRepository(session).record(
            "auth.refresh_reused",
            org_id=_personal_org_id(session, user) if user is not None else None,
            actor_id=rotation.user_id,
            ip=client_ip(request),
            details={"family_id": str(rotation.family_id)},
        )
        session.commit()  # the family stays revoked although the request fails
        raise AuthenticationError("this refresh token was already used; sign in again")
    if user is None or not user.is_active or rotation.token is None:
        raise AuthenticationError("invalid refresh token")
    return TokenPair(
        access_token=tokens.issue_access(user.id, rotation.family_id),
        refresh_token=rotation.token,
        expires_in=int(tokens.access_ttl.total_seconds()),
    )


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End a sign-in session: its refresh tokens and access tokens stop working",
)
def logout(body: RefreshRequest, request: Request, session: SessionDep) -> Response:
    user_id = RefreshTokenRepository(session).revoke_token(body.refresh_token)
    user = session.get(User, user_id) if user_id is not None else None
    if user is not None:
        AuditLogRepository(session).record(
            "auth.logout",
            org_id=_personal_org_id(session, user),
            actor_id=user.id,
            ip=client_ip(request),
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
