"""Share links: a public, read-only view of one analysis result, reached by a bearer token.

The token (256 random bits, URL-safe) is handed to its creator once; the catalog keeps only its
SHA-256 digest, like refresh and invitation tokens. A link names exactly one target (S1) and
stops working when it expires or is revoked (S2): :func:`share_state` says which, and the API
answers 410 for both.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from terrascan.catalog.accounts import hash_token, new_token
from terrascan.catalog.models import ShareLink, utcnow
from terrascan.errors import NotFoundError

#: The only kind of object a link shares so far: a completed analysis job's result.
RESULT_TARGET = "job"


class ShareState(enum.StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


def aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every timestamp we store is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def share_state(link: ShareLink, now: datetime | None = None) -> ShareState:
    """Revoked wins over expired; a link without an expiry never expires."""
    if link.revoked_at is not None:
        return ShareState.REVOKED
    expires = aware(link.expires_at)
    if expires is not None and expires <= (now or utcnow()):
        return ShareState.EXPIRED
    return ShareState.ACTIVE


class ShareLinkRepository:
    """Share links of one organisation (``org_id`` on every tenant read), and the lookup by
    token that the public routes make before they know any organisation."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(
        self,
        *,
        org_id: uuid.UUID,
        target_id: uuid.UUID,
        ttl: timedelta,
        created_by: uuid.UUID | None,
        target_type: str = RESULT_TARGET,
    ) -> tuple[ShareLink, str]:
        """A new link and its raw token (returned here only; the row keeps its digest)."""
        token = new_token()
        link = ShareLink(
            org_id=org_id,
            created_by=created_by,
            token_hash=hash_token(token),
            target_type=target_type,
            target_id=target_id,
            expires_at=utcnow() + ttl,
        )
        self.session.add(link)
        self.session.flush()
        return link, token

    def get(self, share_id: uuid.UUID, *, org_id: uuid.UUID) -> ShareLink:
        link = self.session.get(ShareLink, share_id)
        if link is None or link.org_id != org_id:
            raise NotFoundError(f"share link {share_id} not found")
        return link

    def list(self, *, org_id: uuid.UUID, limit: int = 100, offset: int = 0) -> list[ShareLink]:
        stmt = (
            select(ShareLink)
            .where(ShareLink.org_id == org_id)
            .order_by(ShareLink.created_at.desc(), ShareLink.id)
            .limit(limit)
            .offset(offset)
        )
        return list(self.session.scalars(stmt))

    def revoke(self, share_id: uuid.UUID, *, org_id: uuid.UUID) -> ShareLink:
        """Revoke the link (revoking a revoked link keeps its first revocation time)."""
        link = self.get(share_id, org_id=org_id)
        if link.revoked_at is None:
            link.revoked_at = utcnow()
            self.session.flush()
        return link

    def by_token(self, token: str) -> ShareLink:
        """The link whose token this is, whatever its state; ``NotFoundError`` if none."""
        link = self.session.scalars(
            select(ShareLink).where(ShareLink.token_hash == hash_token(token))
        ).one_or_none()
        if link is None:
            raise NotFoundError("share link not found")
        return link
