"""Searching an organisation's imagery: filters, sort orders and pagination for the catalog
search API and the STAC API. Spatial matching is the one shared interface
(:meth:`SpatialRepository._search`): PostGIS ``ST_Intersects`` or bounding boxes plus shapely
on SQLite, so both databases return the same rows in the same order.

Pages are cut by offset or by keyset: :class:`SearchAfter` holds the sort value and id of the
last row a caller saw, and the next page is the rows strictly after that position in the sort
order (``NULL`` values last, ``id`` ascending among ties). Rows inserted between two pages
therefore never shift the next page: each row that was there from the start is returned exactly
once."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, get_args

import attrs
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ColumnElement, and_, distinct, func, or_, select

from terrascan.catalog.models import ImagerySource
from terrascan.catalog.repositories import ImageryRepository
from terrascan.errors import InvalidInputError

__all__ = [
    "ImageryQuery",
    "ImagerySearchRepository",
    "SearchAfter",
    "SortKey",
    "resolve_org",
    "sort_value",
]

SortKey = Literal[
    "-acquired_at", "acquired_at", "-created_at", "created_at", "cloud_cover", "-cloud_cover"
]
SORT_KEYS: tuple[str, ...] = get_args(SortKey)
SortValue = datetime | float | None


@attrs.frozen
class SearchAfter:
    """A keyset position: the sort order, and the sort value and id of the last row seen."""

    sort: SortKey
    value: SortValue
    id: uuid.UUID


def sort_value(row: ImagerySource, sort: SortKey) -> SortValue:
    """The value ``row`` is ordered by under ``sort`` (what a :class:`SearchAfter` holds)."""
    value: SortValue = getattr(row, sort.lstrip("-"))
    return value


def _after(column: Any, descending: bool, after: SearchAfter) -> ColumnElement[bool]:
    """Rows strictly after ``after`` in ``ORDER BY column [DESC] NULLS LAST, id``."""
    m = ImagerySource
    if after.value is None:  # among the NULLs, which come last: only larger ids follow
        return and_(column.is_(None), m.id > after.id)
    beyond = column < after.value if descending else column > after.value
    return or_(beyond, and_(column == after.value, m.id > after.id), column.is_(None))


@attrs.frozen
class ImageryQuery:
    """Every filter the catalog search understands; ``None`` means "any"."""

    intersects: BaseGeometry | None = None
    start: datetime | None = None
    end: datetime | None = None
    max_cloud: float | None = None
    providers: Sequence[str] | None = None
    collections: Sequence[str] | None = None
    ids: Sequence[uuid.UUID] | None = None
    status: str | None = None
    sort: SortKey = "-acquired_at"


class ImagerySearchRepository(ImageryRepository):
    """:class:`ImageryRepository` with the full query of the search APIs."""

    def query(
        self,
        *,
        org_id: uuid.UUID,
        query: ImageryQuery,
        limit: int = 100,
        offset: int = 0,
        after: SearchAfter | None = None,
    ) -> list[ImagerySource]:
        """Rows of ``org_id`` matching ``query``, in its sort order (``id`` breaks ties),
        starting ``offset`` rows after the keyset position ``after`` (or the start)."""
        if query.sort not in SORT_KEYS:
            raise InvalidInputError(f"sort must be one of {', '.join(SORT_KEYS)}")
        if after is not None and after.sort != query.sort:
            raise InvalidInputError("the cursor belongs to another sort order")
        m = ImagerySource
        stmt = select(m).where(m.org_id == org_id)
        if query.start is not None:
            stmt = stmt.where(m.acquired_at >= query.start)
        if query.end is not None:
            stmt = stmt.where(m.acquired_at <= query.end)
        if query.max_cloud is not None:
            stmt = stmt.where(m.cloud_cover <= query.max_cloud)
        if query.providers:
            stmt = stmt.where(m.provider.in_(list(query.providers)))
        if query.collections:
            stmt = stmt.where(m.collection.in_(list(query.collections)))
        if query.ids is not None:
            stmt = stmt.where(m.id.in_(list(query.ids)))
        if query.status is not None:
            stmt = stmt.where(m.status == query.status)
        descending = query.sort.startswith("-")
        column: Any = getattr(m, query.sort.lstrip("-"))
        order = column.desc() if descending else column.asc()
        if after is not None:
            stmt = stmt.where(_after(column, descending, after))
        stmt = stmt.order_by(order.nulls_last(), m.id)
        return self._search(stmt, query.intersects, limit, offset)

    def collections(self, *, org_id: uuid.UUID) -> list[tuple[str, int]]:
        """``(collection, number of ready rows)`` of ``org_id``, by name."""
        m = ImagerySource
        stmt = (
            select(m.collection, func.count(distinct(m.id)))
            .where(m.org_id == org_id, m.status == "ready")
            .group_by(m.collection)
            .order_by(m.collection)
        )
        return [(name, int(count)) for name, count in self.session.execute(stmt)]

    def extent(
        self, *, org_id: uuid.UUID, collection: str
    ) -> tuple[tuple[float, float, float, float] | None, datetime | None, datetime | None]:
        """Bounding box and time span of one collection's ready rows."""
        m = ImagerySource
        stmt = select(
            func.min(m.minx),
            func.min(m.miny),
            func.max(m.maxx),
            func.max(m.maxy),
            func.min(m.acquired_at),
            func.max(m.acquired_at),
        ).where(m.org_id == org_id, m.status == "ready", m.collection == collection)
        minx, miny, maxx, maxy, first, last = self.session.execute(stmt).one()
        box = None if minx is None else (float(minx), float(miny), float(maxx), float(maxy))
        return box, first, last


def resolve_org(session: Any, ref: str | None) -> uuid.UUID:
    """The organisation named by ``ref`` (its id or slug), or the only one when ``ref`` is
    ``None`` (the embedded, single-analyst case); :class:`InvalidInputError` otherwise."""
    from terrascan.catalog.models import Organization
    from terrascan.errors import NotFoundError

    if ref:
        stmt = select(Organization).where(Organization.slug == ref)
        with contextlib.suppress(ValueError):
            stmt = select(Organization).where(Organization.id == uuid.UUID(ref))
        org = session.scalars(stmt).first()
        if org is None:
            raise NotFoundError(f"organisation {ref!r} not found")
        return uuid.UUID(str(org.id))
    orgs = list(session.scalars(select(Organization.id).limit(2)))
    if len(orgs) != 1:
        raise InvalidInputError(
            "no organisation yet: create a user first (terrascan user create)"
            if not orgs
            else "several organisations exist: choose one with --org ID_OR_SLUG"
        )
    return uuid.UUID(str(orgs[0]))
