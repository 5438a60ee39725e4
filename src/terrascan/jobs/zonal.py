"""The ``zonal-stats`` job type: statistics of a raster in each of a set of zones.

The values are a finished analysis's raster (the index of a ``spectral-index`` job, the change
mask of a ``change-detection`` job, whose mean is the changed fraction), or one band of an
imagery record: a common band name, or a spectral index computed on the fly. The zones are AOIs
of the organisation or the polygons of a GeoJSON FeatureCollection given with the request.

Statistics come from :func:`terrascan.engine.zonal` (exact medians and percentiles; a pixel
belongs to a zone when its centre lies inside). The engine labels each pixel with one zone, so
overlapping zones are split into layers of mutually disjoint zones and each layer is one pass.

Untrusted GeoJSON is checked structurally before any geometry library sees it (SECURITY.md U5):
counts of features, rings and positions (413 past the budget), finite numbers, longitude and
latitude ranges, closed rings; then the polygons must be valid in the OGC sense.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from terrascan.catalog.jobs import JobRepository
from terrascan.catalog.models import JobStatus
from terrascan.catalog.repositories import AOIRepository
from terrascan.core.indices import BAND_NAMES, INDICES
from terrascan.errors import InvalidInputError, TooLargeError
from terrascan.jobs.analysis import _band_names, _fetch, _mapping, _progress, _scene, _scratch
from terrascan.jobs.context import JobContext
from terrascan.jobs.registry import JobRegistry

__all__ = ["ZonalStatsSpec", "check_feature_collection", "register", "run_zonal_stats"]

#: Most features in a FeatureCollection, AOIs per request, positions over all features.
MAX_FEATURES = 1000
MAX_AOIS = 100
MAX_VERTICES = 100_000
MAX_RINGS = 1000
#: Groups of mutually overlapping zones at most: each group is one pass over the raster.
MAX_LAYERS = 16
#: Job types whose raster result zonal statistics can read.
SOURCE_JOB_TYPES = frozenset({"spectral-index", "change-detection"})

Percentile = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class ZonalStatsSpec(BaseModel):
    """Zonal statistics of one raster (``job_id``, or ``imagery_id`` with ``band``) over zones
    (``aoi_ids`` or a ``features`` FeatureCollection of polygons)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "imagery_id": "7f0c2a56-8f0e-4c55-9b89-6a1b1f6d2f10",
                    "band": "ndvi",
                    "features": {
                        "type": "FeatureCollection",
                        "features": [
                            {
                                "type": "Feature",
                                "id": "field-1",
                                "properties": {"name": "North field"},
                                "geometry": {
                                    "type": "Polygon",
                                    "coordinates": [
                                        [[15.0, 45.1], [15.01, 45.1], [15.01, 45.11], [15.0, 45.1]]
                                    ],
                                },
                            }
                        ],
                    },
                    "percentiles": [10, 90],
                }
            ]
        },
    )

    job_id: uuid.UUID | None = Field(
        None, description="A completed spectral-index or change-detection job."
    )
    imagery_id: uuid.UUID | None = Field(None, description="An imagery record (with band).")
    band: str | None = Field(
        None,
        max_length=16,
        description="A common band name (nir, red, ...) or an index (ndvi, ndwi, ndbi, evi, nbr).",
    )
    aoi_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_AOIS)] | None = None
    features: dict[str, Any] | None = Field(
        None, description="A GeoJSON FeatureCollection of Polygon/MultiPolygon features."
    )
    percentiles: Annotated[list[Percentile], Field(max_length=20)] = [10.0, 90.0]

    @field_validator("band")
    @classmethod
    def _known_band(cls, value: str | None) -> str | None:
        if value is not None and value not in BAND_NAMES and value not in INDICES:
            known = ", ".join([*BAND_NAMES, *sorted(INDICES)])
            raise ValueError(f"band must be one of {known}")
        return value

    @field_validator("features")
    @classmethod
    def _collection(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else check_feature_collection(value)

    @field_validator("percentiles")
    @classmethod
    def _unique(cls, value: list[float]) -> list[float]:
        return list(dict.fromkeys(float(q) for q in value))

    @model_validator(mode="after")
    def _one_of_each(self) -> Self:
        if (self.job_id is None) == (self.imagery_id is None):
            raise ValueError("give exactly one of job_id and imagery_id")
        if self.imagery_id is not None and self.band is None:
            raise ValueError("imagery_id needs a band (a common name or an index name)")
        if self.job_id is not None and self.band is not None:
            raise ValueError("band goes with imagery_id, not with job_id")
        if (self.aoi_ids is None) == (self.features is None):
            raise ValueError("give exactly one of aoi_ids and features")
        return self


# --------------------------------------------------------------------------- GeoJSON checks


def _positions(rings: Any, where: str) -> int:
    """Check rings of one polygon; return the number of positions."""
    if not isinstance(rings, list) or not rings:
        raise InvalidInputError(f"{where}: a polygon is a non-empty list of rings")
    count = 0
    for ring in rings:
        if not isinstance(ring, list) or len(ring) < 4:
            raise InvalidInputError(f"{where}: a ring needs at least four positions")
        for position in ring:
            if not isinstance(position, list) or not 2 <= len(position) <= 3:
                raise InvalidInputError(f"{where}: a position is [lon, lat]")
            for number in position:
                if isinstance(number, bool) or not isinstance(number, int | float):
                    raise InvalidInputError(f"{where}: coordinates must be numbers")
                if not math.isfinite(number):
                    raise InvalidInputError(f"{where}: coordinates must be finite")
            lon, lat = position[0], position[1]
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise InvalidInputError(f"{where}: position {lon}, {lat} is outside lon/lat")
        if ring[0][:2] != ring[-1][:2]:
            raise InvalidInputError(f"{where}: a ring must be closed")
        count += len(ring)
    return count


def _check_budget(features: Sequence[Any]) -> None:
    """TooLargeError past :data:`MAX_RINGS` rings or :data:`MAX_VERTICES` positions in all,
    counted over the nested lists without looking at the numbers (that comes after)."""
    rings = positions = 0
    stack = [
        f["geometry"].get("coordinates")
        for f in features
        if isinstance(f, dict) and isinstance(f.get("geometry"), dict)
    ]
    while stack:
        value = stack.pop()
        if not isinstance(value, list) or not value or not isinstance(value[0], list):
            continue
        if value[0] and not isinstance(value[0][0], list):  # a ring: a list of positions
            rings, positions = rings + 1, positions + len(value)
            if rings > MAX_RINGS or positions > MAX_VERTICES:
                raise TooLargeError(
                    f"the features have more than {MAX_VERTICES:,} positions or {MAX_RINGS:,} rings"
                )
        else:
            stack.extend(value)


def _check_geometry(geometry: Any, where: str) -> int:
    if not isinstance(geometry, dict) or set(geometry) - {"type", "coordinates", "bbox"}:
        raise InvalidInputError(f"{where}: geometry must be a GeoJSON Polygon or MultiPolygon")
    kind, coordinates = geometry.get("type"), geometry.get("coordinates")
    if kind == "Polygon":
        return _positions(coordinates, where)
    if kind == "MultiPolygon" and isinstance(coordinates, list) and coordinates:
        return sum(_positions(polygon, where) for polygon in coordinates)
    raise InvalidInputError(f"{where}: geometry must be a GeoJSON Polygon or MultiPolygon")


def check_feature_collection(document: Any) -> dict[str, Any]:
    """Return ``document`` if it is a FeatureCollection of 1..1000 valid polygon features in
    longitude/latitude; TooLargeError past the size budgets, InvalidInputError otherwise."""
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise InvalidInputError("features must be a GeoJSON FeatureCollection")
    if "crs" in document:
        raise InvalidInputError("features are longitude/latitude (RFC 7946); crs is not allowed")
    features = document.get("features")
    if not isinstance(features, list) or not features:
        raise InvalidInputError("the FeatureCollection holds no feature")
    if len(features) > MAX_FEATURES:
        raise TooLargeError(f"{len(features)} features; at most {MAX_FEATURES} are allowed")
    _check_budget(features)
    for index, feature in enumerate(features):
        where = f"feature {index}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise InvalidInputError(f"{where} is not a GeoJSON Feature")
        _check_geometry(feature.get("geometry"), where)
        if not isinstance(feature.get("properties") or {}, dict):
            raise InvalidInputError(f"{where}: properties must be an object")
        ident = feature.get("id")
        if isinstance(ident, bool) or not isinstance(ident, str | int | float | None):
            raise InvalidInputError(f"{where}: id must be a string or a number")
    _check_shapes(features)
    disjoint_layers([f["geometry"] for f in features])  # TooLargeError past MAX_LAYERS
    return document


def _check_shapes(features: Sequence[dict[str, Any]]) -> None:
    import shapely
    from shapely.geometry import shape

    for index, feature in enumerate(features):
        try:
            polygon = shape(feature["geometry"])
        except (shapely.errors.ShapelyError, ValueError, TypeError, IndexError):
            raise InvalidInputError(f"feature {index}: not a polygon") from None
        if not polygon.is_valid:
            reason = shapely.is_valid_reason(polygon)
            raise InvalidInputError(f"feature {index}: invalid polygon: {reason}")
        if polygon.area <= 0:
            raise InvalidInputError(f"feature {index}: the polygon has no area")


# --------------------------------------------------------------------------- zones


def _zones(ctx: JobContext, spec: ZonalStatsSpec) -> list[dict[str, Any]]:
    """``[{"zone", "name", "geometry"}]`` in request order (geometry: GeoJSON, EPSG:4326)."""
    from shapely.geometry import mapping

    if spec.features is not None:
        out = []
        for index, feature in enumerate(spec.features["features"]):
            ident = feature.get("id")
            name = (feature.get("properties") or {}).get("name")
            out.append(
                {
                    "zone": str(ident if ident is not None else index),
                    "name": name if isinstance(name, str) else None,
                    "geometry": feature["geometry"],
                }
            )
        return out
    if ctx.catalog is None:
        raise InvalidInputError("AOI zones need the catalog")
    with ctx.catalog.session() as session:
        repo = AOIRepository(session)
        rows = [repo.get(aoi_id, org_id=ctx.org_id) for aoi_id in spec.aoi_ids or []]
        return [{"zone": str(r.id), "name": r.name, "geometry": mapping(r.geometry)} for r in rows]


def disjoint_layers(
    geometries: Sequence[dict[str, Any]], max_layers: int = MAX_LAYERS
) -> list[list[int]]:
    """Indexes of ``geometries`` grouped so that no two in a group share interior area
    (greedy, in order): each group can be burnt into one label raster. TooLargeError once
    more than ``max_layers`` groups are needed (each is a pass over the raster)."""
    import shapely
    from shapely.geometry import shape

    shapes = [shape(g) for g in geometries]
    tree = shapely.STRtree(shapes)
    layer_of: list[int] = []
    layers: list[list[int]] = []
    for index, geom in enumerate(shapes):
        taken = {
            layer_of[int(j)]
            for j in tree.query(geom)
            if j < index and geom.relate_pattern(shapes[int(j)], "2********")
        }
        layer = next((n for n in range(len(layers)) if n not in taken), len(layers))
        if layer == len(layers):
            if len(layers) == max_layers:
                raise TooLargeError(
                    f"more than {max_layers} zones overlap one another; "
                    "split the request or merge overlapping zones"
                )
            layers.append([])
        layers[layer].append(index)
        layer_of.append(layer)
    return layers


# --------------------------------------------------------------------------- values


def _values(ctx: JobContext, spec: ZonalStatsSpec, folder: Path) -> tuple[Path, str, Any]:
    """``(raster, band for the engine, band mapping)`` of the values to summarise."""
    from terrascan.engine import compute_index

    if spec.job_id is not None:
        if ctx.catalog is None:
            raise InvalidInputError("a job's result needs the catalog")
        with ctx.catalog.session() as session:
            job = JobRepository(session).get(spec.job_id, org_id=ctx.org_id)
            key, kind, status = job.result_key, job.job_type, job.status
        if status != JobStatus.COMPLETED or key is None or kind not in SOURCE_JOB_TYPES:
            raise InvalidInputError(f"job {spec.job_id} has no raster result")
        return _fetch(ctx, str(key), folder / "values.tif"), "1", None
    assert spec.imagery_id is not None and spec.band is not None
    row = _scene(ctx, spec.imagery_id)
    names = _band_names(row)
    scene = _fetch(ctx, str(row.storage_key), folder / "scene.tif")
    if spec.band in INDICES:
        out = folder / f"{spec.band}.tif"
        compute_index(
            scene, spec.band, out, bands=_mapping(names), progress=_progress(ctx, 5.0, 25.0)
        )
        return out, "1", None
    if spec.band not in names:
        raise InvalidInputError(f"imagery {spec.imagery_id} has no band {spec.band!r}")
    return scene, spec.band, _mapping(names)


def _key(q: float) -> str:
    return f"p{q:g}"


def _row(zone: dict[str, Any], record: dict[str, Any], qs: Sequence[float]) -> dict[str, Any]:
    row = {
        "zone": zone["zone"],
        "name": zone["name"],
        "count": int(record["count"]),
        "mean": record["mean"],
        "median": record["median"],
        "std": record["std"],
        "min": record["minimum"],
        "max": record["maximum"],
    }
    for q in qs:
        row[_key(q)] = record["percentiles"][q]
    return row


def run_zonal_stats(spec: ZonalStatsSpec, ctx: JobContext) -> dict[str, Any]:
    """The ``zonal-stats`` runner: one row of statistics per zone, in request order."""
    from terrascan.engine import zonal

    zones = _zones(ctx, spec)
    qs = list(spec.percentiles)
    records: list[dict[str, Any] | None] = [None] * len(zones)
    with _scratch() as folder:
        raster, band, mapping = _values(ctx, spec, folder)
        ctx.progress(30.0, "values ready")
        layers = disjoint_layers([z["geometry"] for z in zones])
        for number, layer in enumerate(layers):
            path = folder / f"zones-{number}.geojson"
            path.write_text(json.dumps(_collection(zones, layer)))
            span = 60.0 / len(layers)
            result = zonal(
                raster, path, band, bands=mapping, percentiles=qs,
                progress=_progress(ctx, 30.0 + number * span, span),
            )  # fmt: skip
            for record in result.records():
                records[int(record["zone"])] = record
        rows = [_row(z, r, qs) for z, r in zip(zones, records, strict=True) if r is not None]
        out = folder / "zones.json"
        out.write_text(json.dumps(rows))
        key = ctx.output("zones.json", primary=True)
        with out.open("rb") as fh:
            ctx.store.put(key, fh)
    source = {"job_id": str(spec.job_id)} if spec.job_id else {"imagery_id": str(spec.imagery_id)}
    return {
        "zones": rows,
        "band": spec.band,
        "source": source,
        "percentiles": qs,
        "layers": len(layers),
        "result_key": key,
        "kind": "zones",
    }


def _collection(zones: Sequence[dict[str, Any]], indexes: Sequence[int]) -> dict[str, Any]:
    """The zones ``indexes`` as a FeatureCollection whose feature ids are their indexes."""
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": i, "properties": {}, "geometry": zones[i]["geometry"]}
            for i in indexes
        ],
    }


def register(registry: JobRegistry) -> None:
    registry.register("zonal-stats", ZonalStatsSpec, run_zonal_stats)
