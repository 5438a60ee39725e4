"""Jobs: read one, list the organisation's, cancel, and follow progress over Server-Sent Events.

Other organisations' jobs answer 404. The catalog is the record; the event stream relays the
job system's progress bus (subscribe first, then send the current state, then the events).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from terrascan.api.deps import SessionDep
from terrascan.api.security import OrgContext, require
from terrascan.catalog.jobs import JobRepository
from terrascan.catalog.models import AnalysisJob, JobStatus
from terrascan.jobs.events import TERMINAL_STATUSES, JobEvent, is_terminal, make_event
from terrascan.jobs.ingest import iso_utc

router = APIRouter(prefix="/jobs", tags=["jobs"])

Reader = Annotated[OrgContext, Depends(require("job:read"))]
Canceller = Annotated[OrgContext, Depends(require("job:cancel"))]
StatusName = Literal["pending", "queued", "running", "completed", "failed", "cancelled"]
#: Seconds between keep-alive comments on an idle event stream.
KEEPALIVE_S = 15.0


class JobPublic(BaseModel):
    id: uuid.UUID
    job_type: str
    status: StatusName
    parameters: dict[str, Any]
    progress_pct: float
    message: str
    results_summary: dict[str, Any] | None
    results_url: str | None
    error_message: str | None
    attempts: int
    max_attempts: int
    created_at: datetime | None
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_row(cls, job: AnalysisJob) -> JobPublic:
        done = job.status == JobStatus.COMPLETED and job.result_key is not None
        summary = dict(job.result_summary) if job.result_summary is not None else None
        if summary is not None:  # storage keys stay inside
            for key in ("result_key", "score_key"):
                summary.pop(key, None)
        return cls(
            id=job.id,
            job_type=job.job_type,
            status=job.status,  # type: ignore[arg-type]
            parameters=dict(job.parameters or {}),
            progress_pct=float(job.progress_pct or 0.0),
            message=job.message or "",
            results_summary=summary,
            results_url=f"/api/v1/analysis/results/{job.id}" if done else None,
            error_message=job.error_message,
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            created_at=_utc(job.created_at),
            queued_at=_utc(job.queued_at),
            started_at=_utc(job.started_at),
            finished_at=_utc(job.finished_at),
        )


def _utc(value: datetime | None) -> datetime | None:
    text = iso_utc(value)
    return datetime.fromisoformat(text) if text else None


class JobPage(BaseModel):
    items: list[JobPublic]
    limit: int
    offset: int
    next_offset: int | None


def get_job(session: Any, job_id: uuid.UUID, org_id: uuid.UUID) -> AnalysisJob:
    """The organisation's job (NotFoundError -> 404 for anyone else's)."""
    job: AnalysisJob = JobRepository(session).get(job_id, org_id=org_id)
    return job


@router.get("", response_model=JobPage, summary="The organisation's jobs, newest first")
def list_jobs(
    ctx: Reader,
    session: SessionDep,
    status: Annotated[list[StatusName] | None, Query(description="Only these statuses.")] = None,
    job_type: Annotated[str | None, Query(max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JobPage:
    rows = JobRepository(session).list(
        org_id=ctx.org_id, status=list(status or []), limit=limit + 1, offset=offset
    )
    more = len(rows) > limit
    items = [JobPublic.from_row(r) for r in rows[:limit]]
    if job_type is not None:  # a filter over the page, not the query (see the report)
        items = [i for i in items if i.job_type == job_type]
    return JobPage(
        items=items, limit=limit, offset=offset, next_offset=offset + limit if more else None
    )


@router.get("/{job_id}", response_model=JobPublic, summary="One job")
def read_job(job_id: uuid.UUID, ctx: Reader, session: SessionDep) -> JobPublic:
    return JobPublic.from_row(get_job(session, job_id, ctx.org_id))


@router.post("/{job_id}/cancel", response_model=JobPublic, summary="Cancel a job")
def cancel_job(job_id: uuid.UUID, ctx: Canceller, request: Request) -> JobPublic:
    job = request.app.state.jobs.cancel(job_id, org_id=ctx.org_id)
    return JobPublic.from_row(job)


def _sse(event: JobEvent) -> bytes:
    name = "status" if event.get("kind") == "status" else "progress"
    return f"event: {name}\ndata: {json.dumps(event, default=str)}\n\n".encode()


@router.get(
    "/{job_id}/events",
    summary="Live progress (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def job_events(job_id: uuid.UUID, ctx: Reader, request: Request) -> StreamingResponse:
    """The job's current state as a first ``status`` event, then its progress and status events
    until a terminal status (``completed``, ``failed``, ``cancelled``)."""
    jobs = request.app.state.jobs
    subscription = jobs.subscribe(job_id)
    try:
        job = jobs.get(job_id, org_id=ctx.org_id)
    except BaseException:
        subscription.close()
        raise
    first = make_event(
        job.id,
        kind="status",
        status=job.status,
        progress_pct=job.progress_pct,
        message=job.message or "",
        attempt=job.attempts,
    )

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield _sse(first)
            if first["status"] in TERMINAL_STATUSES:
                return
            while not await request.is_disconnected():
                event = await run_in_threadpool(subscription.get, KEEPALIVE_S)
                if event is None:
                    yield b": keep-alive\n\n"
                    continue
                yield _sse(event)
                if is_terminal(event):
                    return
        finally:
            subscription.close()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
