"""Fixtures for the job tests: a migrated catalog (SQLite and PostGIS), a local object store,
two organisations, fast job settings and a bounded ``wait_for``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from terrascan.catalog.database import Catalog
from terrascan.catalog.models import AnalysisJob, Organization
from terrascan.io.storage import LocalStore
from terrascan.jobs.config import JobConfig

T = TypeVar("T")

#: Short intervals, so that tests see progress, cancellation and retries at once.
FAST = JobConfig(
    pool_size=2,
    heartbeat_interval_s=0.1,
    heartbeat_timeout_s=3.0,  # no test here waits for it: generous for a loaded machine
    reconcile_interval_s=0.2,
    requeue_after_s=1.0,
    retry_backoff_s=0.05,
    retry_backoff_max_s=0.2,
    db_retry_budget_s=10.0,
    org_concurrency=0,
)


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def load_job(catalog: Catalog, job_id: uuid.UUID) -> AnalysisJob:
    with catalog.session() as session:
        job = session.get(AnalysisJob, job_id)
        assert job is not None
        return job


def make_orgs(catalog: Catalog, count: int = 2) -> list[uuid.UUID]:
    with catalog.session() as session:
        orgs = [
            Organization(name=f"org {i}", slug=f"org-{uuid.uuid4().hex[:10]}") for i in range(count)
        ]
        session.add_all(orgs)
        session.flush()
        return [org.id for org in orgs]


@pytest.fixture
def catalog(database_url: str) -> Iterator[Catalog]:
    """A migrated catalog on SQLite and, as a second parameter, on PostGIS."""
    catalog = Catalog(database_url)
    catalog.upgrade()
    try:
        yield catalog
    finally:
        catalog.dispose()


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


@pytest.fixture
def orgs(catalog: Catalog) -> list[uuid.UUID]:
    return make_orgs(catalog)
