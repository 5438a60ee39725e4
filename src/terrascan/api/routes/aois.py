"""Areas of interest: CRUD over the caller's organisation's AOIs."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from shapely.geometry import box

from terrascan.api.deps import SessionDep
from terrascan.api.schemas.aois import AOICreate, AOIPublic, AOIUpdate
from terrascan.api.schemas.geojson import geodesic_area_km2
from terrascan.api.security import CommitFirst, OrgContext, client_ip, require
from terrascan.catalog.accounts import AuditLogRepository, UsageRepository
from terrascan.catalog.models import AOI
from terrascan.catalog.repositories import AOIRepository
from terrascan.errors import InvalidInputError

router = APIRouter(prefix="/aois", tags=["aois"], dependencies=[CommitFirst])

BBox = Annotated[
    str | None,
    Query(
        max_length=200,
        description="Only AOIs intersecting min_lon,min_lat,max_lon,max_lat.",
        examples=["9.5,44.5,10.5,45.5"],
    ),
]


def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    try:
        minx, miny, maxx, maxy = (float(part) for part in text.split(","))
    except ValueError as exc:
        raise InvalidInputError(
            "bbox must be four numbers: min_lon,min_lat,max_lon,max_lat"
        ) from exc
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InvalidInputError("bbox must be ordered and within [-180, 180] x [-90, 90]")
    return minx, miny, maxx, maxy


@router.get("", response_model=list[AOIPublic], summary="AOIs of the organisation")
def list_aois(
    ctx: Annotated[OrgContext, Depends(require("aoi:read"))],
    session: SessionDep,
    bbox: BBox = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[AOIPublic]:
    area = box(*_parse_bbox(bbox)) if bbox else None
    rows = AOIRepository(session).search(
        org_id=ctx.org_id, intersects=area, limit=limit, offset=offset
    )
    return [AOIPublic.from_row(row) for row in rows]


@router.post(
    "", response_model=AOIPublic, status_code=status.HTTP_201_CREATED, summary="Create an AOI"
)
def create_aoi(
    body: AOICreate,
    ctx: Annotated[OrgContext, Depends(require("aoi:create"))],
    session: SessionDep,
) -> AOIPublic:
    polygon = body.geometry.to_shape()
    aoi = AOIRepository(session).add(
        AOI(
            org_id=ctx.org_id,
            created_by=ctx.user.id,
            name=body.name,
            description=body.description,
            geometry=polygon,
            area_km2=geodesic_area_km2(polygon),
            monitoring_enabled=body.monitoring.enabled,
            monitoring_schedule=body.monitoring.schedule.value,
        )
    )
    UsageRepository(session).record("aois_created", 1, org_id=ctx.org_id)
    return AOIPublic.from_row(aoi)


@router.get("/{aoi_id}", response_model=AOIPublic, summary="One AOI")
def read_aoi(
    aoi_id: uuid.UUID,
    ctx: Annotated[OrgContext, Depends(require("aoi:read"))],
    session: SessionDep,
) -> AOIPublic:
    return AOIPublic.from_row(AOIRepository(session).get(aoi_id, org_id=ctx.org_id))


@router.patch("/{aoi_id}", response_model=AOIPublic, summary="Change an AOI")
def update_aoi(
    aoi_id: uuid.UUID,
    body: AOIUpdate,
    ctx: Annotated[OrgContext, Depends(require("aoi:update"))],
    session: SessionDep,
) -> AOIPublic:
    aoi = AOIRepository(session).get(aoi_id, org_id=ctx.org_id)
    if body.name is not None:
        aoi.name = body.name
    if body.description is not None:
        aoi.description = body.description
    if body.geometry is not None:
        aoi.geometry = body.geometry.to_shape()
        aoi.area_km2 = geodesic_area_km2(aoi.geometry)
    if body.monitoring is not None:
        aoi.monitoring_enabled = body.monitoring.enabled
        aoi.monitoring_schedule = body.monitoring.schedule.value
    session.flush()
    return AOIPublic.from_row(aoi)


@router.delete("/{aoi_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an AOI")
def delete_aoi(
    aoi_id: uuid.UUID,
    request: Request,
    ctx: Annotated[OrgContext, Depends(require("aoi:delete"))],
    session: SessionDep,
) -> Response:
    repo = AOIRepository(session)
    aoi = repo.get(aoi_id, org_id=ctx.org_id)
    name = aoi.name
    repo.delete(aoi_id, org_id=ctx.org_id)
    AuditLogRepository(session).record(
        "aoi.deleted",
        org_id=ctx.org_id,
        actor_id=ctx.user.id,
        target_type="aoi",
        target_id=str(aoi_id),
        ip=client_ip(request),
        details={"name": name},
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
