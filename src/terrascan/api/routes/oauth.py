"""Sign-in with Google (OpenID Connect) or GitHub (OAuth 2.0), when enabled in settings.

``/login`` sends the browser to the provider; the provider sends it back to ``/callback``, which
signs the person in (creating an account for a new verified email address) and redirects to the
web app with the token pair in the URL fragment, which never reaches a server.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from terrascan.api.deps import SessionDep, SettingsDep
from terrascan.api.oauth import (
    PENDING_TTL_S,
    Identity,
    OAuthFlow,
    configured_providers,
    decode_pending,
    encode_pending,
    get_provider,
)
from terrascan.api.ratelimit import enforce
from terrascan.api.routes.auth import issue_pair
from terrascan.api.security import CommitFirst, RateLimiterDep, TokensDep, client_ip
from terrascan.catalog.accounts import AuditLogRepository, OrganizationRepository
from terrascan.catalog.models import User
from terrascan.catalog.repositories import UserRepository
from terrascan.errors import AuthenticationError
from terrascan.settings import Settings

router = APIRouter(prefix="/auth/oauth", tags=["auth"], dependencies=[CommitFirst])

COOKIE = "terrascan_oauth"
COOKIE_PATH = "/api/v1/auth/oauth"


def _redirect_uri(settings: Settings, provider: str) -> str:
    return f"{settings.public_url.rstrip('/')}{COOKIE_PATH}/{provider}/callback"


def _limit(request: Request, limiter: RateLimiterDep, settings: Settings) -> None:
    enforce(
        limiter,
        {f"oauth:ip:{client_ip(request)}": settings.auth_rate_limit_per_ip},
        window_s=settings.auth_rate_limit_window_s,
    )


def _user_for(session: Session, identity: Identity, request: Request) -> User:
    users = UserRepository(session)
    user = users.get_by_email(identity.email)
    if user is None:
        user = users.create(email=identity.email, name=identity.name, password_hash=None)
        AuditLogRepository(session).record(
            "user.registered",
            org_id=OrganizationRepository(session).personal_org(user.id).org.id,
            actor_id=user.id,
            target_type="user",
            target_id=str(user.id),
            ip=client_ip(request),
            details={"provider": identity.provider},
        )
    if not user.is_active:
        raise AuthenticationError("this account is disabled")
    return user


@router.get("/providers", response_model=list[str], summary="Enabled sign-in providers")
def list_providers(settings: SettingsDep) -> list[str]:
    return sorted(configured_providers(settings))


@router.get(
    "/{provider}/login",
    status_code=302,
    response_class=RedirectResponse,
    summary="Start signing in with a provider",
    responses={404: {"description": "The provider is not enabled"}},
)
def oauth_login(
    provider: str,
    request: Request,
    settings: SettingsDep,
    tokens: TokensDep,
    limiter: RateLimiterDep,
) -> RedirectResponse:
    _limit(request, limiter, settings)
    flow = OAuthFlow(get_provider(settings, provider), _redirect_uri(settings, provider))
    url, pending = flow.start()
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        COOKIE,
        encode_pending(pending, tokens.secret),
        max_age=PENDING_TTL_S,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=settings.public_url.startswith("https://"),
    )
    return response


@router.get(
    "/{provider}/callback",
    status_code=303,
    response_class=RedirectResponse,
    summary="Where the provider sends the browser back",
    responses={401: {"description": "The sign-in failed or was cancelled"}},
)
def oauth_callback(
    provider: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    tokens: TokensDep,
    limiter: RateLimiterDep,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> RedirectResponse:
    _limit(request, limiter, settings)
    found = get_provider(settings, provider)
    cookie = request.cookies.get(COOKIE)
    if error or not code or not state or not cookie:
        raise AuthenticationError("the sign-in was cancelled or failed")
    pending = decode_pending(cookie, tokens.secret)
    if pending.provider != provider or not secrets.compare_digest(pending.state, state):
        raise AuthenticationError("the sign-in does not match the one started here")
    identity = OAuthFlow(found, _redirect_uri(settings, provider)).finish(code, pending)
    user = _user_for(session, identity, request)
    pair = issue_pair(session, tokens, user.id)
    AuditLogRepository(session).record(
        "auth.login",
        org_id=OrganizationRepository(session).personal_org(user.id).org.id,
        actor_id=user.id,
        ip=client_ip(request),
        details={"provider": provider},
    )
    fragment = urlencode(pair.model_dump())
    response = RedirectResponse(f"{settings.public_url.rstrip('/')}/#{fragment}", status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response
