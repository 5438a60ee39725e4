"""Imagery: upload a GeoTIFF, search the organisation's catalog, discover scenes in the
configured STAC API and ingest them (a job), read one record, fetch its thumbnail or COG. Only
the caller's organisation's imagery is visible (others' answer 404)."""

from __future__ import annotations

import base64
import binascii
import json
import math
import shutil
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import shapely
from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from shapely.geometry import box, mapping, shape
from shapely.geometry.base import BaseGeometry
from starlette.datastructures import UploadFile

from terrascan.api.deps import CatalogDep, SessionDep, SettingsDep, StoreDep
from terrascan.api.routes.jobs import JobPublic
from terrascan.api.security import CommitFirst, OrgContext, require
from terrascan.catalog.imagery import (
    ImageryQuery,
    ImagerySearchRepository,
    SearchAfter,
    SortKey,
    sort_value,
)
from terrascan.catalog.models import ImagerySource
from terrascan.catalog.repositories import AOIRepository
from terrascan.errors import InvalidInputError, NotFoundError, TooLargeError
from terrascan.io.stac_client import (
    MAX_GEOMETRY_VERTICES,
    StacClient,
    check_geometry,
    parse_bbox,
    parse_datetime_range,
)
from terrascan.jobs.ingest import IngestSpec, check_spec, iso_utc, record_dict
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


def _b64encode(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _b64decode(cursor: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidInputError("invalid cursor") from None


def encode_cursor(offset: int) -> str:
    """An offset cursor (the STAC API's ``token``)."""
    return _b64encode({"o": offset})


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    value = _b64decode(cursor)
    offset = value.get("o") if isinstance(value, dict) else None
    if type(offset) is not int or not 0 <= offset <= MAX_CURSOR_OFFSET:
        raise InvalidInputError("invalid cursor")
    return offset


def encode_search_cursor(after: SearchAfter) -> str:
    """The keyset cursor of ``/imagery/search``: base64url of ``{"s": sort, "v": the last
    row's sort value, "i": its id}`` (datetimes as RFC 3339 in UTC)."""
    value = after.value
    encoded = iso_utc(value) if isinstance(value, datetime) else value
    return _b64encode({"s": after.sort, "v": encoded, "i": str(after.id)})


def _cursor_value(sort: str, value: Any) -> datetime | float | None:
    if value is None:
        return None
    if sort.lstrip("-") == "cloud_cover":
        if type(value) not in (int, float) or not math.isfinite(value):
            raise InvalidInputError("invalid cursor")
        return float(value)
    if not isinstance(value, str) or len(value) > 40:
        raise InvalidInputError("invalid cursor")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInputError("invalid cursor") from None
    if when.tzinfo is None:
        raise InvalidInputError("invalid cursor")
    return when.astimezone(UTC)


def decode_search_cursor(cursor: str | None, sort: SortKey) -> SearchAfter | None:
    """The keyset position in ``cursor``; :class:`InvalidInputError` (422) for anything that
    is not a cursor of this API for the same sort order."""
    if not cursor:
        return None
    value = _b64decode(cursor)
    if not isinstance(value, dict) or set(value) != {"s", "v", "i"}:
        raise InvalidInputError("invalid cursor")
    if value["s"] != sort:
        raise InvalidInputError("the cursor belongs to another sort order")
    if not isinstance(value["i"], str):
        raise InvalidInputError("invalid cursor")
    try:
        row_id = uuid.UUID(value["i"])
    except ValueError:
        raise InvalidInputError("invalid cursor") from None
    return SearchAfter(sort, _cursor_value(sort, value["v"]), row_id)


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
    cursor: Annotated[
        str | None, Query(max_length=300, description="The previous page's next_cursor.")
    ] = None,
) -> dict[str, Any]:
    """Pages follow a keyset cursor: rows added between two requests never shift a page."""
    after = decode_search_cursor(cursor, sort)
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
        org_id=ctx.org_id, query=query, limit=limit + 1, after=after
    )
    links: list[dict[str, Any]] = []
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_search_cursor(SearchAfter(sort, sort_value(last, sort), last.id))
        href = str(request.url.include_query_params(cursor=next_cursor))
        links.append({"rel": "next", "type": "application/geo+json", "href": href})
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


# --------------------------------------------------------------------------- discover and ingest


class DiscoverRequest(BaseModel):
    """Search the configured STAC API: exactly one of ``bbox`` and ``aoi_id``."""

    model_config = ConfigDict(extra="forbid")

    bbox: tuple[float, float, float, float] | None = None
    aoi_id: uuid.UUID | None = None
    datetime: str | None = Field(default=None, max_length=100, examples=["2023-10-01/2023-10-31"])
    collections: list[str] | None = Field(default=None, min_length=1, max_length=20)
    max_cloud: float | None = Field(default=None, ge=0, le=100)
    limit: int = Field(default=50, ge=1, le=200)

    @model_validator(mode="after")
    def _one_area(self) -> DiscoverRequest:
        if (self.bbox is None) == (self.aoi_id is None):
            raise ValueError("give exactly one of bbox and aoi_id")
        return self


def _search_geometry(geometry: BaseGeometry) -> dict[str, Any]:
    """An AOI as a search geometry: its bounding box when it has too many vertices."""
    if shapely.get_num_coordinates(geometry) > MAX_GEOMETRY_VERTICES:
        geometry = box(*geometry.bounds)
    return dict(mapping(geometry))


@router.post("/discover", summary="Search the configured STAC API for scenes (GeoJSON)")
def discover(
    body: DiscoverRequest, ctx: Reader, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """Scenes of the external STAC API (``TERRASCAN_STAC_API_URL``) over a bbox or one of the
    organisation's AOIs; an unreachable or failing API answers 502."""
    intersects = None
    if body.aoi_id is not None:
        aoi = AOIRepository(session).get(body.aoi_id, org_id=ctx.org_id)
        intersects = _search_geometry(aoi.geometry)
    with StacClient(settings.stac_api_url) as client:
        result = client.search(
            bbox=body.bbox,
            intersects=intersects,
            datetime=body.datetime,
            collections=body.collections,
            max_cloud=body.max_cloud,
            limit=body.limit,
        )
    return {"type": "FeatureCollection", "features": [s.to_feature() for s in result.scenes]}


@router.post(
    "/ingest",
    response_model=JobPublic,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Ingest STAC items over an area of interest (a job)",
    dependencies=[CommitFirst],
)
def ingest(body: IngestSpec, ctx: Writer, session: SessionDep, request: Request) -> JobPublic:
    """Reads the items' bands over the AOI into COGs; the finished job's ``results_summary``
    holds ``imagery_ids`` and the ``imagery`` records."""
    check_spec(body)
    if body.aoi_id is not None:
        AOIRepository(session).get(body.aoi_id, org_id=ctx.org_id)  # 404 for another org's
    job = request.app.state.jobs.submit("ingest", body, org_id=ctx.org_id, created_by=ctx.user.id)
    return JobPublic.from_row(job)


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
