"""Analyses: start a spectral index or a change detection as a job; read a finished result and
its changed regions. Inputs are the organisation's imagery ids (others' answer 404)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel

from terrascan.api.deps import SessionDep
from terrascan.api.routes.jobs import JobPublic, get_job
from terrascan.api.security import CommitFirst, OrgContext, require
from terrascan.catalog.imagery import ImagerySearchRepository
from terrascan.catalog.models import AnalysisJob, JobStatus
from terrascan.catalog.repositories import VectorFeatureRepository
from terrascan.errors import NotFoundError
from terrascan.jobs.analysis import ChangeDetectionSpec, SpectralIndexSpec

router = APIRouter(prefix="/analysis", tags=["analysis"])

Runner = Annotated[OrgContext, Depends(require("analysis:run"))]
Reader = Annotated[OrgContext, Depends(require("job:read"))]
#: Job types whose results this router serves.
RESULT_TYPES = frozenset({"spectral-index", "change-detection"})


def _check_imagery(session: Any, org_id: uuid.UUID, *ids: uuid.UUID) -> None:
    repo = ImagerySearchRepository(session)
    for imagery_id in ids:
        repo.get(imagery_id, org_id=org_id)  # NotFoundError -> 404 for another org's


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
    return _submit(request, ctx, "change-detection", body)


def result_job(session: Any, job_id: uuid.UUID, org_id: uuid.UUID) -> AnalysisJob:
    """A completed analysis job of the organisation with a stored result, else 404."""
    job = get_job(session, job_id, org_id)
    if (
        job.status != JobStatus.COMPLETED
        or job.result_key is None
        or job.job_type not in RESULT_TYPES
    ):
        raise NotFoundError(f"job {job_id} has no result")
    return job


@router.get("/results/{job_id}", response_model=JobPublic, summary="A finished analysis")
def read_result(job_id: uuid.UUID, ctx: Reader, session: SessionDep) -> JobPublic:
    return JobPublic.from_row(result_job(session, job_id, ctx.org_id))


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
