"""The catalog as a STAC API (core, collections, OGC API Features items, item search), so
pystac-client, QGIS's STAC plugin or any STAC client can browse a TerraScan instance.

Every route needs a bearer token and shows only the caller's organisation's ``ready`` imagery
(``X-Organization-ID`` picks another organisation of theirs). One STAC collection stands for
each catalog ``collection`` value; uploads (which have none) form the ``uploads`` collection.
Items are imagery records: the COG is the ``data`` asset, the thumbnail the ``thumbnail``.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from shapely.geometry import box, mapping, shape
from shapely.geometry.base import BaseGeometry

from terrascan.api.deps import SessionDep
from terrascan.api.routes.imagery import decode_cursor, encode_cursor
from terrascan.api.security import OrgContext, require
from terrascan.catalog.imagery import ImageryQuery, ImagerySearchRepository
from terrascan.catalog.models import ImagerySource
from terrascan.errors import InvalidInputError, NotFoundError
from terrascan.io.stac_client import check_geometry, parse_bbox, parse_datetime_range
from terrascan.jobs.ingest import iso_utc

router = APIRouter(tags=["stac"])

Reader = Annotated[OrgContext, Depends(require("imagery:read"))]
STAC_VERSION = "1.0.0"
UPLOADS = "uploads"
GEOJSON = "application/geo+json"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
EXTENSIONS = [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
]
CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
MAX_LIMIT = 500


def _root(request: Request) -> str:
    return str(request.url_for("stac_landing")).rstrip("/")


def _json(value: dict[str, Any], media_type: str = "application/json") -> JSONResponse:
    return JSONResponse(value, media_type=media_type)


def _collection_id(row: ImagerySource) -> str:
    return row.collection or UPLOADS


def _stored_collection(collection_id: str) -> str:
    return "" if collection_id == UPLOADS else collection_id


# --------------------------------------------------------------------------- documents


def stac_item(row: ImagerySource, root: str, api: str) -> dict[str, Any]:
    cid = _collection_id(row)
    bands = list((row.bands or {}).get("names", []))
    when = row.acquired_at or row.created_at
    properties: dict[str, Any] = {
        "datetime": iso_utc(when),
        "title": (row.bands or {}).get("label") or row.scene_id,
        "created": iso_utc(row.created_at),
        "terrascan:provider": row.provider,
        "terrascan:scene_id": row.scene_id,
    }
    if row.cloud_cover is not None:
        properties["eo:cloud_cover"] = row.cloud_cover
    if row.crs and row.crs.upper().startswith("EPSG:"):
        properties["proj:epsg"] = int(row.crs.split(":", 1)[1])
    if row.stac_item_url:
        properties["terrascan:source_item"] = row.stac_item_url
    self_href = f"{root}/collections/{cid}/items/{row.id}"
    assets: dict[str, Any] = {
        "data": {
            "href": f"{api}/imagery/{row.id}/download",
            "type": COG_TYPE,
            "roles": ["data"],
            "title": "Cloud-Optimized GeoTIFF",
            "eo:bands": [{"name": name, "common_name": name} for name in bands],
        }
    }
    if row.thumbnail_key:
        assets["thumbnail"] = {
            "href": f"{api}/imagery/{row.id}/thumbnail",
            "type": "image/png",
            "roles": ["thumbnail"],
        }
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": EXTENSIONS,
        "id": str(row.id),
        "collection": cid,
        "geometry": mapping(row.geometry),
        "bbox": [row.minx, row.miny, row.maxx, row.maxy],
        "properties": properties,
        "assets": assets,
        "links": [
            {"rel": "self", "type": GEOJSON, "href": self_href},
            {"rel": "parent", "type": "application/json", "href": f"{root}/collections/{cid}"},
            {"rel": "collection", "type": "application/json", "href": f"{root}/collections/{cid}"},
            {"rel": "root", "type": "application/json", "href": root},
        ],
    }


def _collection_doc(
    repo: ImagerySearchRepository, org_id: uuid.UUID, cid: str, count: int, root: str
) -> dict[str, Any]:
    bbox, first, last = repo.extent(org_id=org_id, collection=_stored_collection(cid))
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": cid,
        "title": "Uploaded imagery" if cid == UPLOADS else cid,
        "description": f"{count} scene(s) of the organisation's catalog in {cid}.",
        "license": "other",
        "extent": {
            "spatial": {"bbox": [list(bbox) if bbox else [-180.0, -90.0, 180.0, 90.0]]},
            "temporal": {"interval": [[iso_utc(first), iso_utc(last)]]},
        },
        "links": [
            {"rel": "self", "type": "application/json", "href": f"{root}/collections/{cid}"},
            {"rel": "items", "type": GEOJSON, "href": f"{root}/collections/{cid}/items"},
            {"rel": "parent", "type": "application/json", "href": root},
            {"rel": "root", "type": "application/json", "href": root},
        ],
    }


# --------------------------------------------------------------------------- landing


@router.get("", name="stac_landing", summary="STAC landing page")
def landing(request: Request, ctx: Reader, session: SessionDep) -> JSONResponse:
    root = _root(request)
    api = str(request.base_url).rstrip("/") + "/api/v1"
    collections = ImagerySearchRepository(session).collections(org_id=ctx.org_id)
    links = [
        {"rel": "self", "type": "application/json", "href": root},
        {"rel": "root", "type": "application/json", "href": root},
        {"rel": "conformance", "type": "application/json", "href": f"{root}/conformance"},
        {"rel": "data", "type": "application/json", "href": f"{root}/collections"},
        {"rel": "search", "type": GEOJSON, "href": f"{root}/search", "method": "GET"},
        {"rel": "search", "type": GEOJSON, "href": f"{root}/search", "method": "POST"},
        {
            "rel": "service-desc",
            "type": "application/vnd.oai.openapi+json;version=3.0",
            "href": f"{api}/openapi.json",
        },
    ]
    links += [
        {
            "rel": "child",
            "type": "application/json",
            "href": f"{root}/collections/{name or UPLOADS}",
        }
        for name, _count in collections
    ]
    return _json(
        {
            "type": "Catalog",
            "stac_version": STAC_VERSION,
            "id": "terrascan",
            "title": "TerraScan",
            "description": "The imagery catalog of this TerraScan organisation.",
            "conformsTo": CONFORMANCE,
            "links": links,
        }
    )


@router.get("/conformance", summary="STAC conformance classes")
def conformance(ctx: Reader) -> JSONResponse:
    return _json({"conformsTo": CONFORMANCE})


@router.get("/collections", summary="STAC collections")
def collections(request: Request, ctx: Reader, session: SessionDep) -> JSONResponse:
    root = _root(request)
    repo = ImagerySearchRepository(session)
    docs = [
        _collection_doc(repo, ctx.org_id, name or UPLOADS, count, root)
        for name, count in repo.collections(org_id=ctx.org_id)
    ]
    return _json(
        {
            "collections": docs,
            "links": [
                {"rel": "self", "type": "application/json", "href": f"{root}/collections"},
                {"rel": "root", "type": "application/json", "href": root},
            ],
        }
    )


def _known_collection(repo: ImagerySearchRepository, org_id: uuid.UUID, cid: str) -> int:
    for name, count in repo.collections(org_id=org_id):
        if (name or UPLOADS) == cid:
            return count
    raise NotFoundError(f"collection {cid!r} not found")


@router.get("/collections/{collection_id}", summary="One STAC collection")
def collection(
    collection_id: str, request: Request, ctx: Reader, session: SessionDep
) -> JSONResponse:
    repo = ImagerySearchRepository(session)
    count = _known_collection(repo, ctx.org_id, collection_id)
    return _json(_collection_doc(repo, ctx.org_id, collection_id, count, _root(request)))


# --------------------------------------------------------------------------- items and search


class SearchBody(BaseModel):
    """STAC item search (POST); ``token`` is the opaque page token of ``next`` links."""

    model_config = ConfigDict(extra="ignore")

    bbox: list[float] | None = Field(default=None, min_length=4, max_length=6)
    intersects: dict[str, Any] | None = None
    datetime: str | None = Field(default=None, max_length=100)
    ids: list[str] | None = Field(default=None, max_length=500)
    collections: list[str] | None = Field(default=None, max_length=100)
    limit: int = Field(default=10, ge=1, le=MAX_LIMIT)
    token: str | None = Field(default=None, max_length=200)


def _area(bbox: list[float] | None, intersects: dict[str, Any] | None) -> BaseGeometry | None:
    if bbox is not None and intersects is not None:
        raise InvalidInputError("give bbox or intersects, not both")
    if bbox is not None:
        flat = bbox if len(bbox) == 4 else [bbox[0], bbox[1], bbox[3], bbox[4]]
        return box(*parse_bbox(flat))
    if intersects is not None:
        return shape(check_geometry(intersects))
    return None


def _ids(values: list[str] | None) -> list[uuid.UUID] | None:
    if values is None:
        return None
    out = []
    for value in values:
        try:
            out.append(uuid.UUID(str(value)))
        except ValueError:
            continue  # not one of ours: matches nothing
    return out


def _run_search(
    request: Request, ctx: OrgContext, session: Any, body: SearchBody
) -> tuple[dict[str, Any], str | None]:
    offset = decode_cursor(body.token)
    start, end = parse_datetime_range(body.datetime) if body.datetime else (None, None)
    query = ImageryQuery(
        intersects=_area(body.bbox, body.intersects),
        start=start,
        end=end,
        collections=[_stored_collection(c) for c in body.collections] if body.collections else None,
        ids=_ids(body.ids),
        status="ready",
    )
    rows = ImagerySearchRepository(session).query(
        org_id=ctx.org_id, query=query, limit=body.limit + 1, offset=offset
    )
    token = encode_cursor(offset + body.limit) if len(rows) > body.limit else None
    root = _root(request)
    api = str(request.base_url).rstrip("/") + "/api/v1"
    page = {
        "type": "FeatureCollection",
        "stac_version": STAC_VERSION,
        "features": [stac_item(row, root, api) for row in rows[: body.limit]],
        "numberReturned": min(len(rows), body.limit),
        "links": [{"rel": "root", "type": "application/json", "href": root}],
    }
    return page, token


def _get_body(
    bbox: str | None,
    intersects: str | None,
    datetime: str | None,
    ids: str | None,
    collections: str | None,
    limit: int,
    token: str | None,
) -> SearchBody:
    geometry = None
    if intersects is not None:
        try:
            geometry = json.loads(intersects)
        except ValueError:
            raise InvalidInputError("intersects must be a GeoJSON geometry") from None
    return SearchBody(
        bbox=list(parse_bbox(bbox)) if bbox else None,
        intersects=geometry,
        datetime=datetime,
        ids=[i for i in ids.split(",") if i] if ids else None,
        collections=[c for c in collections.split(",") if c] if collections else None,
        limit=limit,
        token=token,
    )


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Text = Annotated[str | None, Query(max_length=200)]


@router.get("/search", summary="STAC item search (GET)")
def search_get(
    request: Request,
    ctx: Reader,
    session: SessionDep,
    bbox: Text = None,
    intersects: Annotated[str | None, Query(max_length=200_000)] = None,
    datetime: Annotated[str | None, Query(max_length=100)] = None,
    ids: Annotated[str | None, Query(max_length=20_000)] = None,
    collections: Annotated[str | None, Query(max_length=2_000)] = None,
    limit: Limit = 10,
    token: Text = None,
) -> JSONResponse:
    body = _get_body(bbox, intersects, datetime, ids, collections, limit, token)
    page, next_token = _run_search(request, ctx, session, body)
    if next_token is not None:
        href = str(request.url.include_query_params(token=next_token))
        page["links"].append({"rel": "next", "type": GEOJSON, "method": "GET", "href": href})
    return _json(page, GEOJSON)


@router.post("/search", summary="STAC item search (POST)")
def search_post(
    body: SearchBody, request: Request, ctx: Reader, session: SessionDep
) -> JSONResponse:
    page, next_token = _run_search(request, ctx, session, body)
    if next_token is not None:
        next_body = body.model_dump(exclude_none=True) | {"token": next_token}
        page["links"].append(
            {
                "rel": "next",
                "type": GEOJSON,
                "method": "POST",
                "href": f"{_root(request)}/search",
                "body": next_body,
                "merge": False,
            }
        )
    return _json(page, GEOJSON)


@router.get("/collections/{collection_id}/items", summary="Items of one STAC collection")
def items(
    collection_id: str,
    request: Request,
    ctx: Reader,
    session: SessionDep,
    bbox: Text = None,
    datetime: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 10,
    token: Text = None,
) -> JSONResponse:
    _known_collection(ImagerySearchRepository(session), ctx.org_id, collection_id)
    body = _get_body(bbox, None, datetime, None, collection_id, limit, token)
    page, next_token = _run_search(request, ctx, session, body)
    if next_token is not None:
        href = str(request.url.include_query_params(token=next_token))
        page["links"].append({"rel": "next", "type": GEOJSON, "href": href})
    return _json(page, GEOJSON)


@router.get("/collections/{collection_id}/items/{item_id}", summary="One STAC item")
def item(
    collection_id: str, item_id: uuid.UUID, request: Request, ctx: Reader, session: SessionDep
) -> JSONResponse:
    row: ImagerySource = ImagerySearchRepository(session).get(item_id, org_id=ctx.org_id)
    if _collection_id(row) != collection_id or row.status != "ready":
        raise NotFoundError(f"item {item_id} not found")
    api = str(request.base_url).rstrip("/") + "/api/v1"
    return _json(stac_item(row, _root(request), api), GEOJSON)
