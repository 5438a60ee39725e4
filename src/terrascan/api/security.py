"""Authentication and the caller's organisation: JWT access tokens and the dependencies every
route uses to learn who is calling, in which organisation, and whether the policy allows it.

Access tokens are HS256 JWTs (PyJWT, the algorithm fixed on decode) carrying ``sub`` (the user),
``sid`` (the refresh-token family, i.e. the sign-in session), ``typ="access"``, ``aud``, ``iat``
and ``exp``; all are required. Each request also checks, in the catalog, that the user is still
active, that the sign-in session was not logged out or revoked, and that the user is still a
member of the organisation they act in, so a removed member loses access at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

import jwt
from fastapi import Depends, Header, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from terrascan.api.deps import SessionDep
from terrascan.api.policy import POLICY, allowed
from terrascan.api.ratelimit import RateLimiter
from terrascan.catalog.accounts import (
    Membership,
    OrganizationRepository,
    RefreshTokenRepository,
    scope_to_org,
)
from terrascan.catalog.models import Organization, Role, User
from terrascan.errors import AuthenticationError, InvalidInputError, PermissionDeniedError
from terrascan.settings import Settings

ORG_HEADER = "X-Organization-ID"


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: datetime


@dataclass(frozen=True)
class TokenService:
    """Issues and checks access tokens."""

    secret: str
    access_ttl: timedelta
    refresh_ttl: timedelta

    algorithm: ClassVar[str] = "HS256"
    audience: ClassVar[str] = "terrascan"
    required: ClassVar[list[str]] = ["exp", "iat", "sub", "typ", "aud", "sid"]

    @classmethod
    def from_settings(cls, settings: Settings, secret: str) -> TokenService:
        return cls(
            secret=secret,
            access_ttl=timedelta(minutes=settings.access_token_minutes),
            refresh_ttl=timedelta(days=settings.refresh_token_days),
        )

    def issue_access(
        self, user_id: uuid.UUID, session_id: uuid.UUID, *, now: datetime | None = None
    ) -> str:
        now = now or datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "sid": str(session_id),
            "typ": "access",
            "aud": self.audience,
            "iat": int(now.timestamp()),
            "exp": int((now + self.access_ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.secret, algorithm=self.algorithm)

    def decode_access(self, token: str) -> AccessClaims:
        """Check signature, algorithm, audience, expiry and type; any failure is a 401."""
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[self.algorithm],
                audience=self.audience,
                options={"require": self.required},
            )
        except jwt.PyJWTError as exc:
            raise AuthenticationError("invalid or expired access token") from exc
        if claims.get("typ") != "access":
            raise AuthenticationError("not an access token")
        try:
            return AccessClaims(
                user_id=uuid.UUID(claims["sub"]),
                session_id=uuid.UUID(str(claims["sid"])),
                expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            )
        except (ValueError, TypeError) as exc:
            raise AuthenticationError("invalid access token") from exc


def commit_before_response(session: SessionDep) -> Iterator[None]:
    """Commit when the route function returns, before the response is sent (use it with
    ``Depends(..., scope="function")``). Without it the request's session commits after the
    response has gone out, so a client could be handed a token, or see a member removed, before
    the database says so."""
    yield
    session.commit()


CommitFirst = Depends(commit_before_response, scope="function")


async def get_tokens(request: Request) -> TokenService:
    tokens: TokenService = request.app.state.tokens
    return tokens


async def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


TokensDep = Annotated[TokenService, Depends(get_tokens)]
RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]

_bearer = HTTPBearer(auto_error=False, description="An access token from /api/v1/auth/login.")


async def get_access_claims(
    tokens: TokensDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AccessClaims:
    if credentials is None:
        raise AuthenticationError("not authenticated")
    return tokens.decode_access(credentials.credentials)


AccessClaimsDep = Annotated[AccessClaims, Depends(get_access_claims)]


def authenticate(session: Session, claims: AccessClaims) -> User:
    """The caller of ``claims``: still active, with the sign-in session still live (401)."""
    user = session.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise AuthenticationError("invalid or expired access token")
    if not RefreshTokenRepository(session).family_active(claims.session_id, user.id):
        raise AuthenticationError("this sign-in session has ended; sign in again")
    return user


def get_current_user(claims: AccessClaimsDep, session: SessionDep) -> User:
    return authenticate(session, claims)


CurrentUser = Annotated[User, Depends(get_current_user)]


@dataclass(frozen=True)
class OrgContext:
    """The caller, the organisation they act in, and their role there."""

    user: User
    org: Organization
    role: Role

    @property
    def org_id(self) -> uuid.UUID:
        return self.org.id


def _checked(session: Session, membership: Membership, user: User, action: str) -> OrgContext:
    if not allowed(membership.role, action):
        raise PermissionDeniedError(
            f"the {membership.role.value} role may not perform {action!r} in this organization"
        )
    scope_to_org(session, membership.org.id)  # row-level security backs up the repositories
    return OrgContext(user=user, org=membership.org, role=membership.role)


def authorise(session: Session, user: User, org_id: uuid.UUID | None, action: str) -> OrgContext:
    """``user`` acting in ``org_id`` (default: their personal organisation) as a member whose
    role the policy allows ``action``. Not a member: 404; role not allowed: 403."""
    repo = OrganizationRepository(session)
    membership = repo.membership(org_id, user.id) if org_id else repo.personal_org(user.id)
    return _checked(session, membership, user, action)


def _known(action: str) -> None:
    if action not in POLICY:
        raise KeyError(f"action {action!r} is not in the policy table")


async def chosen_org(
    header_org: Annotated[
        uuid.UUID | None,
        Header(alias=ORG_HEADER, description="The organisation to act in."),
    ] = None,
    query_org: Annotated[
        uuid.UUID | None,
        Query(alias="org_id", description=f"Alternative to the {ORG_HEADER} header."),
    ] = None,
) -> uuid.UUID | None:
    """The organisation the request names, if any (the header, or ``org_id``)."""
    if header_org and query_org and header_org != query_org:
        raise InvalidInputError(f"the {ORG_HEADER} header and org_id disagree")
    return header_org or query_org


ChosenOrg = Annotated[uuid.UUID | None, Depends(chosen_org)]


def require(action: str) -> Callable[..., OrgContext]:
    """A dependency: the caller acts in the organisation named by the ``X-Organization-ID``
    header or the ``org_id`` query parameter (default: their personal organisation), as a member
    whose role the policy allows ``action``. Not a member: 404; role not allowed: 403."""
    _known(action)

    def dependency(user: CurrentUser, session: SessionDep, org_id: ChosenOrg) -> OrgContext:
        return authorise(session, user, org_id, action)

    dependency.policy_action = action  # type: ignore[attr-defined]
    return dependency


@dataclass(frozen=True)
class Access:
    """A request's credentials and organisation, not yet checked against the catalog: for
    hot routes (tiles) that check them with their own lookups in one worker-thread call."""

    claims: AccessClaims
    org_id: uuid.UUID | None
    action: str

    def check(self, session: Session) -> OrgContext:
        """What ``require(action)`` checks, in ``session``: 401, 404 or 403 as it does."""
        return authorise(session, authenticate(session, self.claims), self.org_id, self.action)

    def checked_org(self, session: Session) -> uuid.UUID:
        """``check``'s organisation in one query when every check passes; when one fails,
        ``check`` finds out which and raises its error."""
        found = OrganizationRepository(session).signed_in_role(
            self.claims.user_id, self.claims.session_id, self.org_id
        )
        if found is None or not allowed(found[1], self.action):
            return self.check(session).org_id
        scope_to_org(session, found[0])
        return found[0]


def access_for(action: str) -> Callable[..., Coroutine[Any, Any, Access]]:
    """A dependency like ``require(action)`` that only decodes the token and reads the chosen
    organisation (no catalog I/O, no thread hop); the route must call ``Access.check``."""
    _known(action)

    async def dependency(claims: AccessClaimsDep, org_id: ChosenOrg) -> Access:
        return Access(claims, org_id, action)

    dependency.policy_action = action  # type: ignore[attr-defined]
    return dependency


def require_member(action: str) -> Callable[..., OrgContext]:
    """Like ``require`` for routes under ``/orgs/{org_id}``: the organisation is the path's."""
    _known(action)

    def dependency(
        org_id: Annotated[uuid.UUID, Path()], user: CurrentUser, session: SessionDep
    ) -> OrgContext:
        membership = OrganizationRepository(session).membership(org_id, user.id)
        return _checked(session, membership, user, action)

    dependency.policy_action = action  # type: ignore[attr-defined]
    return dependency


def policy_action(call: Any) -> str | None:
    """The policy action a dependency enforces, if it is one of ours."""
    action = getattr(call, "policy_action", None)
    return action if isinstance(action, str) else None
