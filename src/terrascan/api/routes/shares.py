"""Share links (contract 7): a read-only public view of one analysis result.

Members create, list and revoke their organisation's links:

- ``POST /analysis/results/{job_id}/shares`` ``{expires_in_hours}`` -> 201 ``{id, token, url,
  expires_at}`` (the token is shown this once; the catalog keeps its SHA-256 digest);
- ``GET /shares``, ``DELETE /shares/{share_id}`` (204, revoke).

Anyone holding the token, without signing in, reads through ``/shared/{token}``: the result's
metadata, its tilejson and tiles (the result tiler's parameters) and its exports. The token is
the only input that selects data, it resolves to exactly the linked result (S1), and an expired
or revoked link answers 410 on every route before any cache is consulted (S2); an unknown token
answers 404. Nothing here takes a path or URL (T1).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from terrascan.api.deps import CatalogDep, SessionDep, SettingsDep, StoreDep
from terrascan.api.ratelimit import enforce
from terrascan.api.routes import tiles
from terrascan.api.routes.analysis import result_job
from terrascan.api.routes.exports import ExportFormat, Redirect, audit_export, export_response
from terrascan.api.routes.jobs import JobPublic
from terrascan.api.security import CommitFirst, OrgContext, RateLimiterDep, client_ip, require
from terrascan.catalog.accounts import AuditLogRepository, scope_to_org
from terrascan.catalog.database import Catalog
from terrascan.catalog.models import AnalysisJob, ShareLink
from terrascan.catalog.shares import ShareLinkRepository, ShareState, aware, share_state

router = APIRouter(tags=["share links"])
public_router = APIRouter(prefix="/shared/{token}", tags=["shared results"])

#: Where the public view of a token lives (under the API prefix).
SHARED_PATH = "/api/v1/shared/{token}"
MAX_TOKEN_CHARS = 128

Creator = Annotated[OrgContext, Depends(require("share:create"))]
Revoker = Annotated[OrgContext, Depends(require("share:revoke"))]
Lister = Annotated[OrgContext, Depends(require("share:read"))]
Token = Annotated[
    str,
    Path(min_length=1, max_length=MAX_TOKEN_CHARS, description="The share link's token"),
]


class ShareCreate(BaseModel):
    expires_in_hours: int = Field(default=72, ge=1, le=720)


class ShareCreated(BaseModel):
    id: uuid.UUID
    job_id: uuid.UUID
    token: str
    url: str
    expires_at: datetime


class ShareLinkPublic(BaseModel):
    """A link as its organisation lists it; the token itself is not kept, so not shown."""

    id: uuid.UUID
    job_id: uuid.UUID
    created_by: uuid.UUID | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    state: ShareState

    @classmethod
    def from_row(cls, link: ShareLink) -> ShareLinkPublic:
        return cls(
            id=link.id,
            job_id=link.target_id,
            created_by=link.created_by,
            created_at=aware(link.created_at) or link.created_at,
            expires_at=aware(link.expires_at),
            revoked_at=aware(link.revoked_at),
            state=share_state(link),
        )


class SharedResult(BaseModel):
    job_type: str
    parameters: dict[str, Any]
    results_summary: dict[str, Any] | None
    tilejson: str
    expires_at: datetime | None


def _audit(session: Any, request: Request, ctx: OrgContext, action: str, link: ShareLink) -> None:
    AuditLogRepository(session).record(
        action,
        org_id=ctx.org_id,
        actor_id=ctx.user.id,
        target_type="share_link",
        target_id=str(link.id),
        ip=client_ip(request),
        details={"job_id": str(link.target_id)},
    )


# --------------------------------------------------------------------------- members


@router.post(
    "/analysis/results/{job_id}/shares",
    response_model=ShareCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create a public, expiring link to a result",
    dependencies=[CommitFirst],
)
def create_share(
    job_id: uuid.UUID,
    request: Request,
    ctx: Creator,
    session: SessionDep,
    body: ShareCreate | None = None,
) -> ShareCreated:
    body = body or ShareCreate()
    job = result_job(session, job_id, ctx.org_id)
    link, token = ShareLinkRepository(session).create(
        org_id=ctx.org_id,
        target_id=job.id,
        ttl=timedelta(hours=body.expires_in_hours),
        created_by=ctx.user.id,
    )
    _audit(session, request, ctx, "share.created", link)
    expires_at = aware(link.expires_at)
    assert expires_at is not None
    return ShareCreated(
        id=link.id,
        job_id=job.id,
        token=token,
        url=SHARED_PATH.format(token=token),
        expires_at=expires_at,
    )


@router.get("/shares", response_model=list[ShareLinkPublic], summary="The organisation's links")
def list_shares(
    ctx: Lister,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[ShareLinkPublic]:
    rows = ShareLinkRepository(session).list(org_id=ctx.org_id, limit=limit, offset=offset)
    return [ShareLinkPublic.from_row(r) for r in rows]


@router.delete(
    "/shares/{share_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a share link",
    dependencies=[CommitFirst],
)
def revoke_share(
    share_id: uuid.UUID, request: Request, ctx: Revoker, session: SessionDep
) -> Response:
    link = ShareLinkRepository(session).revoke(share_id, org_id=ctx.org_id)
    _audit(session, request, ctx, "share.revoked", link)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------- public


def live_link(token: Token, session: SessionDep) -> ShareLink:
    """The link of ``token``: 404 if unknown, 410 if expired or revoked. The session is then
    scoped to the link's organisation (row-level security on PostgreSQL)."""
    link = ShareLinkRepository(session).by_token(token)
    state = share_state(link)
    if state is not ShareState.ACTIVE:
        raise HTTPException(status.HTTP_410_GONE, f"this share link has {state.value}")
    scope_to_org(session, link.org_id)
    return link


LiveLink = Annotated[ShareLink, Depends(live_link)]


def shared_job(link: LiveLink, session: SessionDep) -> AnalysisJob:
    """The one result the link names (404 once the result is gone)."""
    return result_job(session, link.target_id, link.org_id)


SharedJob = Annotated[AnalysisJob, Depends(shared_job)]


async def shared_source(token: Token, catalog: CatalogDep, store: StoreDep) -> tiles.TileSource:
    """The linked result's tile source: the link's checks and the result's lookup in one
    session and one worker-thread call (a tile request's whole catalog work)."""
    return await run_in_threadpool(_shared_source, catalog, store, token)


def _shared_source(catalog: Catalog, store: Any, token: str) -> tiles.TileSource:
    with catalog.session() as session:
        return tiles.result_tile_source(store, shared_job(live_link(token, session), session))


@public_router.get("", response_model=SharedResult, summary="A shared result (no sign-in)")
def read_shared(token: Token, link: LiveLink, job: SharedJob) -> SharedResult:
    public = JobPublic.from_row(job)
    # the method and its settings, not the organisation's catalog ids (imagery, AOIs, jobs)
    parameters = {
        k: v
        for k, v in public.parameters.items()
        if not (k == "job_id" or k.endswith(("_id", "_ids")))
    }
    return SharedResult(
        job_type=public.job_type,
        parameters=parameters,
        results_summary=public.results_summary,
        tilejson=SHARED_PATH.format(token=token) + "/WebMercatorQuad/tilejson.json",
        expires_at=aware(link.expires_at),
    )


@public_router.get(
    "/export",
    summary="Export a shared result (no sign-in)",
    response_class=StreamingResponse,
    responses={307: {"description": "geotiff with redirect=true on S3: a presigned URL"}},
)
async def export_shared(
    request: Request,
    link: LiveLink,
    job: SharedJob,
    session: SessionDep,
    store: StoreDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
    format: Annotated[ExportFormat, Query()] = "geotiff",
    redirect: Redirect = False,
) -> Response:
    # anyone holding the link may export, so exports are counted per client and per link
    # (429 with Retry-After beyond the limits; a Redis limiter is I/O, hence the thread)
    keys = {
        f"shared-export:ip:{client_ip(request)}": settings.public_export_limit_per_ip,
        f"shared-export:link:{link.id}": settings.public_export_limit_per_link,
    }
    await run_in_threadpool(enforce, limiter, keys, window_s=settings.public_export_window_s)
    response = await export_response(session, store, job, format, redirect=redirect)
    await run_in_threadpool(  # catalog I/O off the event loop
        audit_export, session, request, job, format, response, actor_id=None, share_id=link.id
    )
    return response


def install(app: FastAPI, *, prefix: str) -> None:
    """Mount the members' routes, the public view and the public tiler (after ``tiles``)."""
    app.include_router(router, prefix=prefix, max_body_size=app.state.settings.max_json_body_bytes)
    app.include_router(public_router, prefix=prefix)
    tiles.mount(
        app,
        prefix + public_router.prefix,
        shared_source,
        tag="shared results",
        name="shared",
        tiles_only=True,
    )
