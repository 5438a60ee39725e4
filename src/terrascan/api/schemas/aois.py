"""Areas of interest."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from terrascan.api.schemas.common import Name, PublicModel, RequestBody, Timestamp
from terrascan.api.schemas.geojson import PolygonGeometry, PolygonPublic
from terrascan.catalog.models import AOI, Schedule

Description = Annotated[str, StringConstraints(max_length=2000)]

_EXAMPLE: dict[str, Any] = {
    "name": "Lake shore",
    "description": "North shore wetlands",
    "geometry": {
        "type": "Polygon",
        "coordinates": [[[10.0, 45.0], [10.1, 45.0], [10.1, 45.1], [10.0, 45.0]]],
    },
    "monitoring": {"enabled": True, "schedule": "weekly"},
}


class Monitoring(BaseModel):
    """Whether new scenes over the AOI are ingested and analysed on a schedule."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    schedule: Schedule = Schedule.NONE

    @model_validator(mode="after")
    def _schedule_when_enabled(self) -> Self:
        if self.enabled and self.schedule is Schedule.NONE:
            raise ValueError("monitoring needs a schedule (daily, weekly or monthly) when enabled")
        return self


class AOIBase(RequestBody):
    name: Name
    description: Description = ""


class AOICreate(AOIBase):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    geometry: PolygonGeometry
    monitoring: Monitoring = Field(default_factory=Monitoring)


class AOIUpdate(RequestBody):
    """Fields to change; omitted fields stay as they are."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Lake shore (east)", "monitoring": {}}]}
    )

    name: Name | None = None
    description: Description | None = None
    geometry: PolygonGeometry | None = None
    monitoring: Monitoring | None = None


class AOIPublic(PublicModel):
    id: uuid.UUID
    org_id: uuid.UUID
    name: str
    description: str
    geometry: PolygonPublic
    #: Geodesic area on the WGS84 ellipsoid, in km².
    area_km2: float
    #: ``[min_lon, min_lat, max_lon, max_lat]``.
    bbox: list[float]
    monitoring: Monitoring
    created_by: uuid.UUID | None
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def from_row(cls, aoi: AOI) -> AOIPublic:
        fields: dict[str, Any] = {
            name: getattr(aoi, name)
            for name in (
                "id",
                "org_id",
                "name",
                "description",
                "area_km2",
                "created_by",
                "created_at",
                "updated_at",
            )
        }
        return cls(
            **fields,
            geometry=PolygonPublic.from_shape(aoi.geometry),
            bbox=[aoi.minx, aoi.miny, aoi.maxx, aoi.maxy],
            monitoring=Monitoring.model_construct(
                enabled=aoi.monitoring_enabled, schedule=Schedule(aoi.monitoring_schedule)
            ),
        )
