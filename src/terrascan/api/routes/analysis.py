"""Analyses: start a spectral index, a change detection, zonal statistics or a time series as
a job; read a finished result, its changed regions and its zone table. Inputs are the
organisation's imagery, job and AOI ids (others' answer 404).

Results with a raster (``spectral-index``, ``change-detection``) are what :func:`result_job`
returns, for tiles, exports and changed regions; table results (``zonal-stats``,
``timeseries``) are readable at ``/analysis/results/{id}`` (:func:`finished_job`) and, for
zones, as CSV or JSON at ``/analysis/results/{id}/zones``."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel

from terrascan.api.deps import SessionDep
from terrascan.api.routes.jobs import JobPublic, get_job
from terrascan.api.security import CommitFirst, OrgContext, require
from terrascan.catalog.imagery import ImagerySearchRepository
from terrascan.catalog.models import AnalysisJob, JobStatus
from terrascan.catalog.repositories import AOIRepository, VectorFeatureRepository
from terrascan.core.indices import INDICES
from terrascan.errors import InvalidInputError, NotFoundError
from terrascan.io import vector
from terrascan.jobs.analysis import ChangeDetectionSpec, SpectralIndexSpec
from terrascan.jobs.timeseries import TimeseriesSpec
from terrascan.jobs.zonal import SOURCE_JOB_TYPES, ZonalStatsSpec

router = APIRouter(prefix="/analysis", tags=["analysis"])

Runner = Annotated[OrgContext, Depends(require("analysis:run"))]
Reader = Annotated[OrgContext, Depends(require("job:read"))]
#: Job types whose result is a raster (tiles, exports, changed regions).
RESULT_TYPES = frozenset({"spectral-index", "change-detection"})
#: Job types whose result is a table in ``results_summary`` (no raster).
TABLE_RESULT_TYPES = frozenset({"zonal-stats", "timeseries"})


def _check_imagery(session: Any, org_id: uuid.UUID, *ids: uuid.UUID) -> None:
    repo = ImagerySearchRepository(session)
    for imagery_id in ids:
        repo.get(imagery_id, org_id=org_id)  # NotFoundError -> 404 for another org's


def _check_aois(session: Any, org_id: uuid.UUID, *ids: uuid.UUID | None) -> None:
    repo = AOIRepository(session)
    for aoi_id in ids:
        if aoi_id is not None:
            repo.get(aoi_id, org_id=org_id)  # NotFoundError -> 404 for another org's


def _submit(request: Request, ctx: OrgContext, job_type: str, spec: BaseModel) -> JobPublic:
    job = request.app.state.jobs.submit(job_type, spec, org_id=ctx.org_id, created_by=ctx.user.id)
    return JobPublic.from_row(job)


@router.post(
    "/spectral-index",
    response_model=JobPublic,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Compute NDVI, NDWI, NDBI, EVI or NBR of an imagery record (a job)",
    dependencies=[CommitFirst],
)
def spectral_index(
    body: SpectralIndexSpec, ctx: Runner, session: SessionDep, request: Request
) -> JobPublic:
    _check_imagery(session, ctx.org_id, body.imagery_id)
    _check_aois(session, ctx.org_id, body.aoi_id)
    return _submit(request, ctx, "spectral-index", body)


@router.post(
    "/change-detection",
    response_model=JobPublic,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Detect change between two imagery records (a job)",
    dependencies=[CommitFirst],
)
def change_detection(
    body: ChangeDetectionSpec, ctx: Runner, session: SessionDep, request: Request
) -> JobPublic:
    _check_imagery(session, ctx.org_id, body.imagery_id_before, body.imagery_id_after)
    _check_aois(session, ctx.org_id, body.aoi_id)
    return _submit(request, ctx, "change-detection", body)


@router.post(
    "/zonal-stats",
    response_model=JobPublic,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Statistics of a result or an imagery band per AOI or polygon (a job)",
    dependencies=[CommitFirst],
)
def zonal_stats(
    body: ZonalStatsSpec, ctx: Runner, session: SessionDep, request: Request
) -> JobPublic:
    if body.job_id is not None:
        job = get_job(session, body.job_id, ctx.org_id)
        if job.job_type not in SOURCE_JOB_TYPES or job.status != JobStatus.COMPLETED:
            raise InvalidInputError(
                "job_id must be a completed spectral-index or change-detection job"
            )
    if body.imagery_id is not None:
        row = ImagerySearchRepository(session).get(body.imagery_id, org_id=ctx.org_id)
        names = (row.bands or {}).get("names", [])
        if body.band not in INDICES and body.band not in names:
            raise InvalidInputError(f"imagery {row.id} has no band {body.band!r}")
    _check_aois(session, ctx.org_id, *(body.aoi_ids or []))
    return _submit(request, ctx, "zonal-stats", body)


@router.post(
    "/timeseries",
    response_model=JobPublic,
    status_code=status.HTTP_202_ACCEPTED,
    summary="A spectral index over every ready scene of an AOI or at a point (a job)",
    dependencies=[CommitFirst],
)
def timeseries(
    body: TimeseriesSpec, ctx: Runner, session: SessionDep, request: Request
) -> JobPublic:
    _check_aois(session, ctx.org_id, body.aoi_id)
    return _submit(request, ctx, "timeseries", body)


def finished_job(
    session: Any,
    job_id: uuid.UUID,
    org_id: uuid.UUID,
    types: frozenset[str] = RESULT_TYPES | TABLE_RESULT_TYPES,
) -> AnalysisJob:
    """A completed analysis job of the organisation, of one of ``types``, with a stored
    result; else 404."""
    job = get_job(session, job_id, org_id)
    if job.status != JobStatus.COMPLETED or job.result_key is None or job.job_type not in types:
        raise NotFoundError(f"job {job_id} has no result")
    return job


def result_job(session: Any, job_id: uuid.UUID, org_id: uuid.UUID) -> AnalysisJob:
    """A completed analysis job of the organisation with a stored raster result, else 404."""
    return finished_job(session, job_id, org_id, RESULT_TYPES)


@router.get("/results/{job_id}", response_model=JobPublic, summary="A finished analysis")
def read_result(job_id: uuid.UUID, ctx: Reader, session: SessionDep) -> JobPublic:
    return JobPublic.from_row(finished_job(session, job_id, ctx.org_id))


@router.get(
    "/results/{job_id}/zones",
    summary="The zone table of a zonal-stats result (CSV with a header row, or JSON)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
def result_zones(
    job_id: uuid.UUID,
    ctx: Reader,
    session: SessionDep,
    format: Annotated[Literal["csv", "json"], Query()] = "csv",
) -> Response:
    job = finished_job(session, job_id, ctx.org_id, frozenset({"zonal-stats"}))
    rows = list((job.result_summary or {}).get("zones") or [])
    name = vector.safe_filename(f"zonal-stats-{job.id}") + f".{format}"
    headers = {"Content-Disposition": vector.content_disposition(name), "Cache-Control": "private"}
    if format == "json":
        body = json.dumps(rows).encode()
        return Response(body, media_type="application/json", headers=headers)
    return Response(vector.csv_bytes(rows), media_type="text/csv; charset=utf-8", headers=headers)


@router.get(
    "/results/{job_id}/features",
    summary="The changed regions of a change detection (GeoJSON, EPSG:4326, area in m²)",
)
def result_features(job_id: uuid.UUID, ctx: Reader, session: SessionDep) -> dict[str, Any]:
    from shapely.geometry import mapping

    job = result_job(session, job_id, ctx.org_id)
    rows = VectorFeatureRepository(session).for_job(job.id, org_id=ctx.org_id)
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": str(row.id),
                "geometry": mapping(row.geometry),
                "properties": dict(row.properties or {}),
            }
            for row in rows
        ],
    }
