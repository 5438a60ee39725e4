"""Health, version and metrics."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

import terrascan
from terrascan.api.deps import CatalogDep, SettingsDep, StoreDep
from terrascan.errors import TerraScanError
from terrascan.jobs.broker import check_broker

router = APIRouter(tags=["system"])
metrics_router = APIRouter(include_in_schema=False)

CHECK_TIMEOUT_S = 5.0


class ComponentStatus(BaseModel):
    status: Literal["ok", "error"]
    kind: str
    detail: str | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    mode: Literal["embedded", "production"]
    checks: dict[str, ComponentStatus]


class Version(BaseModel):
    name: str
    version: str


async def _probe(kind: str, check: object) -> ComponentStatus:
    try:
        await asyncio.wait_for(asyncio.to_thread(check), CHECK_TIMEOUT_S)  # type: ignore[arg-type]
    except (TerraScanError, TimeoutError) as exc:
        detail = exc.title if isinstance(exc, TerraScanError) else "timed out"
        return ComponentStatus(status="error", kind=kind, detail=detail)
    return ComponentStatus(status="ok", kind=kind)


@router.get("/health", response_model=Health, summary="Check the catalog, storage and broker")
async def health(settings: SettingsDep, catalog: CatalogDep, store: StoreDep) -> JSONResponse:
    broker_kind = settings.broker_url.split(":", 1)[0] if settings.broker_url else "in-process"
    checks = {
        "catalog": await _probe(catalog.dialect, catalog.check),
        "storage": await _probe(type(store).__name__, store.check),
        "broker": await _probe(broker_kind, lambda: check_broker(settings.broker_url)),
    }
    ok = all(c.status == "ok" for c in checks.values())
    body = Health(
        status="ok" if ok else "degraded",
        version=terrascan.__version__,
        mode="production" if settings.is_production else "embedded",
        checks=checks,
    )
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/version", response_model=Version, summary="The running TerraScan version")
def version() -> Version:
    return Version(name="terrascan", version=terrascan.__version__)


@metrics_router.get("/metrics")
def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
