"""Shared test set-up. Importing terrascan first puts the safe GDAL environment in place
before any test module imports rasterio."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import terrascan  # noqa: F401  (sets GDAL/PROJ defaults before rasterio loads)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"


def service_missing(reason: str) -> None:
    """Skip the test, or fail it under CI=true, where every service must be present."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required service missing under CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The shared real-data fixtures; tests that need them skip when they are absent."""
    if not FIXTURES.is_dir():
        pytest.skip(f"real-data fixtures not found at {FIXTURES}")
    return FIXTURES


POSTGRES_ADMIN_URL = os.environ.get(
    "TERRASCAN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TERRASCAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session")
def postgis_server() -> str:
    """The admin URL of a PostgreSQL server with the PostGIS extension available."""
    from sqlalchemy import create_engine, text

    engine = create_engine(
        POSTGRES_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1),
        connect_args={"connect_timeout": 3},
    )
    try:
        with engine.connect() as conn:
            available = conn.execute(
                text("SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'")
            ).scalar_one()
    except Exception as exc:
        service_missing(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    finally:
        engine.dispose()
    if not available:
        service_missing("the PostGIS extension is not installed (scripts/services.sh installs it)")
    return POSTGRES_ADMIN_URL


@pytest.fixture
def postgis_url(postgis_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import uuid

    from sqlalchemy import create_engine, text

    name = f"terrascan_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        postgis_server.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = postgis_server.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each catalog test runs on the embedded SQLite file and on a real PostGIS database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    url: str = request.getfixturevalue("postgis_url")
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
    except OSError:
        service_missing("Redis not reachable on 127.0.0.1:6379 (scripts/services.sh starts it)")
    return REDIS_URL


def pytest_sessionstart(session: pytest.Session) -> None:
    """Record which GDAL drivers were registered at load, before any test warps a raster (the
    start-up self-check compares against this, as a server does when it boots)."""
    from terrascan.gdalenv import registered_unsafe_drivers

    registered_unsafe_drivers()
