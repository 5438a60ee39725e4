"""Ingest STAC scenes into the catalog: the plain function, the ``ingest`` job type, and the
helpers uploads share (catalog records and their public form).

:func:`ingest_scene` takes one STAC item and one AOI and:

1. derives the dedupe key (item, AOI, bands): a scene already ``ready`` for that key is
   returned as it is (re-ingesting is a no-op); a ``raw`` or ``failed`` one is taken over;
2. records the scene as ``raw`` (provider, scene id, item link, acquisition time, footprint
   over the AOI, cloud cover from the item);
3. reads, masks and corrects the AOI window (:func:`terrascan.io.scene.read_scene`), writes
   the COG and thumbnail (:func:`terrascan.io.scene.write_scene`) and puts them in the store
   under ``imagery/<org>/<imagery id>/``. The window is the AOI's bounding box; when the AOI
   is a polygon other than a longitude/latitude rectangle, the window's pixels whose centre
   lies outside it are no data too (a bbox keeps its whole window);
4. marks the record ``ready`` with CRS, resolution, bands, size, storage keys and the cloud
   cover measured over the AOI, or ``failed`` with the error (and removes partial objects).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import shapely
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from shapely.geometry import box, mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy.exc import IntegrityError

from terrascan.catalog.database import Catalog
from terrascan.catalog.models import ImagerySource, ImageryStatus
from terrascan.catalog.repositories import ImageryRepository
from terrascan.errors import InvalidInputError, TerraScanError
from terrascan.io.scene import AssetAccess, SceneProduct, read_scene, write_scene
from terrascan.io.sensors import check_band_name
from terrascan.io.stac_client import (
    Scene,
    StacClient,
    check_collections,
    check_geometry,
    check_item_ids,
    normalise_item,
    parse_bbox,
)
from terrascan.io.storage import ObjectStore
from terrascan.jobs.context import JobContext
from terrascan.jobs.registry import JobRegistry

__all__ = [
    "IngestOutcome",
    "IngestSpec",
    "aoi_geometry",
    "aoi_polygon",
    "check_spec",
    "dedupe_key",
    "imagery_keys",
    "ingest_scene",
    "iso_utc",
    "record_dict",
    "register",
    "run_ingest",
]

log = logging.getLogger(__name__)
ProgressFn = Callable[[float, str], None]
IMAGERY_PREFIX = "imagery"
MAX_ERROR_CHARS = 1000


@attrs.frozen
class IngestOutcome:
    record: ImagerySource
    created: bool  # False when the scene and AOI were already ingested (a no-op)


# --------------------------------------------------------------------------- AOI and keys


def aoi_geometry(
    bbox: Sequence[float] | None = None, geojson: Mapping[str, Any] | None = None
) -> BaseGeometry:
    """The AOI as a valid shapely geometry in EPSG:4326, from a bbox or a GeoJSON geometry."""
    if (bbox is None) == (geojson is None):
        raise InvalidInputError("give the AOI as a bbox or as a GeoJSON geometry (one of them)")
    if bbox is not None:
        return box(*parse_bbox(bbox))
    geometry = shape(check_geometry(dict(geojson or {})))
    if geometry.is_empty:
        raise InvalidInputError("the AOI geometry is empty")
    west, south, east, north = geometry.bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InvalidInputError("AOI coordinates must be longitude/latitude in EPSG:4326")
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    if geometry.area == 0:
        raise InvalidInputError("the AOI must be an area (a polygon), not a point or a line")
    return geometry


def dedupe_key(collection: str, item_id: str, aoi: BaseGeometry, bands: Sequence[str]) -> str:
    """``stac:<item>:<hash of collection, AOI and bands>`` (at most 200 characters)."""
    normal = shapely.normalize(shapely.set_precision(aoi, 1e-7))
    digest = hashlib.sha256(
        json.dumps([collection, item_id, normal.wkt, sorted(bands)]).encode()
    ).hexdigest()[:32]
    return f"stac:{item_id[:150]}:{digest}"


def imagery_keys(org_id: uuid.UUID, imagery_id: uuid.UUID) -> tuple[str, str]:
    """Store keys of an imagery record's COG and thumbnail."""
    prefix = f"{IMAGERY_PREFIX}/{org_id}/{imagery_id}"
    return f"{prefix}/scene.tif", f"{prefix}/thumbnail.png"


# --------------------------------------------------------------------------- records


def iso_utc(value: datetime | None) -> str | None:
    """RFC 3339 in UTC (SQLite hands back naive datetimes: they are UTC)."""
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


def record_dict(row: ImagerySource) -> dict[str, Any]:
    """The public form of an imagery record (no storage keys)."""
    bands = row.bands or {}
    return {
        "id": str(row.id),
        "provider": row.provider,
        "collection": row.collection,
        "scene_id": row.scene_id,
        "name": bands.get("label") or row.scene_id,
        "stac_item_url": row.stac_item_url,
        "acquired_at": iso_utc(row.acquired_at),
        "cloud_cover": row.cloud_cover,
        "bbox": [row.minx, row.miny, row.maxx, row.maxy],
        "geometry": mapping(row.geometry) if row.geometry is not None else None,
        "crs": row.crs,
        "resolution": row.resolution,
        "bands": list(bands.get("names", [])),
        "band_info": {k: v for k, v in bands.items() if k not in ("names", "label")},
        "size_bytes": row.size_bytes,
        "status": str(row.status),
        "error": row.error,
        "has_thumbnail": row.thumbnail_key is not None,
        "created_at": iso_utc(row.created_at),
    }


def aoi_polygon(aoi: BaseGeometry) -> dict[str, Any] | None:
    """The AOI as GeoJSON to mask outside of, or ``None`` for a longitude/latitude rectangle
    (whose window is the whole of it)."""
    return None if aoi.equals(box(*aoi.bounds)) else dict(mapping(aoi))


def _footprint(scene: Scene, aoi: BaseGeometry) -> BaseGeometry:
    if scene.footprint is None:
        return aoi
    try:
        footprint = shapely.make_valid(shape(scene.footprint))
    except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException):
        return aoi
    inside = footprint.intersection(aoi)
    if inside.is_empty or inside.area == 0:
        raise InvalidInputError(f"the AOI does not intersect scene {scene.id}")
    return inside


def _provider(stac_api_url: str | None) -> str:
    host = (urlsplit(stac_api_url).hostname or "") if stac_api_url else ""
    return "earth-search" if "earth-search" in host else "stac"


def _claim(
    catalog: Catalog, org_id: uuid.UUID, key: str, fields: Mapping[str, Any]
) -> tuple[ImagerySource, bool]:
    """Return (record, True) to ingest it now, or (ready record, False) when already done."""
    for _attempt in range(2):
        try:
            with catalog.session() as session:
                repo = ImageryRepository(session)
                row = repo.get_by_dedupe_key(key, org_id=org_id)
                if row is not None and row.status == ImageryStatus.READY:
                    return row, False
                if row is None:
                    row = repo.add(ImagerySource(org_id=org_id, dedupe_key=key, **fields))
                for name, value in fields.items():
                    setattr(row, name, value)
                row.status, row.error = ImageryStatus.RAW, None
                session.flush()
                return row, True
        except IntegrityError:  # another worker recorded the same scene first
            continue
    raise InvalidInputError("could not record the scene (concurrent ingests of the same scene)")


def _finish(catalog: Catalog, row_id: uuid.UUID, org_id: uuid.UUID, **fields: Any) -> ImagerySource:
    with catalog.session() as session:
        row = ImageryRepository(session).get(row_id, org_id=org_id)
        for name, value in fields.items():
            setattr(row, name, value)
        session.flush()
        return row


def _error_text(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, TerraScanError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:MAX_ERROR_CHARS] or type(exc).__name__


def _store_outputs(
    store: ObjectStore, org_id: uuid.UUID, row_id: uuid.UUID, cog: Path, thumbnail: Path
) -> tuple[str, str]:
    cog_key, thumb_key = imagery_keys(org_id, row_id)
    try:
        with cog.open("rb") as fh:
            store.put(cog_key, fh)
        store.put(thumb_key, thumbnail.read_bytes())
    except BaseException:
        for key in (cog_key, thumb_key):
            with contextlib.suppress(TerraScanError):
                store.delete(key)
        raise
    return cog_key, thumb_key


def _ready_fields(product: SceneProduct, size: int, cog_key: str, thumb_key: str) -> dict[str, Any]:
    grid = product.raster.grid
    epsg = grid.crs.to_epsg()
    return {
        "status": ImageryStatus.READY,
        "error": None,
        "crs": f"EPSG:{epsg}" if epsg else grid.crs.to_string()[:50],
        "resolution": float(grid.res[0]),
        "cloud_cover": product.cloud_cover,
        "bands": {
            "names": list(product.raster.band_names),
            "dtype": "float32",
            "nodata": "nan",
            "width": grid.width,
            "height": grid.height,
            "quality_band": product.quality_band,
            "valid_fraction": round(product.valid_fraction, 6),
            "dark_values": dict(product.dark_values),
            "requests": product.requests,
            "bytes_fetched": product.bytes_fetched,
        },
        "storage_key": cog_key,
        "thumbnail_key": thumb_key,
        "size_bytes": size,
    }


def ingest_scene(
    scene: Scene | Mapping[str, Any],
    aoi: BaseGeometry,
    *,
    org_id: uuid.UUID,
    catalog: Catalog,
    store: ObjectStore,
    access: AssetAccess,
    bands: Sequence[str] | None = None,
    stac_api_url: str | None = None,
    progress: ProgressFn | None = None,
) -> IngestOutcome:
    """Ingest one scene (a :class:`Scene` or a parsed STAC item) over ``aoi``; see the module."""
    scene = scene if isinstance(scene, Scene) else normalise_item(scene)
    report = progress or (lambda pct, msg: None)
    chosen = list(bands) if bands else None
    key_bands = chosen or ["default"]
    key = dedupe_key(scene.collection, scene.id, aoi, key_bands)
    fields = {
        "provider": _provider(stac_api_url),
        "collection": scene.collection[:100],
        "scene_id": scene.id[:200],
        "stac_item_url": scene.self_href or _item_url(stac_api_url, scene),
        "acquired_at": scene.datetime,
        "cloud_cover": scene.cloud_cover,
        "geometry": _footprint(scene, aoi),
    }
    row, todo = _claim(catalog, org_id, key, fields)
    if not todo:
        report(100.0, f"{scene.id} already ingested")
        return IngestOutcome(row, created=False)
    try:
        product = read_scene(
            scene.item,
            aoi.bounds,
            access=access,
            bands=chosen,
            aoi=aoi_polygon(aoi),
            progress=report,
        )
        report(80.0, "writing the COG")
        with tempfile.TemporaryDirectory(prefix="terrascan-ingest-") as folder:
            cog, thumbnail = write_scene(product, Path(folder))
            size = cog.stat().st_size
            report(90.0, "storing")
            cog_key, thumb_key = _store_outputs(store, org_id, row.id, cog, thumbnail)
        row = _finish(catalog, row.id, org_id, **_ready_fields(product, size, cog_key, thumb_key))
    except BaseException as exc:
        log.warning("ingest of %s failed: %s", scene.id, _error_text(exc))
        _finish(catalog, row.id, org_id, status=ImageryStatus.FAILED, error=_error_text(exc))
        raise
    report(100.0, f"{scene.id} ready")
    return IngestOutcome(row, created=True)


def _item_url(api: str | None, scene: Scene) -> str | None:
    if not api:
        return None
    return f"{api.rstrip('/')}/collections/{scene.collection}/items/{scene.id}"


# --------------------------------------------------------------------------- the job type


class IngestSpec(BaseModel):
    """Ingest STAC items over an AOI (a bbox, a GeoJSON geometry or a catalog AOI id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item_ids: list[str] = Field(min_length=1, max_length=50)
    bbox: tuple[float, float, float, float] | None = None
    aoi: dict[str, Any] | None = None
    aoi_id: uuid.UUID | None = None
    bands: list[str] | None = Field(default=None, max_length=20)
    collections: list[str] | None = Field(default=None, min_length=1, max_length=20)

    @field_validator("bbox")
    @classmethod
    def _bbox(cls, value: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if value is not None and not all(math.isfinite(v) for v in value):
            raise ValueError("bbox values must be finite")
        return value

    @model_validator(mode="after")
    def _one_area(self) -> IngestSpec:
        given = sum(x is not None for x in (self.bbox, self.aoi, self.aoi_id))
        if given != 1:
            raise ValueError("give exactly one of bbox, aoi and aoi_id")
        return self


def check_spec(spec: IngestSpec) -> BaseGeometry | None:
    """Check what can be checked before the job runs, so a bad request fails at submission:
    item ids, collections, band names and an AOI given inline (returned; ``None`` for an AOI
    id, which the caller resolves in its organisation)."""
    check_item_ids(spec.item_ids)
    if spec.collections is not None:
        check_collections(spec.collections)
    for name in spec.bands or ():
        check_band_name(name)
    if spec.bands is not None and len(set(spec.bands)) != len(spec.bands):
        raise InvalidInputError(f"bands repeat: {', '.join(spec.bands)}")
    if spec.aoi_id is not None:
        return None
    return aoi_geometry(spec.bbox, spec.aoi)


def _spec_aoi(spec: IngestSpec, ctx: JobContext) -> BaseGeometry:
    if spec.aoi_id is None:
        return aoi_geometry(spec.bbox, spec.aoi)
    if ctx.catalog is None:
        raise InvalidInputError("an AOI id needs the catalog")
    from terrascan.catalog.repositories import AOIRepository

    with ctx.catalog.session() as session:
        return AOIRepository(session).get(spec.aoi_id, org_id=ctx.org_id).geometry


def run_ingest(spec: IngestSpec, ctx: JobContext) -> dict[str, Any]:
    """The ``ingest`` runner: settings come from the environment of the worker."""
    from terrascan.settings import get_settings

    if ctx.catalog is None:
        raise InvalidInputError("the ingest job needs the catalog")
    settings = get_settings()
    aoi = _spec_aoi(spec, ctx)
    with StacClient(settings.stac_api_url) as client:
        scenes = client.get_items(spec.item_ids, spec.collections)
    hosts: list[str] = list(settings.asset_hosts)
    access = AssetAccess(allowed_hosts=hosts)
    records = []
    for index, scene in enumerate(scenes):
        ctx.check_cancelled()
        share = 100.0 / len(scenes)

        def progress(pct: float, message: str, index: int = index, share: float = share) -> None:
            ctx.progress(index * share + pct * share / 100.0, message)

        outcome = ingest_scene(
            scene,
            aoi,
            org_id=ctx.org_id,
            catalog=ctx.catalog,
            store=ctx.store,
            access=access,
            bands=spec.bands,
            stac_api_url=settings.stac_api_url,
            progress=progress,
        )
        records.append({**record_dict(outcome.record), "created": outcome.created})
    return {"imagery": records, "imagery_ids": [r["id"] for r in records]}


def register(registry: JobRegistry) -> None:
    registry.register("ingest", IngestSpec, run_ingest)
