"""``create_app(settings)``: the TerraScan HTTP API and web app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

import terrascan
from terrascan.api.bodylimit import TooLargeAsProblem
from terrascan.api.errors import install_error_handlers
from terrascan.api.observability import (
    Metrics,
    RequestContextMiddleware,
    RouteTemplates,
    configure_logging,
)
from terrascan.api.ratelimit import make_rate_limiter
from terrascan.api.routes import (
    analysis,
    aois,
    audit,
    auth,
    exports,
    imagery,
    jobs,
    oauth,
    orgs,
    shares,
    stac,
    system,
    tiles,
    users,
)
from terrascan.api.security import TokenService
from terrascan.catalog.database import Catalog
from terrascan.gdalenv import self_check
from terrascan.io.storage import ObjectStore, open_store
from terrascan.jobs.system import build_job_system
from terrascan.settings import Settings, get_settings
from terrascan.web import web_root

API_PREFIX = "/api/v1"


def make_store(settings: Settings) -> ObjectStore:
    url = settings.resolved_storage_url
    if url.startswith("s3://"):
        return open_store(url, **settings.s3_options())
    return open_store(url)


@asynccontextmanager
async def _run_jobs(app: FastAPI) -> AsyncIterator[None]:
    """Run the job system while the app serves: the in-process pool when embedded, the
    reconciler in both modes (``app.state.jobs`` is a ``terrascan.jobs.system.JobSystem``)."""
    app.state.jobs.start()
    try:
        yield
    finally:
        app.state.jobs.stop()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Refuses to start with unsafe GDAL/PROJ settings or, in production, with a
    default secret. In the embedded mode the catalog is migrated here."""
    settings = settings or get_settings()
    self_check()
    secret_key = settings.resolve_secret_key()
    configure_logging(settings.log_level)

    catalog = Catalog(settings.resolved_database_url)
    if not settings.is_production:
        catalog.upgrade()

    app = FastAPI(
        title="TerraScan",
        version=terrascan.__version__,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=_run_jobs,
    )
    app.state.settings = settings
    app.state.catalog = catalog
    app.state.store = make_store(settings)
    app.state.jobs = build_job_system(settings, catalog, app.state.store)
    app.state.metrics = Metrics()
    app.state.tokens = TokenService.from_settings(settings, secret_key)
    app.state.rate_limiter = make_rate_limiter(settings)

    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID", "X-Organization-ID"],
        )
    app.add_middleware(TooLargeAsProblem)
    app.add_middleware(
        RequestContextMiddleware, metrics=app.state.metrics, routes=RouteTemplates(app)
    )

    app.include_router(system.router, prefix=API_PREFIX)
    app.include_router(system.metrics_router)
    account_routers = (
        auth.router,
        oauth.router,
        users.router,
        orgs.router,
        orgs.invitations_router,
        audit.router,
        aois.router,
    )
    for router in account_routers:
        app.include_router(router, prefix=API_PREFIX, max_body_size=settings.max_json_body_bytes)
    app.include_router(
        imagery.router, prefix=API_PREFIX, max_body_size=imagery.max_body_size(settings)
    )
    for router in (jobs.router, analysis.router, exports.router):
        app.include_router(router, prefix=API_PREFIX, max_body_size=settings.max_json_body_bytes)
    tiles.install(app, prefix=API_PREFIX)
    shares.install(app, prefix=API_PREFIX)
    app.include_router(stac.router, prefix="/stac")
    app.mount("/", StaticFiles(directory=web_root(), html=True), name="web")
    return app
