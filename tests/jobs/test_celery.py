"""Faults J1-J7 (SECURITY.md) against real Celery workers, a real Redis and PostgreSQL.

Each test starts its own Redis server (so it can crash it) and ``terrascan worker`` processes
on a fresh PostgreSQL database, and ends with every job completed exactly once or failed after
its attempts, never stuck.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import redis
from sqlalchemy import create_engine, text

from terrascan.catalog.database import Catalog
from terrascan.catalog.jobs import as_utc
from terrascan.catalog.models import AnalysisJob, JobStatus
from terrascan.io.storage import LocalStore
from terrascan.jobs.system import JobSystem, build_job_system
from terrascan.settings import Settings
from tests.conftest import service_missing
from tests.jobs.conftest import load_job, make_orgs, wait_for
from tests.jobs.processes import RedisServer, Worker, Workers
from tests.jobs.test_runners import independent_ndvi

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

#: Job settings shared by the workers and the test's producer.
JOB_SETTINGS: dict[str, object] = {
    "job_heartbeat_interval_s": 0.25,
    "job_heartbeat_timeout_s": 2.0,
    "job_reconcile_interval_s": 0.3,
    "job_requeue_after_s": 1.5,
    "job_retry_backoff_s": 0.1,
    "job_retry_backoff_max_s": 0.5,
    "job_visibility_timeout_s": 600,
    "job_org_concurrency": 0,
    "job_max_attempts": 3,
}
TERMINAL = {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}


@dataclass
class Cluster:
    catalog: Catalog
    store: LocalStore
    redis: RedisServer
    workers: Workers
    jobs: JobSystem
    orgs: list[uuid.UUID]
    database_url: str

    def submit(self, job_type: str = "diagnostic.sleep", org: int = 0, **spec: Any) -> uuid.UUID:
        job = self.jobs.submit(job_type, spec, org_id=self.orgs[org], allow_diagnostic=True)
        return job.id

    def job(self, job_id: uuid.UUID) -> AnalysisJob:
        return load_job(self.catalog, job_id)

    def settle(self, job_id: uuid.UUID, timeout: float = 40) -> AnalysisJob:
        def settled() -> AnalysisJob | None:
            job = self.job(job_id)
            return job if job.status in TERMINAL else None

        try:
            job = wait_for(settled, timeout, f"job {job_id} to settle", interval=0.1)
        except AssertionError as exc:
            details = f"{self.job(job_id).__dict__}\n{self.workers.logs()}"
            raise AssertionError(f"{exc}: {details}") from None
        assert job is not None
        return job

    def running(self, job_id: uuid.UUID, timeout: float = 20) -> AnalysisJob:
        def started() -> AnalysisJob | None:
            job = self.job(job_id)
            return job if job.status == JobStatus.RUNNING and "pid" in job.message else None

        job = wait_for(started, timeout, f"job {job_id} to run", interval=0.05)
        assert job is not None
        return job

    def keys(self, job_id: uuid.UUID) -> list[str]:
        return [info.key.split("/", 2)[2] for info in self.store.list(f"jobs/{job_id}/")]

    def assert_keys(self, job_id: uuid.UUID, expected: list[str]) -> None:
        """The job's objects become ``expected`` (outputs of other attempts and merged parts
        are removed just after the result is committed)."""
        wait_for(lambda: self.keys(job_id) == expected, 5, f"objects {expected}")

    def worker_running(self, job: AnalysisJob) -> Worker:
        pid = int(re.search(r"pid (\d+)", job.message)[1])  # type: ignore[index]
        [worker] = [w for w in self.workers.started if w.owns(pid)]
        return worker


@pytest.fixture
def cluster(
    postgis_url: str, redis_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Cluster]:
    try:
        redis = RedisServer(tmp_path / "redis")
    except FileNotFoundError:
        service_missing("redis-server is not installed (scripts/services.sh installs it)")
    redis.start()
    catalog = Catalog(postgis_url)
    catalog.upgrade()
    values = {
        "database_url": postgis_url,
        "broker_url": redis.url,
        "storage_url": str(tmp_path / "store"),
        "data_dir": str(tmp_path),
        "secret_key": "k" * 48,
        **JOB_SETTINGS,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("TERRASCAN_")}
    env |= {f"TERRASCAN_{k.upper()}": str(v) for k, v in values.items()}
    workers = Workers(env, tmp_path)
    jobs = build_job_system(
        Settings.model_validate(values), catalog, LocalStore(tmp_path / "store")
    )
    try:
        yield Cluster(
            catalog,
            LocalStore(tmp_path / "store"),
            redis,
            workers,
            jobs,
            make_orgs(catalog),
            postgis_url,
        )
    finally:
        workers.close()
        redis.close()
        jobs.events.close()
        catalog.dispose()
        print(workers.logs())  # shown when the test failed


def result_attempt(cluster: Cluster, job: AnalysisJob) -> int:
    assert job.result_key is not None
    attempt: int = json.loads(cluster.store.get(job.result_key))["attempt"]
    return attempt


def test_j1_a_job_survives_its_worker_being_sigkilled(cluster: Cluster) -> None:
    """J1: SIGKILL the whole worker mid-job; another worker re-runs it, exactly one result."""
    _, _ = cluster.workers.start(2)
    job_id = cluster.submit(seconds=3, steps=30)
    victim = cluster.worker_running(cluster.running(job_id))
    victim.kill()
    job = cluster.settle(job_id)
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 2)
    cluster.assert_keys(job_id, ["attempt-2/result.json"])  # no output of attempt 1 left
    assert result_attempt(cluster, job) == 2
    assert job.result_summary is not None
    assert not victim.owns(job.result_summary["pid"])  # the other worker ran it


def test_j1_a_restarted_worker_resumes_the_job(cluster: Cluster) -> None:
    """J1, single worker: killed mid-job after writing partial output, then restarted."""
    [worker] = cluster.workers.start(1)
    job_id = cluster.submit(seconds=2, steps=20)
    cluster.running(job_id)
    wait_for(lambda: cluster.keys(job_id), 10, "the partial output")
    worker.kill()
    cluster.workers.start(1)
    job = cluster.settle(job_id)
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 2)
    cluster.assert_keys(job_id, ["attempt-2/result.json"])


def test_j2_a_job_that_kills_its_worker_every_time_fails_after_its_attempts(
    cluster: Cluster,
) -> None:
    workers = cluster.workers.start(2)
    crasher = cluster.submit(seconds=1, steps=10, crash_always=True)
    others = [cluster.submit(seconds=0.3, steps=3) for _ in range(4)]
    job = cluster.settle(crasher, timeout=60)
    assert (job.status, job.attempts) == (JobStatus.FAILED, 3)
    assert "stopped responding" in (job.error_message or "")
    cluster.assert_keys(crasher, [])  # its partial outputs were removed
    for job_id in others:
        other = cluster.settle(job_id)
        assert (other.status, other.attempts) == (JobStatus.COMPLETED, 1)
    assert all(w.alive() for w in workers)  # the pool replaced its killed processes
    assert sum(w.count(r"WorkerLostError|exited with 'signal 9") for w in workers) >= 3


def test_j3_a_job_longer_than_the_visibility_timeout_runs_once(cluster: Cluster) -> None:
    workers = cluster.workers.start(2, job_visibility_timeout_s=1)
    job_id = cluster.submit(seconds=5, steps=25)
    job = cluster.settle(job_id)
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 1)
    cluster.assert_keys(job_id, ["attempt-1/result.json"])
    # the broker did hand the message out again, and the copy was dropped
    assert sum(w.count(r"succeeded in [\d.]+s: 'skipped'") for w in workers) >= 1


def test_j4_redis_restarted_mid_job(cluster: Cluster) -> None:
    [worker] = cluster.workers.start(1)
    long_job = cluster.submit(seconds=3, steps=30)
    cluster.running(long_job)
    waiting = [cluster.submit(seconds=0) for _ in range(3)]  # their messages sit in Redis
    cluster.redis.restart()  # ... and are lost
    client = redis.Redis.from_url(cluster.redis.url)
    assert client.llen("terrascan.jobs") == 0
    client.close()
    for job_id in [long_job, *waiting]:
        job = cluster.settle(job_id)
        assert (job.status, job.attempts) == (JobStatus.COMPLETED, 1), job.job_type
    assert worker.alive()
    assert worker.count(r"Connected to redis") >= 2  # it reconnected


@contextmanager
def database_outage(database_url: str, seconds: float) -> Iterator[None]:
    """Cut every connection to the test database and refuse new ones for ``seconds`` (the
    shared server keeps running for other tests; this is a restart as clients see it)."""
    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    admin = create_engine(f"{admin_url}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
        time.sleep(seconds)
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
        admin.dispose()


def test_j6_postgresql_away_mid_job(cluster: Cluster) -> None:
    """J6: the database goes away while a job runs and finishes: the worker retries with
    back-off and commits once it is back; a job submitted meanwhile waits, then runs."""
    [worker] = cluster.workers.start(1, job_heartbeat_timeout_s=15)
    job_id = cluster.submit(seconds=1.5, steps=15)
    cluster.running(job_id)
    submitted: list[uuid.UUID] = []
    with database_outage(cluster.database_url, 3.0):
        late = threading.Thread(target=lambda: submitted.append(cluster.submit(seconds=0.2)))
        late.start()
    late.join(timeout=30)
    job = cluster.settle(job_id)
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 1)
    cluster.assert_keys(job_id, ["attempt-1/result.json"])
    assert cluster.settle(submitted[0]).status == JobStatus.COMPLETED
    assert worker.count("catalog unavailable") >= 1  # retried with back-off
    with cluster.catalog.session() as session:  # no half-written rows
        for row in session.query(AnalysisJob):
            complete = [
                row.result_summary is not None,
                row.finished_at is not None,
                row.progress_pct == 100.0,
            ]
            assert all(complete) == (row.status == JobStatus.COMPLETED), row.__dict__


def test_j7_one_organisation_cannot_starve_another(cluster: Cluster) -> None:
    """Organisation A queues 8 jobs (6 s of work at its limit of one running job) before B
    submits one: B's job runs while A's flood is still in its first half."""
    cluster.workers.start(2, job_org_concurrency=1)
    flood = [cluster.submit(seconds=0.75, steps=5) for _ in range(8)]
    other = cluster.submit(org=1, seconds=0.1, steps=1)
    b = cluster.settle(other, timeout=20)
    assert b.status == JobStatus.COMPLETED
    waited = as_utc(b.started_at) - as_utc(b.created_at)  # type: ignore[operator]
    assert waited.total_seconds() < 5
    jobs = [cluster.settle(job_id) for job_id in flood]
    assert all(j.status == JobStatus.COMPLETED and j.attempts == 1 for j in jobs)
    spans = sorted((as_utc(j.started_at), as_utc(j.finished_at)) for j in jobs)
    # A never ran two jobs at once, and B did not wait for A's flood
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))  # type: ignore[operator]
    assert as_utc(b.finished_at) < spans[4][0]  # type: ignore[operator]


def test_a_split_job_fans_out_across_workers(cluster: Cluster) -> None:
    workers = cluster.workers.start(2)
    job_id = cluster.submit(
        "diagnostic.synthetic-ndvi",
        height=2048,
        width=512,
        parts=8,
        align=128,
        part_seconds=0.4,
        seed=3,
    )
    job = cluster.settle(job_id)
    assert job.status == JobStatus.COMPLETED and job.result_key is not None
    merged = np.load(io.BytesIO(cluster.store.get(job.result_key)))
    np.testing.assert_allclose(merged, independent_ndvi(2048, 512, 3), rtol=1e-6, atol=1e-6)
    # parts were computed by the other worker's part tasks as well as by the job's own worker
    assert sum(w.count(r"succeeded in [\d.]+s: 'computed'") for w in workers) >= 1
    cluster.assert_keys(job_id, ["attempt-1/ndvi.npy"])


def test_a_real_spectral_index_fans_out_and_merges_into_one_cog(
    cluster: Cluster, tmp_path: Path
) -> None:
    from terrascan.jobs.upload import upload_imagery
    from tests.api._analysis import ndvi, tall_scene

    data = tall_scene(tmp_path / "tall.tif", 4096, 2000)
    row = upload_imagery(
        tmp_path / "tall.tif", org_id=cluster.orgs[0], catalog=cluster.catalog,
        store=cluster.store, name="tall",
    )  # fmt: skip
    workers = cluster.workers.start(2)
    for _ in range(2):  # warm both workers up (imports, compiled kernels) with split jobs
        warm = cluster.jobs.submit(
            "spectral-index",
            {"imagery_id": str(row.id), "index_name": "ndvi", "parts": 2},
            org_id=cluster.orgs[0],
        )
        assert cluster.settle(warm.id, timeout=90).status == JobStatus.COMPLETED
    job = cluster.jobs.submit(
        "spectral-index",
        {"imagery_id": str(row.id), "index_name": "ndvi", "parts": 8},
        org_id=cluster.orgs[0],
    )
    done = cluster.settle(job.id, timeout=90)
    assert done.status == JobStatus.COMPLETED, done.error_message
    assert done.result_summary is not None and done.result_summary["parts"] == 8
    with rasterio.open(cluster.store.gdal_path(str(done.result_key)).path) as src:
        np.testing.assert_allclose(src.read(1), ndvi(data), rtol=1e-5)
    assert sum(w.count(r"succeeded in [\d.]+s: 'computed'") for w in workers) >= 1
    cluster.assert_keys(job.id, ["attempt-1/ndvi.tif"])


def test_cancelling_stops_a_job_on_a_worker(cluster: Cluster) -> None:
    [worker] = cluster.workers.start(1)
    job_id = cluster.submit(seconds=30, steps=300)
    cluster.running(job_id)
    started = time.monotonic()
    cluster.jobs.cancel(job_id, org_id=cluster.orgs[0])
    wait_for(lambda: "stopped: cancelled" in worker.log, 10, "the worker to stop the job")
    assert time.monotonic() - started < 3
    assert cluster.job(job_id).status == JobStatus.CANCELLED
    cluster.assert_keys(job_id, [])
    assert cluster.settle(cluster.submit(seconds=0)).status == JobStatus.COMPLETED
