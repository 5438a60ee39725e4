"""Jobs: read one, list the organisation's, cancel, and follow progress over Server-Sent Events.

Other organisations' jobs answer 404. The catalog is the record; the event stream relays the
job system's progress bus (subscribe first, then send the current state, then the events).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from terrascan.api.deps import SessionDep
from terrascan.api.security import Access, AccessClaimsDep, OrgContext, require
from terrascan.catalog.jobs import JobRepository
from terrascan.catalog.models import AnalysisJob, JobStatus
from terrascan.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from terrascan.jobs.events import (
    TERMINAL_STATUSES,
    JobEvent,
    Subscription,
    is_terminal,
    make_event,
)
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
        org_id=ctx.org_id,
        status=list(status or []),
        job_type=job_type,
        limit=limit + 1,
        offset=offset,
    )
    more = len(rows) > limit
    items = [JobPublic.from_row(r) for r in rows[:limit]]
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


def _follow(jobs: Any, job_id: uuid.UUID, org_id: uuid.UUID) -> tuple[Subscription, JobEvent]:
    """Subscribe to the job's events, then read its current state (so nothing is missed in
    between) as the first event. NotFoundError for another organisation's job."""
    subscription = jobs.subscribe(job_id)
    try:
        job = jobs.get(job_id, org_id=org_id)
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
    return subscription, first


def _sse(event: JobEvent) -> bytes:
    name = "status" if event.get("kind") == "status" else "progress"
    return f"event: {name}\ndata: {json.dumps(event, default=str)}\n\n".encode()


@router.get(
    "/{job_id}/events",
    summary="Live progress (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def job_events(
    job_id: uuid.UUID, ctx: Reader, claims: AccessClaimsDep, request: Request
) -> StreamingResponse:
    """The job's current state as a first ``status`` event, then its progress and status events
    until a terminal status (``completed``, ``failed``, ``cancelled``) or until the access token
    expires (the client reconnects with a fresh one)."""
    subscription, first = _follow(request.app.state.jobs, job_id, ctx.org_id)
    expires_at = claims.expires_at

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield _sse(first)
            if first["status"] in TERMINAL_STATUSES:
                return
            while not await request.is_disconnected():
                if datetime.now(UTC) >= expires_at:  # no longer than its token
                    return
                event = await _wait(subscription, KEEPALIVE_S)
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


#: Threads that event streams (SSE and WebSocket) may block in while they wait for events: a
#: pool of their own, so open streams never starve the request handlers' pool.
STREAM_THREADS = anyio.CapacityLimiter(256)


async def _wait(subscription: Subscription, timeout: float) -> JobEvent | None:
    return await anyio.to_thread.run_sync(subscription.get, timeout, limiter=STREAM_THREADS)


# --------------------------------------------------------------------------- WebSocket

#: Seconds a WebSocket client has to send its auth frame.
WS_AUTH_TIMEOUT_S = 5.0
#: Seconds between checks for a closed WebSocket while no event arrives.
WS_POLL_S = 1.0
#: Largest auth frame accepted, in characters.
WS_AUTH_MAX_CHARS = 8192
WS_NORMAL, WS_UNAUTHORIZED, WS_FORBIDDEN, WS_NOT_FOUND = 1000, 4401, 4403, 4404


class _Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


async def _auth_frame(websocket: WebSocket) -> tuple[str, uuid.UUID | None] | None:
    """``(access token, organisation id)`` from the first frame; None if the client left."""
    try:
        message = await asyncio.wait_for(websocket.receive(), WS_AUTH_TIMEOUT_S)
    except TimeoutError:
        raise _Refused(WS_UNAUTHORIZED, "no auth frame in time") from None
    if message["type"] == "websocket.disconnect":
        return None
    text = message.get("text")
    if not isinstance(text, str) or len(text) > WS_AUTH_MAX_CHARS:
        raise _Refused(WS_UNAUTHORIZED, "the first frame must be a JSON auth message")
    try:
        frame = json.loads(text)
        if not isinstance(frame, dict) or frame.get("type") != "auth":
            raise ValueError("not an auth frame")
        token, org = frame.get("access_token"), frame.get("organization_id")
        if not isinstance(token, str) or not token:
            raise ValueError("no access token")
        return token, uuid.UUID(org) if org is not None else None
    except (ValueError, TypeError, AttributeError):
        raise _Refused(WS_UNAUTHORIZED, "invalid auth frame") from None


def _ws_org(app: Any, token: str, org_id: uuid.UUID | None) -> tuple[uuid.UUID, datetime]:
    """The organisation the token's user reads jobs in (the same checks as ``require``), and
    when the token expires."""
    claims = app.state.tokens.decode_access(token)
    with app.state.catalog.session() as session:
        ctx = Access(claims, org_id, "job:read").check(session)
        return ctx.org_id, claims.expires_at


async def _ws_start(
    websocket: WebSocket, job_id: str
) -> tuple[Subscription, JobEvent, datetime] | None:
    frame = await _auth_frame(websocket)
    if frame is None:
        return None
    try:
        org_id, expires_at = await run_in_threadpool(_ws_org, websocket.app, *frame)
    except AuthenticationError as exc:
        raise _Refused(WS_UNAUTHORIZED, "not authenticated") from exc
    except PermissionDeniedError as exc:
        raise _Refused(WS_FORBIDDEN, "not allowed") from exc
    except NotFoundError as exc:
        raise _Refused(WS_NOT_FOUND, "organization not found") from exc
    try:
        job_uuid = uuid.UUID(job_id)
        subscription, first = await run_in_threadpool(
            _follow, websocket.app.state.jobs, job_uuid, org_id
        )
        return subscription, first, expires_at
    except (ValueError, NotFoundError):
        raise _Refused(WS_NOT_FOUND, "job not found") from None


async def _until_disconnect(websocket: WebSocket) -> None:
    """Return when the client goes away (frames it sends after the auth frame are ignored)."""
    try:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    except (RuntimeError, WebSocketDisconnect):  # receiving after the close
        return


@router.websocket("/{job_id}/ws", name="job_ws")
async def job_ws(websocket: WebSocket, job_id: str) -> None:
    """Live progress over a WebSocket. The client sends ``{"type": "auth", "access_token":
    ..., "organization_id": ...}`` (organisation optional) within 5 s; the server then sends
    the SSE stream's event objects (the current state first) and closes with 1000 after a
    terminal status. Bad or missing auth closes with 4401, an unknown job or another
    organisation's with 4404. Tokens never travel in the URL."""
    await websocket.accept()
    try:
        started = await _ws_start(websocket, job_id)
    except _Refused as refused:
        await websocket.close(refused.code, refused.reason)
        return
    if started is None:
        return
    subscription, first, expires_at = started
    watcher = asyncio.create_task(_until_disconnect(websocket))
    try:
        event: JobEvent | None = first
        while not watcher.done():
            if event is not None:
                await websocket.send_text(json.dumps(event, default=str))
                if first["status"] in TERMINAL_STATUSES or is_terminal(event):
                    await websocket.close(WS_NORMAL)
                    return
            if datetime.now(UTC) >= expires_at:  # the stream lives no longer than its token
                await websocket.close(WS_UNAUTHORIZED, "the access token expired")
                return
            event = await _wait(subscription, WS_POLL_S)
    except WebSocketDisconnect:
        return
    finally:
        watcher.cancel()
        subscription.close()
