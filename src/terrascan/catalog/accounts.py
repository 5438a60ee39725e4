"""Repositories for accounts: refresh tokens, organisations and their members, invitations, the
email outbox, usage records and audit queries.

Like every repository, these take the caller's ``org_id`` and report another organisation's rows
as missing (``NotFoundError``). Secrets (refresh tokens, invitation tokens) are stored as SHA-256
digests only; the raw value exists in the caller's hands and nowhere else.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import BindParameter, ColumnElement, Select, bindparam, func, select, update
from sqlalchemy.orm import Session

from terrascan.catalog.models import (
    AuditLog,
    Invitation,
    Organization,
    OrgMember,
    OutboxMessage,
    OutboxStatus,
    RefreshToken,
    Role,
    UsageRecord,
    User,
    utcnow,
)
from terrascan.catalog.repositories import AuditRepository, _slugify
from terrascan.errors import AuthenticationError, ConflictError, InvalidInputError, NotFoundError

#: 256 bits of randomness, URL-safe.
TOKEN_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(raw: str) -> str:
    """The stored form of a bearer secret: its SHA-256 digest (the secret has 256 bits of entropy,
    so a fast hash is enough; nothing is gained from a slow one)."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every timestamp we store is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- refresh tokens


@dataclass(frozen=True)
class Rotation:
    """The outcome of presenting a refresh token."""

    user_id: uuid.UUID
    family_id: uuid.UUID
    #: The replacement token, or None when the presented one had already been rotated (a reuse,
    #: after which the whole family has been revoked).
    token: str | None

    @property
    def reused(self) -> bool:
        return self.token is None


class RefreshTokenRepository:
    """Refresh tokens in families: every use rotates the token; a rotated token presented again
    means it was stolen (or replayed), so the whole family is revoked."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def issue(
        self, user_id: uuid.UUID, *, ttl: timedelta, family_id: uuid.UUID | None = None
    ) -> tuple[str, RefreshToken]:
        raw = new_token()
        row = RefreshToken(
            user_id=user_id,
            family_id=family_id or uuid.uuid4(),
            token_hash=hash_token(raw),
            expires_at=utcnow() + ttl,
        )
        self.session.add(row)
        self.session.flush()
        return raw, row

    def rotate(self, raw: str, *, ttl: timedelta) -> Rotation:
        """Exchange ``raw`` for a new token of the same family.

        Unknown, expired or revoked-family tokens raise ``AuthenticationError``. A token that was
        already rotated revokes its family and returns a ``Rotation`` with ``token=None``: the
        caller must commit that revocation before refusing the request.
        """
        row = self.session.scalars(
            select(RefreshToken).where(RefreshToken.token_hash == hash_token(raw))
        ).first()
        if row is None:
            raise AuthenticationError("invalid refresh token")
        if row.revoked_at is not None:
            if row.replaced_by is not None:
                self.revoke_family(row.family_id)
                return Rotation(user_id=row.user_id, family_id=row.family_id, token=None)
            raise AuthenticationError("invalid refresh token")
        if _aware(row.expires_at) <= utcnow():
            raise AuthenticationError("refresh token expired")
        new_raw, new_row = self.issue(row.user_id, ttl=ttl, family_id=row.family_id)
        # Compare-and-set, so two concurrent uses of one token cannot both succeed.
        claimed = self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == row.id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow(), replaced_by=new_row.id)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            self.session.delete(new_row)
            self.revoke_family(row.family_id)
            return Rotation(user_id=row.user_id, family_id=row.family_id, token=None)
        return Rotation(user_id=row.user_id, family_id=row.family_id, token=new_raw)

    def revoke_family(self, family_id: uuid.UUID) -> None:
        self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        self.session.flush()

    def revoke_token(self, raw: str) -> uuid.UUID | None:
        """Revoke the family of ``raw`` (logout); returns the user it belonged to, if any."""
        row = self.session.scalars(
            select(RefreshToken).where(RefreshToken.token_hash == hash_token(raw))
        ).first()
        if row is None:
            return None
        self.revoke_family(row.family_id)
        return row.user_id

    def revoke_all(self, user_id: uuid.UUID, *, except_family: uuid.UUID | None = None) -> None:
        stmt = update(RefreshToken).where(
            RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
        )
        if except_family is not None:
            stmt = stmt.where(RefreshToken.family_id != except_family)
        self.session.execute(
            stmt.values(revoked_at=utcnow()).execution_options(synchronize_session=False)
        )
        self.session.flush()

    def family_active(self, family_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        """Whether the sign-in session ``family_id`` still has a live token (not logged out,
        not revoked after a reuse, not expired)."""
        stmt = select(func.count()).where(
            RefreshToken.family_id == family_id,
            RefreshToken.user_id == user_id,
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > utcnow(),
        )
        return bool(self.session.scalar(stmt))


# --------------------------------------------------------------------------- organisations


def _signed_in(which: ColumnElement[bool]) -> Select[uuid.UUID, str]:
    """``signed_in_role``'s query, built once (building it costs more than running it)."""
    user_id: BindParameter[uuid.UUID] = bindparam("user_id")
    live = (
        select(RefreshToken.id)
        .where(
            RefreshToken.family_id == bindparam("family_id"),
            RefreshToken.user_id == user_id,
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > bindparam("now"),
        )
        .exists()
    )
    return (
        select(Organization.id, OrgMember.role)
        .join(OrgMember, OrgMember.org_id == Organization.id)
        .join(User, User.id == OrgMember.user_id)
        .where(User.id == user_id, User.is_active.is_(True), live, which)
        .order_by(Organization.created_at)
        .limit(1)
    )


_SIGNED_IN_PERSONAL = _signed_in(Organization.is_personal.is_(True))
_SIGNED_IN_ORG = _signed_in(Organization.id == bindparam("org_id"))


@dataclass(frozen=True)
class Membership:
    org: Organization
    role: Role


@dataclass(frozen=True)
class Member:
    user: User
    role: Role
    joined_at: datetime


class OrganizationRepository:
    """Organisations and their members. Reads go through ``membership``: an organisation the
    caller does not belong to does not exist for them."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def membership(self, org_id: uuid.UUID, user_id: uuid.UUID) -> Membership:
        row = self.session.get(OrgMember, (org_id, user_id))
        org = self.session.get(Organization, org_id) if row is not None else None
        if row is None or org is None:
            raise NotFoundError(f"organization {org_id} not found")
        return Membership(org=org, role=Role(row.role))

    def personal_org(self, user_id: uuid.UUID) -> Membership:
        stmt = (
            select(Organization, OrgMember.role)
            .join(OrgMember, OrgMember.org_id == Organization.id)
            .where(OrgMember.user_id == user_id, Organization.is_personal.is_(True))
            .order_by(Organization.created_at)
        )
        found = self.session.execute(stmt).first()
        if found is None:
            raise NotFoundError("the user has no personal organization")
        return Membership(org=found[0], role=Role(found[1]))

    def signed_in_role(
        self, user_id: uuid.UUID, family_id: uuid.UUID, org_id: uuid.UUID | None
    ) -> tuple[uuid.UUID, Role] | None:
        """A request's sign-in checks in one query: the organisation and role of an active user
        whose sign-in session ``family_id`` is live, in ``org_id`` (default: their personal
        organisation). ``None`` when any check fails; ``family_active``, ``membership`` and
        ``personal_org`` tell which."""
        params = {"user_id": user_id, "family_id": family_id, "now": utcnow()}
        if org_id is None:
            found = self.session.execute(_SIGNED_IN_PERSONAL, params).first()
        else:
            found = self.session.execute(_SIGNED_IN_ORG, {**params, "org_id": org_id}).first()
        return None if found is None else (found[0], Role(found[1]))

    def memberships(self, user_id: uuid.UUID) -> list[Membership]:
        stmt = (
            select(Organization, OrgMember.role)
            .join(OrgMember, OrgMember.org_id == Organization.id)
            .where(OrgMember.user_id == user_id)
            .order_by(Organization.is_personal.desc(), Organization.name, Organization.id)
        )
        return [Membership(org=org, role=Role(role)) for org, role in self.session.execute(stmt)]

    def create_team(self, name: str, *, owner_id: uuid.UUID) -> Organization:
        org = Organization(
            name=name, slug=f"{_slugify(name)}-{uuid.uuid4().hex[:8]}", is_personal=False
        )
        self.session.add(org)
        self.session.flush()
        self.session.add(OrgMember(org_id=org.id, user_id=owner_id, role=Role.OWNER))
        self.session.flush()
        return org

    def rename(self, org: Organization, name: str) -> Organization:
        org.name = name
        self.session.flush()
        return org

    def delete(self, org: Organization) -> None:
        if org.is_personal:
            raise ConflictError("a personal organization cannot be deleted")
        self.session.delete(org)
        self.session.flush()

    # -- members

    def members(self, org_id: uuid.UUID, *, limit: int = 100, offset: int = 0) -> list[Member]:
        stmt = (
            select(User, OrgMember.role, OrgMember.created_at)
            .join(OrgMember, OrgMember.user_id == User.id)
            .where(OrgMember.org_id == org_id)
            .order_by(OrgMember.created_at, User.id)
            .limit(limit)
            .offset(offset)
        )
        return [Member(u, Role(r), c) for u, r, c in self.session.execute(stmt)]

    def member(self, org_id: uuid.UUID, user_id: uuid.UUID) -> Member:
        found = self.session.execute(
            select(User, OrgMember.role, OrgMember.created_at)
            .join(OrgMember, OrgMember.user_id == User.id)
            .where(OrgMember.org_id == org_id, OrgMember.user_id == user_id)
        ).first()
        if found is None:
            raise NotFoundError(f"member {user_id} not found")
        return Member(found[0], Role(found[1]), found[2])

    def _owner_count(self, org_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(
            OrgMember.org_id == org_id, OrgMember.role == Role.OWNER.value
        )
        return int(self.session.scalar(stmt) or 0)

    def set_role(self, org_id: uuid.UUID, user_id: uuid.UUID, role: Role) -> Role:
        """Change a member's role; returns the previous one. The last owner stays an owner."""
        row = self.session.get(OrgMember, (org_id, user_id))
        if row is None:
            raise NotFoundError(f"member {user_id} not found")
        previous = Role(row.role)
        if previous is Role.OWNER and role is not Role.OWNER and self._owner_count(org_id) <= 1:
            raise ConflictError("the last owner cannot be demoted; make someone else owner first")
        row.role = role.value
        self.session.flush()
        return previous

    def remove_member(self, org_id: uuid.UUID, user_id: uuid.UUID) -> Role:
        """Remove a member; returns their role. The last owner cannot leave."""
        row = self.session.get(OrgMember, (org_id, user_id))
        if row is None:
            raise NotFoundError(f"member {user_id} not found")
        role = Role(row.role)
        if role is Role.OWNER and self._owner_count(org_id) <= 1:
            raise ConflictError("the last owner cannot leave the organization")
        self.session.delete(row)
        self.session.flush()
        return role

    def add_member(self, org_id: uuid.UUID, user_id: uuid.UUID, role: Role) -> None:
        if self.session.get(OrgMember, (org_id, user_id)) is not None:
            raise ConflictError("already a member of this organization")
        self.session.add(OrgMember(org_id=org_id, user_id=user_id, role=role.value))
        self.session.flush()


# --------------------------------------------------------------------------- invitations


class InvitationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def create(
        self,
        org: Organization,
        *,
        email: str,
        role: Role,
        invited_by: uuid.UUID,
        ttl: timedelta,
    ) -> tuple[str, Invitation]:
        if org.is_personal:
            raise ConflictError("a personal organization cannot have other members")
        email = email.strip().lower()
        already = self.session.execute(
            select(OrgMember.user_id)
            .join(User, User.id == OrgMember.user_id)
            .where(OrgMember.org_id == org.id, User.email == email)
        ).first()
        if already is not None:
            raise ConflictError("this person is already a member")
        raw = new_token()
        invitation = Invitation(
            org_id=org.id,
            email=email,
            role=role.value,
            token_hash=hash_token(raw),
            invited_by=invited_by,
            expires_at=utcnow() + ttl,
        )
        self.session.add(invitation)
        self.session.flush()
        return raw, invitation

    def get(self, invitation_id: uuid.UUID, *, org_id: uuid.UUID) -> Invitation:
        row = self.session.get(Invitation, invitation_id)
        if row is None or row.org_id != org_id:
            raise NotFoundError(f"invitation {invitation_id} not found")
        return row

    def pending(self, org_id: uuid.UUID, *, limit: int = 100, offset: int = 0) -> list[Invitation]:
        stmt = (
            select(Invitation)
            .where(
                Invitation.org_id == org_id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > utcnow(),
            )
            .order_by(Invitation.created_at.desc(), Invitation.id)
            .limit(limit)
            .offset(offset)
        )
        return list(self.session.scalars(stmt))

    def revoke(self, invitation_id: uuid.UUID, *, org_id: uuid.UUID) -> Invitation:
        row = self.get(invitation_id, org_id=org_id)
        if row.accepted_at is None and row.revoked_at is None:
            row.revoked_at = utcnow()
            self.session.flush()
        return row

    def accept(self, raw: str, user: User) -> Invitation:
        """Join the invitation's organisation. The token proves the invitee read the email; the
        signed-in account must also have the invited address."""
        row = self.session.scalars(
            select(Invitation).where(Invitation.token_hash == hash_token(raw))
        ).first()
        if (
            row is None
            or row.accepted_at is not None
            or row.revoked_at is not None
            or _aware(row.expires_at) <= utcnow()
            or row.email != user.email.lower()
        ):
            raise NotFoundError("invitation not found or no longer valid")
        OrganizationRepository(self.session).add_member(row.org_id, user.id, Role(row.role))
        row.accepted_at = utcnow()
        self.session.flush()
        return row


# --------------------------------------------------------------------------- outbox


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def enqueue(
        self, *, to: str, subject: str, body: str, org_id: uuid.UUID | None = None
    ) -> OutboxMessage:
        message = OutboxMessage(org_id=org_id, to_address=to, subject=subject, body=body)
        self.session.add(message)
        self.session.flush()
        return message

    def pending(self, *, limit: int = 50, max_attempts: int = 5) -> list[OutboxMessage]:
        stmt = (
            select(OutboxMessage)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING.value,
                OutboxMessage.attempts < max_attempts,
            )
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
            .limit(limit)
        )
        return list(self.session.scalars(stmt))

    def mark_sent(self, message: OutboxMessage) -> None:
        message.status = OutboxStatus.SENT.value
        message.attempts += 1
        message.sent_at = utcnow()
        message.last_error = None
        self.session.flush()

    def mark_failed(self, message: OutboxMessage, error: str, *, max_attempts: int = 5) -> None:
        message.attempts += 1
        message.last_error = error[:1000]
        if message.attempts >= max_attempts:
            message.status = OutboxStatus.FAILED.value
        self.session.flush()


# --------------------------------------------------------------------------- usage and audit


def current_period(now: datetime | None = None) -> str:
    return (now or utcnow()).strftime("%Y-%m")


@dataclass(frozen=True)
class UsageTotal:
    period: str
    metric: str
    quantity: float


class UsageRepository:
    """Usage per organisation, metric and month (``YYYY-MM``)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def record(
        self, metric: str, quantity: float, *, org_id: uuid.UUID, period: str | None = None
    ) -> UsageRecord:
        row = UsageRecord(
            org_id=org_id, metric=metric, quantity=quantity, period=period or current_period()
        )
        self.session.add(row)
        self.session.flush()
        return row

    def totals(self, *, org_id: uuid.UUID, period: str | None = None) -> list[UsageTotal]:
        stmt = (
            select(UsageRecord.period, UsageRecord.metric, func.sum(UsageRecord.quantity))
            .where(UsageRecord.org_id == org_id)
            .group_by(UsageRecord.period, UsageRecord.metric)
            .order_by(UsageRecord.period.desc(), UsageRecord.metric)
        )
        if period is not None:
            stmt = stmt.where(UsageRecord.period == period)
        return [UsageTotal(p, m, float(q or 0.0)) for p, m, q in self.session.execute(stmt)]


class AuditLogRepository(AuditRepository):
    """Writes audit entries (inherited) and reads one organisation's, newest first."""

    def list(
        self,
        *,
        org_id: uuid.UUID,
        actions: Sequence[str] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AuditLog]:
        stmt = select(AuditLog).where(AuditLog.org_id == org_id)
        if actions:
            stmt = stmt.where(AuditLog.action.in_(list(actions)))
        stmt = stmt.order_by(AuditLog.created_at.desc(), AuditLog.id).limit(limit).offset(offset)
        return list(self.session.scalars(stmt))


def check_period(period: str) -> str:
    """``YYYY-MM`` with a real month, else ``InvalidInputError``."""
    try:
        datetime.strptime(period, "%Y-%m")
    except ValueError as exc:
        raise InvalidInputError("period must be YYYY-MM") from exc
    return period


# --------------------------------------------------------------------------- row-level security


def scope_to_org(session: Session, org_id: uuid.UUID) -> None:
    """Confine the rest of this transaction to ``org_id``'s rows.

    On PostgreSQL this sets ``terrascan.org_id``, which the row-level security policies on the
    tenant tables read (migration 0002): a query that forgot its ``org_id`` filter still sees
    only this organisation's rows, and cannot write another's. Elsewhere it does nothing.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.set_config("terrascan.org_id", str(org_id), True)))
