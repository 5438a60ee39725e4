"""The ``timeseries`` job type: one spectral index over every ready scene of an AOI or a point.

For each ready imagery record of the organisation whose footprint intersects the AOI (or
contains the point), acquired within ``datetime`` when given, the scene's window over the area
is cropped (NaN outside the AOI's polygon, :mod:`terrascan.jobs.areas`), the index is computed
by :func:`terrascan.engine.compute_index`, and its statistics over the area come from
:func:`terrascan.core.zonal.zonal_statistics`. Per scene: ``count`` (valid index pixels),
``mean``, ``median``, ``std`` (population), and ``valid_fraction`` = count / the area's pixels
on the scene (``pixels``; the part of the area outside the scene is not counted). At a point
the area is the one pixel that contains it. Scenes without the bands the index needs, or whose
pixels miss the area, are listed under ``skipped``.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from terrascan.catalog.models import ImagerySource, ImageryStatus
from terrascan.catalog.repositories import ImageryRepository
from terrascan.core.indices import get_index
from terrascan.errors import InvalidInputError
from terrascan.io.stac_client import parse_datetime_range
from terrascan.jobs.analysis import IndexName, _band_names, _mapping, _scratch
from terrascan.jobs.areas import aoi_geometry, crop_to_area
from terrascan.jobs.context import JobContext
from terrascan.jobs.ingest import iso_utc
from terrascan.jobs.registry import JobRegistry

__all__ = ["TimeseriesSpec", "register", "run_timeseries"]

#: Most scenes in one series (narrow the datetime range beyond that).
MAX_SCENES = 500


class TimeseriesSpec(BaseModel):
    """A spectral index over every ready scene of an AOI (``aoi_id``) or at a ``point``."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "index_name": "ndvi",
                    "point": [15.01, 45.1],
                    "datetime": "2024-01-01/2024-12-31",
                }
            ]
        },
    )

    index_name: IndexName
    aoi_id: uuid.UUID | None = None
    point: tuple[
        float, float
    ] | None = Field(None, description="[longitude, latitude] in WGS84.")  # fmt: skip
    datetime: str | None = Field(
        None, max_length=100, description="An RFC 3339 interval A/B (either end may be '..')."
    )

    @field_validator("point")
    @classmethod
    def _lon_lat(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None:
            lon, lat = value
            if not (math.isfinite(lon) and math.isfinite(lat)):
                raise ValueError("point coordinates must be finite")
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise ValueError(
                    "point must be [longitude, latitude] within [-180, 180] x [-90, 90]"
                )
        return value

    @field_validator("datetime")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value is not None:
            parse_datetime_range(value)  # InvalidInputError (a ValueError) names the problem
        return value

    @model_validator(mode="after")
    def _one_place(self) -> Self:
        if (self.aoi_id is None) == (self.point is None):
            raise ValueError("give exactly one of aoi_id and point")
        return self


def _area(ctx: JobContext, spec: TimeseriesSpec) -> BaseGeometry:
    if spec.point is not None:
        return Point(*spec.point)
    assert spec.aoi_id is not None
    return aoi_geometry(ctx, spec.aoi_id)


def _scenes(ctx: JobContext, spec: TimeseriesSpec, area: BaseGeometry) -> list[ImagerySource]:
    if ctx.catalog is None:
        raise InvalidInputError("a time series needs the catalog")
    start, end = parse_datetime_range(spec.datetime) if spec.datetime else (None, None)
    with ctx.catalog.session() as session:
        rows = ImageryRepository(session).search(
            org_id=ctx.org_id, intersects=area, start=start, end=end,
            status=ImageryStatus.READY, limit=MAX_SCENES + 1,
        )  # fmt: skip
        for row in rows:
            session.expunge(row)
    if len(rows) > MAX_SCENES:
        raise InvalidInputError(f"more than {MAX_SCENES} scenes match; narrow the datetime range")
    ready = [r for r in rows if r.storage_key]
    return sorted(ready, key=lambda r: (r.acquired_at is None, _utc(r.acquired_at), str(r.id)))


def _utc(value: datetime | None) -> datetime:
    if value is None:
        return datetime.min.replace(tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _statistics(ctx: JobContext, spec: TimeseriesSpec, row: ImagerySource,
                area: BaseGeometry, folder: Path) -> dict[str, Any]:  # fmt: skip
    """The index's statistics over ``area`` on one scene (InvalidInputError: skip it)."""
    import numpy as np
    import rasterio

    from terrascan.core.zonal import zonal_statistics
    from terrascan.engine import compute_index

    names = _band_names(row)
    missing = [b for b in get_index(spec.index_name).bands if b not in names]
    if missing:
        raise InvalidInputError(f"the scene has no {', '.join(missing)} band")
    location = ctx.store.gdal_path(str(row.storage_key))
    crop = folder / f"{row.id}.tif"
    clip = crop_to_area(location.path, crop, area, env=location.env_kwargs())
    out = folder / f"{row.id}-{spec.index_name}.tif"
    compute_index(crop, spec.index_name, out, bands=_mapping(names), workers=1)
    with rasterio.open(out, driver="GTiff") as src:
        values = src.read(1)
    crop.unlink()
    out.unlink()
    stats = zonal_statistics(values, clip.inside.astype(np.int32), zone_ids=[1])
    count = int(stats.count[0])

    def number(array: Any) -> float | None:
        value = float(array[0])
        return value if math.isfinite(value) else None

    return {
        "imagery_id": str(row.id),
        "acquired": iso_utc(row.acquired_at),
        "mean": number(stats.mean),
        "median": number(stats.median),
        "std": number(stats.std),
        "valid_fraction": count / clip.pixels,
        "count": count,
        "pixels": clip.pixels,
    }


def run_timeseries(spec: TimeseriesSpec, ctx: JobContext) -> dict[str, Any]:
    """The ``timeseries`` runner: one entry per scene, by acquisition time (unknown last)."""
    area = _area(ctx, spec)
    rows = _scenes(ctx, spec, area)
    series: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    with _scratch() as folder:
        for number, row in enumerate(rows, start=1):
            ctx.check_cancelled()
            try:
                series.append(_statistics(ctx, spec, row, area, folder))
            except InvalidInputError as exc:
                skipped.append({"imagery_id": str(row.id), "reason": str(exc)})
            ctx.progress(90.0 * number / len(rows), f"{number}/{len(rows)} scenes")
        out = folder / "series.json"
        out.write_text(json.dumps(series))
        key = ctx.output("series.json", primary=True)
        with out.open("rb") as fh:
            ctx.store.put(key, fh)
    return {
        "index_name": spec.index_name,
        "series": series,
        "skipped": skipped,
        "result_key": key,
        "kind": "series",
    }


def register(registry: JobRegistry) -> None:
    registry.register("timeseries", TimeseriesSpec, run_timeseries)
