"""Exports of a finished analysis: the result COG, a PNG, or the changed regions as GeoJSON,
GeoPackage, zipped Shapefile or CSV. File names are derived from the job (never from a request)
and sent as RFC 6266 ``Content-Disposition``.

The stored COG is streamed; with ``redirect=true`` and an S3 store the answer is instead a 307
to a presigned URL valid for ``PRESIGN_SECONDS``, so the bytes go straight from the bucket. It
is opt-in because the web app downloads with ``fetch`` and an ``Authorization`` header, which a
cross-origin redirect to a bucket (CORS, the header itself) would break. Every export is
written to the audit log."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from shapely.geometry import mapping

from terrascan.api.deps import SessionDep, StoreDep
from terrascan.api.routes.analysis import result_job
from terrascan.api.security import OrgContext, client_ip, require
from terrascan.catalog.accounts import AuditLogRepository
from terrascan.catalog.models import AnalysisJob
from terrascan.catalog.repositories import VectorFeatureRepository
from terrascan.errors import InvalidInputError
from terrascan.io import vector
from terrascan.io.storage import ObjectStore

router = APIRouter(prefix="/analysis/results", tags=["exports"])

Exporter = Annotated[OrgContext, Depends(require("result:export"))]
ExportFormat = Literal["geotiff", "png", "geojson", "shapefile", "gpkg", "csv"]
MEDIA = {
    "geotiff": ("tif", "image/tiff; application=geotiff; profile=cloud-optimized"),
    "png": ("png", "image/png"),
    "geojson": ("geojson", "application/geo+json"),
    "shapefile": ("zip", "application/zip"),
    "gpkg": ("gpkg", "application/geopackage+sqlite3"),
    "csv": ("csv", "text/csv; charset=utf-8"),
}
CHUNK = 1024 * 1024
#: Lifetime of a presigned download URL.
PRESIGN_SECONDS = 300
Redirect = Annotated[
    bool,
    Query(
        description="geotiff on S3 storage: answer 307 to a short-lived presigned URL instead "
        "of streaming (ignored for other formats and local storage)"
    ),
]


def _features(session: Any, job: AnalysisJob) -> list[vector.Feature]:
    rows = VectorFeatureRepository(session).for_job(job.id, org_id=job.org_id)
    return [(mapping(r.geometry), {"id": str(r.id), **dict(r.properties or {})}) for r in rows]


def _csv_rows(job: AnalysisJob, features: list[vector.Feature]) -> list[dict[str, Any]]:
    if job.job_type == "change-detection":
        from shapely.geometry import shape

        rows = []
        for geom, props in features:
            centre = shape(geom).representative_point()
            rows.append({**props, "lon": round(centre.x, 7), "lat": round(centre.y, 7)})
        return rows
    stats = dict((job.result_summary or {}).get("statistics") or {})
    return [
        {"statistic": k, "value": v} for k, v in stats.items() if not isinstance(v, dict | list)
    ]


def _png(store: ObjectStore, job: AnalysisJob) -> bytes:
    key = str(job.result_key)
    with tempfile.TemporaryDirectory(prefix="terrascan-export-") as folder:
        local = Path(folder) / "result.tif"
        with local.open("wb") as fh:
            for chunk in store.stream(key):
                fh.write(chunk)
        value_range = (-1.0, 1.0) if job.job_type == "spectral-index" else (0.0, 1.0)
        return vector.raster_png(str(local), value_range=value_range)


def _vector(fmt: str, features: list[vector.Feature], name: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="terrascan-export-") as folder:
        if fmt == "shapefile":
            return vector.shapefile_zip(features, Path(folder), name)
        return vector.gpkg_bytes(features, Path(folder), name)


@router.get(
    "/{job_id}/export",
    summary="Export a result (geotiff, png, geojson, shapefile, gpkg, csv)",
    response_class=StreamingResponse,
    responses={307: {"description": "geotiff with redirect=true on S3: a presigned URL"}},
)
async def export_result(
    job_id: uuid.UUID,
    request: Request,
    ctx: Exporter,
    session: SessionDep,
    store: StoreDep,
    format: Annotated[ExportFormat, Query()] = "geotiff",
    redirect: Redirect = False,
) -> Response:
    job = await run_in_threadpool(result_job, session, job_id, ctx.org_id)  # catalog I/O
    response = await export_response(session, store, job, format, redirect=redirect)
    await run_in_threadpool(
        audit_export, session, request, job, format, response, actor_id=ctx.user.id
    )
    return response


def audit_export(
    session: Any,
    request: Request,
    job: AnalysisJob,
    fmt: str,
    response: Response,
    *,
    actor_id: uuid.UUID | None,
    share_id: uuid.UUID | None = None,
) -> None:
    details: dict[str, Any] = {"format": fmt, "presigned": response.status_code == 307}
    if share_id is not None:
        details["share_id"] = str(share_id)
    AuditLogRepository(session).record(
        "result.exported",
        org_id=job.org_id,
        actor_id=actor_id,
        target_type="job",
        target_id=str(job.id),
        ip=client_ip(request),
        details=details,
    )


async def export_response(
    session: Any, store: ObjectStore, job: AnalysisJob, format: str, *, redirect: bool = False
) -> Response:
    """The export of ``job`` (already authorised) in ``format``."""
    ext, media = MEDIA[format]
    name = vector.safe_filename(f"{job.job_type}-{job.id}") + f".{ext}"
    headers = {"Content-Disposition": vector.content_disposition(name), "Cache-Control": "private"}
    if format == "geotiff":
        key = str(job.result_key)
        url = (
            await run_in_threadpool(store.presigned_url, key, PRESIGN_SECONDS) if redirect else None
        )
        if url is not None:
            return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
        return StreamingResponse(store.stream(key), media_type=media, headers=headers)
    if format == "png":
        return Response(
            await run_in_threadpool(_png, store, job), media_type=media, headers=headers
        )
    features = await run_in_threadpool(_features, session, job)
    if format == "csv":
        return Response(
            vector.csv_bytes(_csv_rows(job, features)), media_type=media, headers=headers
        )
    if job.job_type != "change-detection":
        raise InvalidInputError(f"a {job.job_type} result has no vector features to export")
    if format == "geojson":
        return Response(vector.geojson_bytes(features), media_type=media, headers=headers)
    body = await run_in_threadpool(_vector, format, features, name.rsplit(".", 1)[0])
    return Response(body, media_type=media, headers=headers)
