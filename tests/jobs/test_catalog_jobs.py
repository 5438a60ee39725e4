"""Job state transitions in the catalog are guarded updates (SQLite and PostGIS)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from terrascan.catalog.database import Catalog
from terrascan.catalog.jobs import WAITING_MESSAGE, Claim, ClaimOutcome, JobRepository, as_utc
from terrascan.catalog.models import JobStatus
from terrascan.errors import ConflictError, NotFoundError

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
STALE = timedelta(seconds=30)


def create(
    catalog: Catalog, org_id: uuid.UUID, *, max_attempts: int = 3, now: datetime = T0
) -> uuid.UUID:
    with catalog.session() as session:
        job = JobRepository(session).create(
            org_id=org_id,
            job_type="diagnostic.noop",
            parameters={},
            now=now,
            max_attempts=max_attempts,
        )
        return job.id


def claim(catalog: Catalog, job_id: uuid.UUID, now: datetime = T0, org_limit: int = 0) -> Claim:
    with catalog.session() as session:
        return JobRepository(session).claim(
            job_id, now=now, stale_before=now - STALE, org_limit=org_limit
        )


def state(catalog: Catalog, job_id: uuid.UUID) -> tuple[str, int]:
    with catalog.session() as session:
        return JobRepository(session).states([job_id])[job_id]


def test_a_job_is_claimed_once(catalog: Catalog, orgs: list[uuid.UUID]) -> None:
    job_id = create(catalog, orgs[0])
    first, second = claim(catalog, job_id), claim(catalog, job_id)
    assert (first.outcome, first.attempt) == (ClaimOutcome.CLAIMED, 1)
    assert second.outcome == ClaimOutcome.SKIPPED
    assert state(catalog, job_id) == (JobStatus.RUNNING, 1)


def test_a_dead_attempt_is_taken_over_and_fenced_off(
    catalog: Catalog, orgs: list[uuid.UUID]
) -> None:
    job_id = create(catalog, orgs[0])
    assert claim(catalog, job_id).attempt == 1
    assert claim(catalog, job_id, now=T0 + STALE / 2).outcome == ClaimOutcome.SKIPPED  # alive
    later = T0 + 2 * STALE
    takeover = claim(catalog, job_id, now=later)
    assert (takeover.outcome, takeover.attempt) == (ClaimOutcome.CLAIMED, 2)
    with catalog.session() as session:
        jobs = JobRepository(session)
        assert not jobs.heartbeat(job_id, 1, now=later)
        assert not jobs.complete(job_id, 1, now=later, result_key="jobs/x/attempt-1/r", summary={})
        assert jobs.heartbeat(job_id, 2, now=later, progress_pct=50.0, message="half")
    with catalog.session() as session:
        job = JobRepository(session).load(job_id)
        assert job is not None
        assert (job.status, job.result_key, job.progress_pct, job.message) == (
            JobStatus.RUNNING,
            None,
            50.0,
            "half",
        )


def test_completion_writes_the_whole_result_in_one_step(
    catalog: Catalog, orgs: list[uuid.UUID]
) -> None:
    job_id = create(catalog, orgs[0])
    claim(catalog, job_id)
    key = f"jobs/{job_id}/attempt-1/out.tif"
    with catalog.session() as session:
        assert JobRepository(session).complete(
            job_id, 1, now=T0 + STALE, result_key=key, summary={"mean": 0.5}
        )
    with catalog.session() as session:
        jobs = JobRepository(session)
        job = jobs.get(job_id, org_id=orgs[0])
        assert (job.status, job.result_key, job.result_summary, job.progress_pct) == (
            JobStatus.COMPLETED,
            key,
            {"mean": 0.5},
            100.0,
        )
        assert as_utc(job.finished_at) == T0 + STALE
        assert not jobs.complete(job_id, 1, now=T0, result_key="other", summary={})
        assert not jobs.fail(job_id, 1, now=T0, error="late")
        with pytest.raises(NotFoundError):
            jobs.get(job_id, org_id=orgs[1])


def test_attempts_are_bounded(catalog: Catalog, orgs: list[uuid.UUID]) -> None:
    job_id = create(catalog, orgs[0], max_attempts=2)
    now = T0
    for attempt in (1, 2):
        assert claim(catalog, job_id, now=now).attempt == attempt
        now += 2 * STALE  # the worker died: its heartbeat is stale
        with catalog.session() as session:
            requeued, failed = JobRepository(session).recover_stale(
                stale_before=now - STALE, now=now
            )
        if attempt == 1:
            assert ([r.id for r in requeued], failed) == ([job_id], [])
            assert state(catalog, job_id) == (JobStatus.QUEUED, 1)
        else:
            assert (requeued, failed) == ([], [job_id])
    assert state(catalog, job_id) == (JobStatus.FAILED, 2)


def test_an_exhausted_job_cannot_be_claimed(catalog: Catalog, orgs: list[uuid.UUID]) -> None:
    job_id = create(catalog, orgs[0], max_attempts=1)
    assert claim(catalog, job_id).attempt == 1
    late = T0 + 2 * STALE
    assert claim(catalog, job_id, now=late).outcome == ClaimOutcome.EXHAUSTED
    with catalog.session() as session:
        assert JobRepository(session).fail_exhausted(
            job_id, now=late, stale_before=late - STALE, error="no attempts left"
        )
    assert state(catalog, job_id) == (JobStatus.FAILED, 1)


def test_retry_and_release(catalog: Catalog, orgs: list[uuid.UUID]) -> None:
    job_id = create(catalog, orgs[0], max_attempts=2)
    claim(catalog, job_id)
    with catalog.session() as session:
        assert JobRepository(session).retry_later(job_id, 1, now=T0, error="flaky")
    assert state(catalog, job_id) == (JobStatus.QUEUED, 1)
    claim(catalog, job_id)
    with catalog.session() as session:
        jobs = JobRepository(session)
        assert not jobs.retry_later(job_id, 2, now=T0, error="flaky")  # no attempts left
        assert jobs.release(job_id, 2, now=T0)  # shutting down gives the attempt back
    assert state(catalog, job_id) == (JobStatus.QUEUED, 1)


def test_cancel(catalog: Catalog, orgs: list[uuid.UUID]) -> None:
    queued, running = create(catalog, orgs[0]), create(catalog, orgs[0])
    claim(catalog, running)
    with catalog.session() as session:
        jobs = JobRepository(session)
        with pytest.raises(NotFoundError):
            jobs.cancel(queued, org_id=orgs[1], now=T0)
        assert jobs.cancel(queued, org_id=orgs[0], now=T0).status == JobStatus.CANCELLED
        assert jobs.cancel(running, org_id=orgs[0], now=T0).status == JobStatus.CANCELLED
        assert not jobs.heartbeat(running, 1, now=T0)  # the runner learns at its next beat
    with catalog.session() as session, pytest.raises(ConflictError):
        JobRepository(session).cancel(queued, org_id=orgs[0], now=T0)
    assert claim(catalog, queued).outcome == ClaimOutcome.SKIPPED


def test_org_limit_defers_and_frees(catalog: Catalog, orgs: list[uuid.UUID]) -> None:
    a1, a2, b1 = create(catalog, orgs[0]), create(catalog, orgs[0]), create(catalog, orgs[1])
    assert claim(catalog, a1, org_limit=1).outcome == ClaimOutcome.CLAIMED
    assert claim(catalog, a2, org_limit=1).outcome == ClaimOutcome.DEFERRED
    assert claim(catalog, b1, org_limit=1).outcome == ClaimOutcome.CLAIMED  # B is not blocked
    with catalog.session() as session:
        jobs = JobRepository(session)
        assert jobs.load(a2).message == WAITING_MESSAGE  # type: ignore[union-attr]
        assert jobs.oldest_waiting(orgs[0], 5) == [a2]
        assert jobs.running_count(orgs[0], stale_before=T0 - STALE) == 1
    # a dead job does not hold its organisation's slot
    late = T0 + 2 * STALE
    assert claim(catalog, a2, now=late, org_limit=1).outcome == ClaimOutcome.CLAIMED


def test_list_filters_by_org_and_status(catalog: Catalog, orgs: list[uuid.UUID]) -> None:
    a1, a2 = create(catalog, orgs[0]), create(catalog, orgs[0], now=T0 + STALE)
    create(catalog, orgs[1])
    claim(catalog, a1)
    with catalog.session() as session:
        jobs = JobRepository(session)
        assert [j.id for j in jobs.list(org_id=orgs[0])] == [a2, a1]
        assert [j.id for j in jobs.list(org_id=orgs[0], status=[JobStatus.RUNNING])] == [a1]


@pytest.mark.parametrize("org_limit", [0, 2])
def test_concurrent_claims(catalog: Catalog, orgs: list[uuid.UUID], org_limit: int) -> None:
    """Eight workers claim at once: one job is claimed once; with a limit of two per
    organisation, two of eight jobs of one organisation start."""
    same = create(catalog, orgs[0])
    many = [create(catalog, orgs[1]) for _ in range(8)]
    barrier = threading.Barrier(8)
    results: dict[str, list[ClaimOutcome]] = {"same": [], "many": []}
    lock = threading.Lock()

    def worker(index: int) -> None:
        barrier.wait()
        first = claim(catalog, same, org_limit=org_limit).outcome
        second = claim(catalog, many[index], org_limit=org_limit).outcome
        with lock:
            results["same"].append(first)
            results["many"].append(second)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results["same"].count(ClaimOutcome.CLAIMED) == 1
    assert results["many"].count(ClaimOutcome.CLAIMED) == (org_limit or 8)
