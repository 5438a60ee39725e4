"""The embedded executor (a thread pool in the API process) on SQLite and on PostGIS."""

from __future__ import annotations

import io
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from terrascan.catalog.database import Catalog
from terrascan.catalog.jobs import JobRepository, as_utc
from terrascan.catalog.models import AnalysisJob, JobStatus
from terrascan.errors import InvalidInputError
from terrascan.io.storage import LocalStore
from terrascan.jobs.catalog_ops import utcnow
from terrascan.jobs.cleanup import remove_orphans
from terrascan.jobs.config import JobConfig
from terrascan.jobs.system import JobSystem, embedded_job_system
from tests.jobs.conftest import FAST, load_job, wait_for
from tests.jobs.test_runners import independent_ndvi

SLEEP = "diagnostic.sleep"


MakeSystem = Callable[..., JobSystem]


@pytest.fixture
def make_system(catalog: Catalog, store: LocalStore) -> Iterator[MakeSystem]:
    systems: list[JobSystem] = []

    def make(config: JobConfig = FAST, *, start: bool = True) -> JobSystem:
        system = embedded_job_system(catalog, store, config=config)
        systems.append(system)
        if start:
            system.start()
        return system

    yield make
    for system in systems:
        system.stop()


def submit(system: JobSystem, org: uuid.UUID, job_type: str = SLEEP, **spec: object) -> uuid.UUID:
    return system.submit(job_type, spec, org_id=org, allow_diagnostic=True).id


def settled(catalog: Catalog, job_id: uuid.UUID, timeout: float = 15) -> AnalysisJob:
    terminal = {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}

    def finished() -> AnalysisJob | None:
        job = load_job(catalog, job_id)
        return job if job.status in terminal else None

    job = wait_for(finished, timeout, f"job {job_id} to settle")
    assert job is not None
    return job


def keys(store: LocalStore, job_id: uuid.UUID) -> list[str]:
    return [info.key.split("/", 2)[2] for info in store.list(f"jobs/{job_id}/")]


def assert_keys(store: LocalStore, job_id: uuid.UUID, expected: list[str]) -> None:
    """The job's objects become ``expected`` (other attempts' outputs and merged parts are
    removed just after the result is committed)."""
    wait_for(lambda: keys(store, job_id) == expected, 5, f"objects {expected}")


def test_a_job_runs_and_streams_its_progress(
    make_system: MakeSystem, catalog: Catalog, store: LocalStore, orgs: list[uuid.UUID]
) -> None:
    system = make_system(start=False)
    job = system.submit(SLEEP, {"seconds": 0.2, "steps": 4}, org_id=orgs[0], allow_diagnostic=True)
    with system.subscribe(job.id) as events:
        system.start()
        received = list(events)
    assert [e["status"] for e in received if e["kind"] == "status"] == ["running", "completed"]
    assert [e["progress_pct"] for e in received if e["kind"] == "progress"] == [0, 25, 50, 75, 100]
    done = load_job(catalog, job.id)
    assert (done.status, done.attempts, done.progress_pct) == (JobStatus.COMPLETED, 1, 100.0)
    assert done.result_key == f"jobs/{job.id}/attempt-1/result.json"
    assert_keys(store, job.id, ["attempt-1/result.json"])


def test_diagnostic_jobs_are_refused_unless_allowed(
    make_system: MakeSystem, orgs: list[uuid.UUID]
) -> None:
    system = make_system(start=False)
    with pytest.raises(InvalidInputError, match="unknown job type"):
        system.submit("diagnostic.noop", {}, org_id=orgs[0])


def test_a_transient_error_is_retried_and_leaves_one_result(
    make_system: MakeSystem, catalog: Catalog, store: LocalStore, orgs: list[uuid.UUID]
) -> None:
    system = make_system()
    job_id = submit(system, orgs[0], seconds=0.1, fail_on_attempts=[1, 2])
    job = settled(catalog, job_id)
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 3)
    assert_keys(store, job_id, ["attempt-3/result.json"])


def test_a_permanent_error_fails_at_once_and_leaves_nothing(
    make_system: MakeSystem, catalog: Catalog, store: LocalStore, orgs: list[uuid.UUID]
) -> None:
    system = make_system()
    job_id = submit(system, orgs[0], seconds=0.1, fail_permanently=True)
    job = settled(catalog, job_id)
    assert (job.status, job.attempts) == (JobStatus.FAILED, 1)
    assert "diagnostic job asked to fail" in (job.error_message or "")
    assert_keys(store, job_id, [])


def test_cancelling_a_running_job_stops_it_within_seconds(
    make_system: MakeSystem, catalog: Catalog, store: LocalStore, orgs: list[uuid.UUID]
) -> None:
    system = make_system()
    job_id = submit(system, orgs[0], seconds=30, steps=300)
    wait_for(lambda: load_job(catalog, job_id).status == JobStatus.RUNNING, 10, "running")
    with system.subscribe(job_id) as events:
        cancelled_at = time.monotonic()
        system.cancel(job_id, org_id=orgs[0])
        assert [e["status"] for e in events][-1] == JobStatus.CANCELLED
    # the runner stops and removes its partial output
    wait_for(lambda: keys(store, job_id) == [], 5, "the attempt's outputs to go")
    assert time.monotonic() - cancelled_at < 3
    assert load_job(catalog, job_id).status == JobStatus.CANCELLED
    # the pool is free again
    assert settled(catalog, submit(system, orgs[0], seconds=0)).status == JobStatus.COMPLETED


def test_start_resumes_jobs_a_crash_left_running(
    make_system: MakeSystem, catalog: Catalog, store: LocalStore, orgs: list[uuid.UUID]
) -> None:
    """A previous process died with two jobs running (one with attempts left, one without)
    and left a partial output behind."""
    now = utcnow()
    with catalog.session() as session:
        jobs = JobRepository(session)
        ids = [
            jobs.create(
                org_id=orgs[0], job_type=SLEEP, parameters={"seconds": 0.1}, now=now, max_attempts=n
            ).id
            for n in (3, 1)
        ]
        for job_id in ids:
            jobs.claim(job_id, now=now, stale_before=now - timedelta(seconds=60))
    store.put(f"jobs/{ids[0]}/attempt-1/result.json", b"partial")
    make_system()
    resumed, exhausted = settled(catalog, ids[0]), settled(catalog, ids[1])
    assert (resumed.status, resumed.attempts) == (JobStatus.COMPLETED, 2)
    assert_keys(store, ids[0], ["attempt-2/result.json"])
    assert (exhausted.status, exhausted.attempts) == (JobStatus.FAILED, 1)


def test_stop_gives_running_jobs_back_without_using_an_attempt(
    make_system: MakeSystem, catalog: Catalog, orgs: list[uuid.UUID]
) -> None:
    first = make_system()
    job_id = submit(first, orgs[0], seconds=30, steps=300)
    wait_for(lambda: load_job(catalog, job_id).status == JobStatus.RUNNING, 10, "running")
    first.stop()
    job = load_job(catalog, job_id)
    assert (job.status, job.attempts) == (JobStatus.QUEUED, 0)
    with catalog.session() as session:  # make the resumed run short
        JobRepository(session).load(job_id).parameters = {"seconds": 0.1}  # type: ignore[union-attr]
    make_system()
    job = settled(catalog, job_id)
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 1)


def test_one_organisation_cannot_starve_another(
    make_system: MakeSystem, catalog: Catalog, orgs: list[uuid.UUID]
) -> None:
    """J7 in the embedded mode: a limit of one running job per organisation, two threads."""
    system = make_system(replace(FAST, org_concurrency=1))
    flood = [submit(system, orgs[0], seconds=0.3, steps=3) for _ in range(6)]
    other = submit(system, orgs[1], seconds=0.1, steps=1)
    jobs = [settled(catalog, job_id) for job_id in [*flood, other]]
    spans = sorted((as_utc(j.started_at), as_utc(j.finished_at)) for j in jobs[:-1])
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))  # type: ignore[operator]
    assert as_utc(jobs[-1].finished_at) < spans[2][0]  # type: ignore[operator]  # before A's 3rd
    assert all(j.status == JobStatus.COMPLETED for j in jobs)


def test_a_split_job_merges_its_parts(
    make_system: MakeSystem, catalog: Catalog, store: LocalStore, orgs: list[uuid.UUID]
) -> None:
    system = make_system()
    job_id = submit(
        system, orgs[0], "diagnostic.synthetic-ndvi", height=700, width=200, parts=5, align=64
    )
    job = settled(catalog, job_id)
    assert job.status == JobStatus.COMPLETED
    assert_keys(store, job_id, ["attempt-1/ndvi.npy"])  # the parts are gone once merged
    assert job.result_key is not None
    merged = np.load(io.BytesIO(store.get(job.result_key)))
    np.testing.assert_allclose(merged, independent_ndvi(700, 200, 0), rtol=1e-6, atol=1e-6)


def test_the_orphan_sweep_keeps_only_winning_attempts(
    catalog: Catalog, store: LocalStore, orgs: list[uuid.UUID]
) -> None:
    now = utcnow()
    with catalog.session() as session:
        jobs = JobRepository(session)
        job_id = jobs.create(org_id=orgs[0], job_type=SLEEP, parameters={}, now=now).id
        jobs.claim(job_id, now=now, stale_before=now)
        jobs.claim(job_id, now=now + timedelta(seconds=1), stale_before=now + timedelta(seconds=1))
        jobs.complete(job_id, 2, now=now, result_key=f"jobs/{job_id}/attempt-2/r", summary={})
    gone = uuid.uuid4()
    for key in (
        f"{job_id}/attempt-1/r",
        f"{job_id}/attempt-2/r",
        f"{job_id}/attempt-2/parts/00000/p",
        f"{gone}/attempt-1/r",
    ):
        store.put(f"jobs/{key}", b"x")
    assert remove_orphans(catalog, store, older_than=utcnow() + timedelta(seconds=1)) == 3
    assert [i.key for i in store.list("jobs/")] == [f"jobs/{job_id}/attempt-2/r"]


def test_the_api_runs_the_embedded_executor(tmp_path: Path) -> None:
    from terrascan.api.app import create_app
    from terrascan.settings import Settings
    from tests.jobs.conftest import make_orgs

    app = create_app(Settings(data_dir=tmp_path, job_heartbeat_interval_s=0.1))
    system: JobSystem = app.state.jobs
    assert system.embedded
    with TestClient(app):
        org = make_orgs(system.catalog, 1)[0]
        job_id = submit(system, org, seconds=0.05)
        assert settled(system.catalog, job_id).status == JobStatus.COMPLETED
    assert not any(t.name.startswith("terrascan-job") for t in threading.enumerate())
