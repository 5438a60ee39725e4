"""Imagery: upload a GeoTIFF, search the organisation's catalog, read one record, fetch its
thumbnail or COG. Only the caller's organisation's imagery is visible (others' answer 404)."""

from __future__ import annotations

import base64
import binascii
import json
import shutil
import tempfile
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry
from starlette.datastructures import UploadFile

from terrascan.api.deps import CatalogDep, SessionDep, SettingsDep, StoreDep
from terrascan.api.security import OrgContext, require
from terrascan.catalog.imagery import ImageryQuery, ImagerySearchRepository, SortKey
from terrascan.catalog.models import ImagerySource
from terrascan.catalog.repositories import AOIRepository
from terrascan.errors import InvalidInputError, NotFoundError, TooLargeError
from terrascan.io.stac_client import check_geometry, parse_bbox, parse_datetime_range
from terrascan.jobs.ingest import record_dict
from terrascan.jobs.upload import upload_imagery

router = APIRouter(prefix="/imagery", tags=["imagery"])

Reader = Annotated[OrgContext, Depends(require("imagery:read"))]
Writer = Annotated[OrgContext, Depends(require("imagery:write"))]
MAX_CURSOR_OFFSET = 1_000_000
#: Room for the multipart framing and the small fields around the file.
MULTIPART_OVERHEAD = 1024 * 1024


class ImageryPublic(BaseModel):
    id: uuid.UUID
    provider: str
    collection: str
    scene_id: str
    name: str
    stac_item_url: str | None
    acquired_at: datetime | None
    cloud_cover: float | None
    bbox: list[float]
    geometry: dict[str, Any] | None
    crs: str | None
    resolution: float | None
    bands: list[str]
    band_info: dict[str, Any]
    size_bytes: int | None
    status: Literal["raw", "ready", "failed"]
    error: str | None
    has_thumbnail: bool
    created_at: datetime | None

    @classmethod
    def from_row(cls, row: ImagerySource) -> ImageryPublic:
        return cls.model_validate(record_dict(row))


# --------------------------------------------------------------------------- upload

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "A GeoTIFF (or COG) with a CRS.",
                        },
                        "bands": {"type": "string", "example": "red=1,green=2,blue=3,nir=4"},
                        "name": {"type": "string", "maxLength": 200},
                        "acquired": {"type": "string", "example": "2024-05-01"},
                    },
                }
            }
        },
    }
}


def _text_field(value: Any, name: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a text field")
    if len(value) > limit:
        raise InvalidInputError(f"{name} is longer than {limit} characters")
    return value.strip() or None


async def _save(upload: UploadFile, folder: Path, max_bytes: int) -> Path:
    path = folder / "upload.tif"
    size = 0
    with path.open("wb") as out:
        while chunk := await upload.read(1024 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise TooLargeError(f"the uploaded file is over the limit of {max_bytes:,} bytes")
            out.write(chunk)
    return path


def _acquired(text: str | None) -> datetime | None:
    if text is None:
        return None
    start, _end = parse_datetime_range(text)
    if start is None or "/" in text:
        raise InvalidInputError("acquired must be one date or time, e.g. 2024-05-01")
    return start


@router.post(
    "/upload",
    response_model=ImageryPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Upload a GeoTIFF",
    openapi_extra=_UPLOAD_BODY,
)
async def upload(
    request: Request, ctx: Writer, catalog: CatalogDep, store: StoreDep, settings: SettingsDep
) -> ImageryPublic:
    """Multipart ``file`` (GeoTIFF), optional ``bands``, ``name`` and ``acquired``."""
    folder = Path(tempfile.mkdtemp(prefix="terrascan-upload-"))
    try:
        async with request.form(max_files=1, max_fields=3, max_part_size=64 * 1024) as form:
            file = form.get("file")
            if not isinstance(file, UploadFile):
                raise InvalidInputError("the multipart field 'file' with a GeoTIFF is required")
            bands = _text_field(form.get("bands"), "bands", 500)
            name = _text_field(form.get("name"), "name", 200)
            acquired = _acquired(_text_field(form.get("acquired"), "acquired", 64))
            path = await _save(file, folder, settings.upload_max_bytes)
            filename = file.filename
        row = await run_in_threadpool(
            upload_imagery,
            path,
            org_id=ctx.org_id,
            catalog=catalog,
            store=store,
            bands=bands,
            name=name,
            acquired=acquired,
            filename=filename,
            max_bytes=settings.upload_max_bytes,
            max_pixels=settings.upload_max_pixels,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return ImageryPublic.from_row(row)


# --------------------------------------------------------------------------- search


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        offset = json.loads(raw)["o"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise InvalidInputError("invalid cursor") from None
    if not isinstance(offset, int) or not 0 <= offset <= MAX_CURSOR_OFFSET:
        raise InvalidInputError("invalid cursor")
    return offset


def parse_intersects(text: str) -> BaseGeometry:
    try:
        value = json.loads(text)
    except ValueError:
        raise InvalidInputError("intersects must be a GeoJSON geometry") from None
    return shape(check_geometry(value))


def area_filter(
    session: Any,
    org_id: uuid.UUID,
    bbox: str | None,
    intersects: str | None,
    aoi_id: uuid.UUID | None,
) -> BaseGeometry | None:
    given = [x for x in (bbox, intersects, aoi_id) if x is not None]
    if len(given) > 1:
        raise InvalidInputError("give at most one of bbox, intersects and aoi_id")
    if bbox is not None:
        return box(*parse_bbox(bbox))
    if intersects is not None:
        return parse_intersects(intersects)
    if aoi_id is not None:
        geometry: BaseGeometry = AOIRepository(session).get(aoi_id, org_id=org_id).geometry
        return geometry
    return None


def feature(row: ImagerySource) -> dict[str, Any]:
    properties = ImageryPublic.from_row(row).model_dump(mode="json")
    geometry = properties.pop("geometry")
    return {
        "type": "Feature",
        "id": str(row.id),
        "bbox": properties["bbox"],
        "geometry": geometry,
        "properties": properties,
    }


def _next_url(request: Request, offset: int) -> str:
    return str(request.url.include_query_params(cursor=encode_cursor(offset)))


@router.get("/search", summary="Search the organisation's imagery (GeoJSON)")
def search(
    request: Request,
    ctx: Reader,
    session: SessionDep,
    bbox: Annotated[str | None, Query(max_length=200, examples=["9.5,44.5,10.5,45.5"])] = None,
    intersects: Annotated[
        str | None, Query(max_length=200_000, description="A GeoJSON geometry.")
    ] = None,
    aoi_id: uuid.UUID | None = None,
    datetime: Annotated[
        str | None, Query(max_length=100, examples=["2024-01-01/2024-03-31"])
    ] = None,
    max_cloud: Annotated[float | None, Query(ge=0, le=100)] = None,
    provider: Annotated[
        str | None, Query(max_length=200, description="Comma-separated providers.")
    ] = None,
    collection: Annotated[str | None, Query(max_length=500)] = None,
    status: Literal["raw", "ready", "failed"] | None = None,
    sort: SortKey = "-acquired_at",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    offset = decode_cursor(cursor)
    start, end = parse_datetime_range(datetime) if datetime else (None, None)
    query = ImageryQuery(
        intersects=area_filter(session, ctx.org_id, bbox, intersects, aoi_id),
        start=start,
        end=end,
        max_cloud=max_cloud,
        providers=_split(provider),
        collections=_split(collection),
        status=status,
        sort=sort,
    )
    rows = ImagerySearchRepository(session).query(
        org_id=ctx.org_id, query=query, limit=limit + 1, offset=offset
    )
    links: list[dict[str, Any]] = []
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(offset + limit)
        links.append(
            {
                "rel": "next",
                "type": "application/geo+json",
                "href": _next_url(request, offset + limit),
            }
        )
    return {
        "type": "FeatureCollection",
        "features": [feature(row) for row in rows],
        "numberReturned": len(rows),
        "next_cursor": next_cursor,
        "links": links,
    }


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()] or None


# --------------------------------------------------------------------------- one record


def _row(session: Any, imagery_id: uuid.UUID, org_id: uuid.UUID) -> ImagerySource:
    row: ImagerySource = ImagerySearchRepository(session).get(imagery_id, org_id=org_id)
    return row


@router.get("/{imagery_id}", response_model=ImageryPublic, summary="One imagery record")
def read_imagery(imagery_id: uuid.UUID, ctx: Reader, session: SessionDep) -> ImageryPublic:
    return ImageryPublic.from_row(_row(session, imagery_id, ctx.org_id))


@router.get(
    "/{imagery_id}/thumbnail",
    summary="The record's thumbnail (PNG)",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def thumbnail(imagery_id: uuid.UUID, ctx: Reader, session: SessionDep, store: StoreDep) -> Response:
    row = _row(session, imagery_id, ctx.org_id)
    if row.thumbnail_key is None:
        raise NotFoundError(f"imagery {imagery_id} has no thumbnail")
    return Response(
        store.get(row.thumbnail_key),
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=3600"},
    )


@router.get(
    "/{imagery_id}/download",
    summary="The record's Cloud-Optimized GeoTIFF",
    response_class=StreamingResponse,
    responses={200: {"content": {"image/tiff; application=geotiff; profile=cloud-optimized": {}}}},
)
def download(
    imagery_id: uuid.UUID, ctx: Reader, session: SessionDep, store: StoreDep
) -> StreamingResponse:
    row = _row(session, imagery_id, ctx.org_id)
    if row.storage_key is None or row.status != "ready":
        raise NotFoundError(f"imagery {imagery_id} has no stored raster")
    headers = {"Content-Disposition": f'attachment; filename="{row.id}.tif"'}
    if row.size_bytes is not None:
        headers["Content-Length"] = str(row.size_bytes)
    return StreamingResponse(
        store.stream(row.storage_key),
        media_type="image/tiff; application=geotiff; profile=cloud-optimized",
        headers=headers,
    )


def max_body_size(settings: Any) -> int:
    """The byte cap of this router's request bodies (uploads plus multipart framing)."""
    return int(settings.upload_max_bytes) + MULTIPART_OVERHEAD
