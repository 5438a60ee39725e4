"""Uploads: a user's own GeoTIFF becomes a COG in the store and a ``ready`` imagery record.

The same path serves ``POST /api/v1/imagery/upload``, ``terrascan upload`` and the offline
demo. The file is checked (:func:`terrascan.io.upload.inspect_upload`) before any pixel is read;
a rejection leaves nothing in the store or the catalog.
"""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from shapely.geometry import box

from terrascan.catalog.database import Catalog
from terrascan.catalog.models import ImagerySource, ImageryStatus
from terrascan.catalog.repositories import ImageryRepository
from terrascan.errors import InvalidInputError, TerraScanError
from terrascan.io.storage import ObjectStore
from terrascan.io.upload import (
    UploadPlan,
    describe,
    inspect_upload,
    upload_thumbnail,
    write_upload_cog,
)
from terrascan.jobs.ingest import imagery_keys

__all__ = ["DEFAULT_MAX_UPLOAD_BYTES", "DEFAULT_MAX_UPLOAD_PIXELS", "upload_imagery"]

DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024**3
DEFAULT_MAX_UPLOAD_PIXELS = 2_000_000_000
MAX_NAME_CHARS = 200


def _clean_name(name: str | None, filename: str | None) -> str:
    text = (name or "").strip() or Path(filename or "upload").stem or "upload"
    text = "".join(ch for ch in text if ch.isprintable())
    if not text:
        raise InvalidInputError("name must contain printable characters")
    return text[:MAX_NAME_CHARS]


def upload_imagery(
    path: Path,
    *,
    org_id: uuid.UUID,
    catalog: Catalog,
    store: ObjectStore,
    bands: str | Mapping[str, int] | None = None,
    name: str | None = None,
    acquired: datetime | None = None,
    filename: str | None = None,
    provider: str = "upload",
    collection: str = "",
    cloud_cover: float | None = None,
    max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_pixels: int = DEFAULT_MAX_UPLOAD_PIXELS,
) -> ImagerySource:
    """Check ``path``, store it as a COG with a thumbnail and record it; return the record."""
    label = _clean_name(name, filename)
    plan = inspect_upload(path, max_bytes=max_bytes, max_pixels=max_pixels, mapping=bands)
    imagery_id = uuid.uuid4()
    cog_key, thumb_key = imagery_keys(org_id, imagery_id)
    with tempfile.TemporaryDirectory(prefix="terrascan-upload-") as folder:
        cog = write_upload_cog(path, plan, Path(folder) / "scene.tif")
        thumbnail = upload_thumbnail(cog, plan)
        size = cog.stat().st_size
        try:
            with cog.open("rb") as fh:
                store.put(cog_key, fh)
            store.put(thumb_key, thumbnail)
            return _record(
                catalog,
                imagery_id,
                org_id,
                plan,
                label,
                acquired,
                provider,
                collection,
                cloud_cover,
                size,
                cog_key,
                thumb_key,
            )
        except BaseException:
            _remove(store, cog_key, thumb_key)
            raise


def _record(
    catalog: Catalog,
    imagery_id: uuid.UUID,
    org_id: uuid.UUID,
    plan: UploadPlan,
    label: str,
    acquired: datetime | None,
    provider: str,
    collection: str,
    cloud_cover: float | None,
    size: int,
    cog_key: str,
    thumb_key: str,
) -> ImagerySource:
    bands = describe(plan) | {"label": label}
    row = ImagerySource(
        id=imagery_id,
        org_id=org_id,
        provider=provider,
        collection=collection,
        scene_id=label,
        dedupe_key=f"upload:{imagery_id}",
        stac_item_url=None,
        acquired_at=acquired,
        cloud_cover=cloud_cover,
        geometry=box(*plan.bounds_wgs84),
        crs=f"EPSG:{plan.epsg}",
        resolution=float(plan.grid.res[0]),
        bands=bands,
        storage_key=cog_key,
        thumbnail_key=thumb_key,
        size_bytes=size,
        status=ImageryStatus.READY,
        error=None,
    )
    with catalog.session() as session:
        return ImageryRepository(session).add(row)


def _remove(store: ObjectStore, *keys: str) -> None:
    for key in keys:
        with contextlib.suppress(TerraScanError):
            store.delete(key)
