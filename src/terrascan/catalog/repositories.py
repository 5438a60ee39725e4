"""Repositories: the only way the rest of TerraScan reads and writes the catalog.

Every method that returns tenant rows takes the caller's ``org_id`` and filters by it, and a row
of another organisation is reported exactly like a missing one (``NotFoundError``).

Spatial search is one interface over two databases: PostGIS answers ``ST_Intersects`` on a
GIST-indexed geometry; SQLite narrows the rows by their bounding-box columns and shapely makes
the exact test. Both are planar tests in EPSG:4326, so they return the same rows.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from terrascan.catalog.models import (
    AOI,
    AnalysisJob,
    AuditLog,
    ImagerySource,
    Organization,
    OrgMember,
    Role,
    User,
    VectorFeature,
)
from terrascan.catalog.types import WGS84
from terrascan.errors import ConflictError, NotFoundError

TenantRow = TypeVar("TenantRow", AOI, ImagerySource, AnalysisJob, VectorFeature)
SpatialRow = TypeVar("SpatialRow", AOI, ImagerySource, VectorFeature)


class TenantRepository(Generic[TenantRow]):
    """Reads and writes one tenant-owned table, always scoped to one organisation."""

    model: ClassVar[type[Any]]
    noun: ClassVar[str] = "object"

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: TenantRow) -> TenantRow:
        self.session.add(row)
        self.session.flush()
        return row

    def get(self, row_id: uuid.UUID, *, org_id: uuid.UUID) -> TenantRow:
        row = self.session.get(self.model, row_id)
        if row is None or row.org_id != org_id:
            raise NotFoundError(f"{self.noun} {row_id} not found")
        return row  # type: ignore[no-any-return]

    def list(self, *, org_id: uuid.UUID, limit: int = 100, offset: int = 0) -> list[TenantRow]:
        stmt = (
            select(self.model)
            .where(self.model.org_id == org_id)
            .order_by(self.model.created_at.desc(), self.model.id)
            .limit(limit)
            .offset(offset)
        )
        return list(self.session.scalars(stmt))

    def delete(self, row_id: uuid.UUID, *, org_id: uuid.UUID) -> None:
        self.session.delete(self.get(row_id, org_id=org_id))
        self.session.flush()


class SpatialRepository(TenantRepository[SpatialRow]):
    """A tenant repository whose rows have a geometry that can be searched by intersection."""

    def _search(
        self, stmt: Select[Any], intersects: BaseGeometry | None, limit: int, offset: int
    ) -> list[SpatialRow]:
        model = self.model
        if intersects is None:
            return list(self.session.scalars(stmt.limit(limit).offset(offset)))
        if self.session.get_bind().dialect.name == "postgresql":
            shape = func.ST_GeomFromText(intersects.wkt, WGS84)
            stmt = stmt.where(func.ST_Intersects(model.geometry, shape))
            return list(self.session.scalars(stmt.limit(limit).offset(offset)))
        minx, miny, maxx, maxy = intersects.bounds
        stmt = stmt.where(
            model.minx <= maxx, model.maxx >= minx, model.miny <= maxy, model.maxy >= miny
        )
        shapely.prepare(intersects)
        hits = [row for row in self.session.scalars(stmt) if intersects.intersects(row.geometry)]
        return hits[offset : offset + limit]


_STORED_RASTER = select(ImagerySource.storage_key, ImagerySource.bands).where(
    ImagerySource.id == bindparam("id"),
    ImagerySource.org_id == bindparam("org_id"),
    ImagerySource.status == "ready",
    ImagerySource.storage_key.is_not(None),
)  # built once: a tile request's lookup, where building the statement costs more than running it


class ImageryRepository(SpatialRepository[ImagerySource]):
    model = ImagerySource
    noun = "imagery"

    def stored_raster(self, row_id: uuid.UUID, *, org_id: uuid.UUID) -> tuple[str, list[str]]:
        """The storage key and band names of a ready scene of ``org_id`` (what a tile request
        needs: two columns, not the whole row with its geometry), else 404."""
        found = self.session.execute(_STORED_RASTER, {"id": row_id, "org_id": org_id}).first()
        if found is None:
            raise NotFoundError(f"{self.noun} {row_id} has no stored raster")
        return str(found[0]), [str(n) for n in (found[1] or {}).get("names", [])]

    def search(
        self,
        *,
        org_id: uuid.UUID,
        intersects: BaseGeometry | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        max_cloud: float | None = None,
        collections: Sequence[str] | None = None,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[ImagerySource]:
        """Scenes of ``org_id`` matching every given filter, newest acquisition first."""
        m = ImagerySource
        stmt = select(m).where(m.org_id == org_id)
        if start is not None:
            stmt = stmt.where(m.acquired_at >= start)
        if end is not None:
            stmt = stmt.where(m.acquired_at <= end)
        if max_cloud is not None:
            stmt = stmt.where(m.cloud_cover <= max_cloud)
        if collections:
            stmt = stmt.where(m.collection.in_(list(collections)))
        if status is not None:
            stmt = stmt.where(m.status == status)
        stmt = stmt.order_by(m.acquired_at.desc(), m.id)
        return self._search(stmt, intersects, limit, offset)

    def get_by_dedupe_key(self, dedupe_key: str, *, org_id: uuid.UUID) -> ImagerySource | None:
        stmt = select(ImagerySource).where(
            ImagerySource.org_id == org_id, ImagerySource.dedupe_key == dedupe_key
        )
        return self.session.scalars(stmt).first()


class AOIRepository(SpatialRepository[AOI]):
    model = AOI
    noun = "aoi"

    def search(
        self,
        *,
        org_id: uuid.UUID,
        intersects: BaseGeometry | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AOI]:
        stmt = select(AOI).where(AOI.org_id == org_id).order_by(AOI.created_at.desc(), AOI.id)
        return self._search(stmt, intersects, limit, offset)


class VectorFeatureRepository(SpatialRepository[VectorFeature]):
    model = VectorFeature
    noun = "feature"

    def for_job(self, job_id: uuid.UUID, *, org_id: uuid.UUID) -> list[VectorFeature]:
        stmt = (
            select(VectorFeature)
            .where(VectorFeature.org_id == org_id, VectorFeature.job_id == job_id)
            .order_by(VectorFeature.created_at, VectorFeature.id)
        )
        return list(self.session.scalars(stmt))


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "org"


class UserRepository:
    """Users and their organisations (not tenant rows: a user may belong to several)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, user_id: uuid.UUID) -> User:
        user = self.session.get(User, user_id)
        if user is None:
            raise NotFoundError(f"user {user_id} not found")
        return user

    def get_by_email(self, email: str) -> User | None:
        return self.session.scalars(select(User).where(User.email == email.lower())).first()

    def create(
        self, *, email: str, name: str, password_hash: str | None, is_superuser: bool = False
    ) -> User:
        """Create a user with a personal organisation that they own."""
        email = email.strip().lower()
        if self.get_by_email(email) is not None:
            raise ConflictError("a user with this email already exists")
        user = User(email=email, name=name, password_hash=password_hash, is_superuser=is_superuser)
        org = Organization(
            name=f"{name or email}'s workspace",
            slug=f"{_slugify(email.split('@')[0])}-{uuid.uuid4().hex[:8]}",
            is_personal=True,
        )
        self.session.add_all([user, org])
        try:
            self.session.flush()
        except IntegrityError as exc:  # a concurrent registration with the same email
            raise ConflictError("a user with this email already exists") from exc
        self.session.add(OrgMember(org_id=org.id, user_id=user.id, role=Role.OWNER))
        self.session.flush()
        return user

    def memberships(self, user_id: uuid.UUID) -> list[tuple[Organization, str]]:
        stmt = (
            select(Organization, OrgMember.role)
            .join(OrgMember, OrgMember.org_id == Organization.id)
            .where(OrgMember.user_id == user_id)
            .order_by(Organization.is_personal.desc(), Organization.name)
        )
        return [(org, role) for org, role in self.session.execute(stmt)]


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(
        self,
        action: str,
        *,
        org_id: uuid.UUID | None = None,
        actor_id: uuid.UUID | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        ip: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditLog:
        entry = AuditLog(
            action=action,
            org_id=org_id,
            actor_id=actor_id,
            target_type=target_type,
            target_id=target_id,
            ip=ip,
            details=details or {},
        )
        self.session.add(entry)
        self.session.flush()
        return entry
