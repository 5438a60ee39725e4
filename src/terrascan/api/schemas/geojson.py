"""GeoJSON polygons from untrusted clients: checked structurally before shapely sees them.

The rules, in the order they are checked (any failure is a 422):

1. ``{"type": "Polygon", "coordinates": [ring, ...]}``; ``crs`` and unknown members are refused
   (coordinates are always longitude/latitude on WGS84, RFC 7946).
2. Every number is finite (``NaN``/``Infinity``, which Python's JSON parser accepts, are refused);
   a position is ``[lon, lat]`` or ``[lon, lat, alt]`` (altitude dropped); ``-180 <= lon <= 180``
   and ``-90 <= lat <= 90``.
3. At most ``MAX_RINGS`` rings and ``MAX_VERTICES`` positions in all; each ring has at least four
   positions and is closed (its last position equals its first).
4. No edge spans 180 degrees of longitude or more (an AOI crossing the antimeridian must be split),
   so the planar polygon and its geodesic edges go the same way round.
5. Only then shapely: the polygon must be valid in the OGC sense (no self-intersection, holes
   inside the shell and not touching it along an edge, ...) and have a non-zero area.

The request body itself is capped (``Settings.max_json_body_bytes``) before JSON is parsed.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any, Literal, Self

import shapely
from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator
from pyproj import Geod
from shapely.geometry import Polygon, mapping
from shapely.geometry.polygon import orient

MAX_VERTICES = 10_000
MAX_RINGS = 100

_GEOD = Geod(ellps="WGS84")

Coordinate = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Position = Annotated[list[Coordinate], Field(min_length=2, max_length=3)]
Ring = Annotated[list[Position], Field(min_length=4, max_length=MAX_VERTICES)]


def _check_ring(index: int, ring: list[list[float]]) -> None:
    for lon, lat, *_ in ring:
        if not -180.0 <= lon <= 180.0:
            raise ValueError(f"ring {index}: longitude {lon} is outside [-180, 180]")
        if not -90.0 <= lat <= 90.0:
            raise ValueError(f"ring {index}: latitude {lat} is outside [-90, 90]")
    if ring[0][:2] != ring[-1][:2]:
        raise ValueError(f"ring {index} is not closed: its last position must equal its first")
    for (lon0, _, *_), (lon1, _, *_) in itertools.pairwise(ring):
        if abs(lon1 - lon0) >= 180.0:
            raise ValueError(
                f"ring {index}: an edge spans 180 degrees of longitude or more; "
                "split areas that cross the antimeridian"
            )


class PolygonGeometry(BaseModel):
    """A GeoJSON Polygon in longitude/latitude (see the module's rules)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "type": "Polygon",
                    "coordinates": [[[10.0, 45.0], [10.1, 45.0], [10.1, 45.1], [10.0, 45.0]]],
                }
            ]
        },
    )

    type: Literal["Polygon"]
    coordinates: Annotated[list[Ring], Field(min_length=1, max_length=MAX_RINGS)]
    bbox: Annotated[list[Coordinate], Field(min_length=4, max_length=6)] | None = None

    @model_validator(mode="after")
    def _valid(self) -> Self:
        vertices = sum(len(ring) for ring in self.coordinates)
        if vertices > MAX_VERTICES:
            raise ValueError(f"{vertices} positions; at most {MAX_VERTICES} are allowed")
        for index, ring in enumerate(self.coordinates):
            _check_ring(index, ring)
        polygon = self.to_shape()
        if not polygon.is_valid:
            raise ValueError(f"invalid polygon: {shapely.is_valid_reason(polygon)}")
        if polygon.area <= 0:
            raise ValueError("the polygon has no area")
        return self

    def to_shape(self) -> Polygon:
        """The polygon in 2-D, exterior ring counter-clockwise (RFC 7946)."""
        shell, *holes = [[(p[0], p[1]) for p in ring] for ring in self.coordinates]
        return orient(Polygon(shell, holes), sign=1.0)


class PolygonPublic(BaseModel):
    type: Literal["Polygon"] = "Polygon"
    coordinates: list[list[list[float]]]

    @classmethod
    def from_shape(cls, polygon: Any) -> PolygonPublic:
        rings = mapping(polygon)["coordinates"]
        return cls(coordinates=[[list(p) for p in ring] for ring in rings])


def geodesic_area_km2(polygon: Polygon) -> float:
    """Area on the WGS84 ellipsoid, edges taken as geodesics, holes subtracted, in km²."""
    area_m2, _ = _GEOD.geometry_area_perimeter(orient(polygon, sign=1.0))
    return abs(area_m2) / 1e6
