"""Jobs in the catalog, with state transitions that are guarded updates.

A job moves ``pending -> queued -> running -> completed | failed | cancelled``. Every transition
is one ``UPDATE ... WHERE status IN (...)`` that reports whether the row changed, so two workers
can never both run one job and a late worker can never overwrite a newer state:

- **claim** (queued, or running with a stale heartbeat, to running) increments ``attempts`` in
  the same statement; the new value is the *attempt number*, a fencing token that every later
  write of that attempt (heartbeat, completion, failure) must match;
- with an organisation limit, the claim also checks, in the same statement, how many of the
  organisation's jobs are running (on PostgreSQL under a per-organisation advisory lock, so two
  concurrent claims cannot both see a free slot);
- **complete** writes the result key, the summary and ``completed`` in one statement, so a job
  has its whole result or none of it.

Times are passed in by the caller (UTC), which keeps these methods deterministic in tests.
"""

from __future__ import annotations

import builtins
import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, text, update
from sqlalchemy.orm import aliased

from terrascan.catalog.models import AnalysisJob, JobStatus
from terrascan.catalog.repositories import TenantRepository
from terrascan.errors import ConflictError, NotFoundError

#: Statuses a job never leaves.
TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
#: Statuses from which a job can still be cancelled.
CANCELLABLE = (JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RUNNING)
_NO_SYNC = {"synchronize_session": False}
#: The message of a queued job whose organisation is at its running-jobs limit.
WAITING_MESSAGE = "waiting for a free slot of the organisation"


class ClaimOutcome(enum.StrEnum):
    CLAIMED = "claimed"
    #: The organisation is at its running-jobs limit; the job stays queued.
    DEFERRED = "deferred"
    #: The job used up its attempts; the caller should fail it.
    EXHAUSTED = "exhausted"
    #: Nothing to do: the job is running elsewhere, finished, cancelled or gone.
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: ClaimOutcome
    attempt: int = 0
    org_id: uuid.UUID | None = None
    #: The claimed job as the claim left it (loaded in the claim's transaction).
    job: AnalysisJob | None = None


@dataclass(frozen=True, slots=True)
class JobRef:
    """A job's id and organisation (what the reconciler needs to enqueue it again)."""

    id: uuid.UUID
    org_id: uuid.UUID


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; the catalog stores UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class JobRepository(TenantRepository[AnalysisJob]):
    """Analysis jobs: tenant reads (``get``/``list``) and guarded state transitions."""

    model = AnalysisJob
    noun = "job"

    # ------------------------------------------------------------------ create and read

    def create(
        self,
        *,
        org_id: uuid.UUID,
        job_type: str,
        parameters: Mapping[str, Any],
        now: datetime,
        inputs: Mapping[str, Any] | None = None,
        created_by: uuid.UUID | None = None,
        max_attempts: int = 3,
        queued: bool = True,
    ) -> AnalysisJob:
        """Insert a job, ``queued`` (ready for a worker) or ``pending`` (see ``mark_queued``)."""
        job = AnalysisJob(
            org_id=org_id,
            created_by=created_by,
            job_type=job_type,
            parameters=dict(parameters),
            inputs=dict(inputs or {}),
            status=JobStatus.QUEUED if queued else JobStatus.PENDING,
            max_attempts=max_attempts,
            attempts=0,
            progress_pct=0.0,
            message="queued" if queued else "pending",
            created_at=now,
            queued_at=now if queued else None,
        )
        return self.add(job)

    def load(self, job_id: uuid.UUID) -> AnalysisJob | None:
        """The job, whatever its organisation: for workers, never for tenant-facing reads."""
        stmt = select(AnalysisJob).where(AnalysisJob.id == job_id)
        return self.session.scalars(stmt.execution_options(populate_existing=True)).first()

    def list(
        self,
        *,
        org_id: uuid.UUID,
        status: Sequence[str] | None = None,
        limit: int = 100,
        offset: int = 0,
        job_type: str | None = None,
    ) -> builtins.list[AnalysisJob]:
        stmt = select(AnalysisJob).where(AnalysisJob.org_id == org_id)
        if status:
            stmt = stmt.where(AnalysisJob.status.in_(list(status)))
        if job_type is not None:
            stmt = stmt.where(AnalysisJob.job_type == job_type)
        stmt = stmt.order_by(AnalysisJob.created_at.desc(), AnalysisJob.id)
        return list(self.session.scalars(stmt.limit(limit).offset(offset)))

    def running_count(self, org_id: uuid.UUID, *, stale_before: datetime) -> int:
        """Running jobs of ``org_id`` that are alive (heartbeat newer than ``stale_before``)."""
        stmt = select(func.count()).where(*_alive_running(AnalysisJob, org_id, stale_before))
        return int(self.session.execute(stmt).scalar_one())

    def oldest_waiting(self, org_id: uuid.UUID, limit: int) -> builtins.list[uuid.UUID]:
        """Queued jobs of ``org_id`` that a claim deferred (``mark_waiting``), oldest first.

        Taken under the organisation's lock, so a claim deferred concurrently is seen."""
        self._lock_org(org_id)
        stmt = (
            select(AnalysisJob.id)
            .where(
                AnalysisJob.org_id == org_id,
                AnalysisJob.status == JobStatus.QUEUED,
                AnalysisJob.message == WAITING_MESSAGE,
            )
            .order_by(AnalysisJob.queued_at, AnalysisJob.id)
            .limit(limit)
        )
        return list(self.session.scalars(stmt))

    def queued(self, *, before: datetime, limit: int = 1000) -> builtins.list[JobRef]:
        """Queued jobs last (re)queued before ``before``, oldest first."""
        stmt = (
            select(AnalysisJob.id, AnalysisJob.org_id)
            .where(AnalysisJob.status == JobStatus.QUEUED, AnalysisJob.queued_at < before)
            .order_by(AnalysisJob.queued_at, AnalysisJob.id)
            .limit(limit)
        )
        return [JobRef(row.id, row.org_id) for row in self.session.execute(stmt)]

    def states(self, job_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[str, int]]:
        """``{id: (status, attempts)}`` for the jobs that exist among ``job_ids``."""
        if not job_ids:
            return {}
        stmt = select(AnalysisJob.id, AnalysisJob.status, AnalysisJob.attempts).where(
            AnalysisJob.id.in_(list(job_ids))
        )
        return {row.id: (row.status, row.attempts) for row in self.session.execute(stmt)}

    # ------------------------------------------------------------------ transitions

    def mark_queued(self, job_id: uuid.UUID, *, now: datetime) -> bool:
        """pending -> queued."""
        return self._update(
            [AnalysisJob.id == job_id, AnalysisJob.status == JobStatus.PENDING],
            status=JobStatus.QUEUED,
            queued_at=now,
            message="queued",
        )

    def mark_waiting(self, job_id: uuid.UUID) -> bool:
        """Note on a queued job that its organisation is at its limit (``claim`` does, when it
        defers; the message is dropped and the organisation's next finishing job resends it)."""
        return self._update(
            [AnalysisJob.id == job_id, AnalysisJob.status == JobStatus.QUEUED],
            message=WAITING_MESSAGE,
        )

    def claim(
        self, job_id: uuid.UUID, *, now: datetime, stale_before: datetime, org_limit: int = 0
    ) -> Claim:
        """queued (or running with a heartbeat older than ``stale_before``) -> running.

        Increments ``attempts`` and returns it as the attempt number. ``org_limit`` > 0 caps
        the organisation's live running jobs; over it the job stays queued (``DEFERRED``).
        """
        org_id = self.session.scalar(select(AnalysisJob.org_id).where(AnalysisJob.id == job_id))
        if org_id is None:
            return Claim(ClaimOutcome.SKIPPED)
        conditions = [
            AnalysisJob.id == job_id,
            AnalysisJob.attempts < AnalysisJob.max_attempts,
            _claimable(stale_before),
        ]
        if org_limit > 0:
            self._lock_org(org_id)
            other = aliased(AnalysisJob)
            running = (
                select(func.count())
                .select_from(other)
                .where(*_alive_running(other, org_id, stale_before), other.id != job_id)
                .scalar_subquery()
            )
            conditions.append(running < org_limit)
        stmt = (
            update(AnalysisJob)
            .where(*conditions)
            .values(
                status=JobStatus.RUNNING,
                attempts=AnalysisJob.attempts + 1,
                heartbeat_at=now,
                started_at=func.coalesce(AnalysisJob.started_at, now),
                progress_pct=0.0,
                message="running",
            )
            .returning(AnalysisJob.attempts)
            .execution_options(**_NO_SYNC)
        )
        attempt = self.session.execute(stmt).scalar_one_or_none()
        if attempt is not None:
            return Claim(ClaimOutcome.CLAIMED, attempt, org_id, self.load(job_id))
        outcome = self._why_not_claimed(job_id, stale_before)
        if outcome == ClaimOutcome.DEFERRED:  # in the same transaction, under the org's lock
            self.mark_waiting(job_id)
        return Claim(outcome, org_id=org_id)

    def heartbeat(
        self,
        job_id: uuid.UUID,
        attempt: int,
        *,
        now: datetime,
        progress_pct: float | None = None,
        message: str | None = None,
    ) -> bool:
        """Prove that ``attempt`` is alive; False once it no longer owns the job."""
        values: dict[str, Any] = {"heartbeat_at": now}
        if progress_pct is not None:
            values["progress_pct"] = progress_pct
        if message is not None:
            values["message"] = message
        return self._update(_owned(job_id, attempt), **values)

    def complete(
        self,
        job_id: uuid.UUID,
        attempt: int,
        *,
        now: datetime,
        result_key: str | None,
        summary: Mapping[str, Any],
    ) -> bool:
        """running -> completed with the result, in one statement (all of it or none)."""
        return self._update(
            _owned(job_id, attempt),
            status=JobStatus.COMPLETED,
            result_key=result_key,
            result_summary=dict(summary),
            progress_pct=100.0,
            message="completed",
            error_message=None,
            finished_at=now,
            heartbeat_at=now,
        )

    def fail(self, job_id: uuid.UUID, attempt: int, *, now: datetime, error: str) -> bool:
        """running -> failed, for the attempt that owns the job."""
        return self._update(
            _owned(job_id, attempt),
            status=JobStatus.FAILED,
            error_message=error[:4000],
            message="failed",
            finished_at=now,
        )

    def fail_exhausted(
        self, job_id: uuid.UUID, *, now: datetime, stale_before: datetime, error: str
    ) -> bool:
        """queued or dead running -> failed, when every attempt has been used."""
        return self._update(
            [
                AnalysisJob.id == job_id,
                AnalysisJob.attempts >= AnalysisJob.max_attempts,
                _claimable(stale_before),
            ],
            status=JobStatus.FAILED,
            error_message=error[:4000],
            message="failed",
            finished_at=now,
        )

    def retry_later(self, job_id: uuid.UUID, attempt: int, *, now: datetime, error: str) -> bool:
        """running -> queued after a retryable error, while attempts remain."""
        return self._update(
            [*_owned(job_id, attempt), AnalysisJob.attempts < AnalysisJob.max_attempts],
            status=JobStatus.QUEUED,
            queued_at=now,
            error_message=error[:4000],
            message=f"retrying after attempt {attempt}",
        )

    def release(self, job_id: uuid.UUID, attempt: int, *, now: datetime) -> bool:
        """running -> queued without using an attempt (the worker is shutting down)."""
        return self._update(
            _owned(job_id, attempt),
            status=JobStatus.QUEUED,
            attempts=AnalysisJob.attempts - 1,
            queued_at=now,
            message="requeued: worker shut down",
        )

    def cancel(self, job_id: uuid.UUID, *, org_id: uuid.UUID, now: datetime) -> AnalysisJob:
        """pending, queued or running -> cancelled. A running attempt notices at its next
        heartbeat and stops. Raises NotFoundError (other organisation) or ConflictError
        (already finished)."""
        changed = self._update(
            [
                AnalysisJob.id == job_id,
                AnalysisJob.org_id == org_id,
                AnalysisJob.status.in_(CANCELLABLE),
            ],
            status=JobStatus.CANCELLED,
            message="cancelled",
            finished_at=now,
        )
        job = self.load(job_id)
        if job is None or job.org_id != org_id:
            raise NotFoundError(f"job {job_id} not found")
        if not changed:
            raise ConflictError(f"job {job_id} is already {job.status}")
        return job

    def touch_queued(self, job_id: uuid.UUID, *, before: datetime, now: datetime) -> bool:
        """Restart a queued job's clock if nobody else did since ``before`` (so that one
        reconciler, not every one, enqueues it again)."""
        return self._update(
            [
                AnalysisJob.id == job_id,
                AnalysisJob.status == JobStatus.QUEUED,
                AnalysisJob.queued_at < before,
            ],
            queued_at=now,
        )

    def recover_stale(
        self, *, stale_before: datetime, now: datetime
    ) -> tuple[builtins.list[JobRef], builtins.list[uuid.UUID]]:
        """Running jobs whose heartbeat stopped: requeue those with attempts left, fail the
        rest. Returns (requeued, failed)."""
        dead = [AnalysisJob.status == JobStatus.RUNNING, AnalysisJob.heartbeat_at < stale_before]
        failed = (
            self.session.execute(
                update(AnalysisJob)
                .where(*dead, AnalysisJob.attempts >= AnalysisJob.max_attempts)
                .values(
                    status=JobStatus.FAILED,
                    finished_at=now,
                    message="failed",
                    error_message="the worker stopped responding on every attempt",
                )
                .returning(AnalysisJob.id)
                .execution_options(**_NO_SYNC)
            )
            .scalars()
            .all()
        )
        requeued = self.session.execute(
            update(AnalysisJob)
            .where(*dead, AnalysisJob.attempts < AnalysisJob.max_attempts)
            .values(
                status=JobStatus.QUEUED,
                queued_at=now,
                message="requeued: the worker stopped responding",
            )
            .returning(AnalysisJob.id, AnalysisJob.org_id)
            .execution_options(**_NO_SYNC)
        ).all()
        return [JobRef(row.id, row.org_id) for row in requeued], list(failed)

    # ------------------------------------------------------------------ helpers

    def _update(self, conditions: Sequence[ColumnElement[bool]], **values: Any) -> bool:
        stmt = (
            update(AnalysisJob)
            .where(*conditions)
            .values(**values)
            .returning(AnalysisJob.id)
            .execution_options(**_NO_SYNC)
        )
        return self.session.execute(stmt).first() is not None

    def _lock_org(self, org_id: uuid.UUID) -> None:
        """Serialise claims of one organisation until the transaction ends (PostgreSQL;
        SQLite already runs one write transaction at a time)."""
        if self.session.get_bind().dialect.name == "postgresql":
            key = int.from_bytes(org_id.bytes[:8], "big", signed=True)
            self.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    def _why_not_claimed(self, job_id: uuid.UUID, stale_before: datetime) -> ClaimOutcome:
        job = self.load(job_id)
        if job is None:
            return ClaimOutcome.SKIPPED
        heartbeat = as_utc(job.heartbeat_at)
        dead = (
            job.status == JobStatus.RUNNING and heartbeat is not None and (heartbeat < stale_before)
        )
        if job.status != JobStatus.QUEUED and not dead:
            return ClaimOutcome.SKIPPED
        if job.attempts >= job.max_attempts:
            return ClaimOutcome.EXHAUSTED
        return ClaimOutcome.DEFERRED


def _owned(job_id: uuid.UUID, attempt: int) -> builtins.list[ColumnElement[bool]]:
    return [
        AnalysisJob.id == job_id,
        AnalysisJob.status == JobStatus.RUNNING,
        AnalysisJob.attempts == attempt,
    ]


def _claimable(stale_before: datetime) -> ColumnElement[bool]:
    return or_(
        AnalysisJob.status == JobStatus.QUEUED,
        and_(AnalysisJob.status == JobStatus.RUNNING, AnalysisJob.heartbeat_at < stale_before),
    )


def _alive_running(
    table: Any, org_id: uuid.UUID, stale_before: datetime
) -> builtins.list[ColumnElement[bool]]:
    return [
        table.org_id == org_id,
        table.status == JobStatus.RUNNING,
        table.heartbeat_at >= stale_before,
    ]
