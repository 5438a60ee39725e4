"""The body every executor runs for a job (and for a part of a split job).

``JobRuntime.execute(job_id)`` is idempotent: it claims the job through the guarded catalog
transition and does nothing when the job is already running elsewhere, finished, or cancelled,
so a task delivered twice (a redelivery after a visibility timeout, a duplicate enqueue from the
reconciler) runs the job once. The in-process pool and the Celery task both call it; only how
job ids travel to it differs (the :class:`Dispatcher`).
"""

from __future__ import annotations

import enum
import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from terrascan.catalog.database import Catalog
from terrascan.catalog.jobs import Claim, ClaimOutcome, JobRepository
from terrascan.catalog.models import AnalysisJob, JobStatus
from terrascan.errors import (
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    TooLargeError,
    UnsupportedFormatError,
)
from terrascan.io.storage import ObjectStore
from terrascan.jobs import cleanup
from terrascan.jobs.catalog_ops import Clock, utcnow, with_jobs
from terrascan.jobs.config import JobConfig
from terrascan.jobs.context import PARTS_DIR, JobContext, JobStopped
from terrascan.jobs.events import EventBus, make_event
from terrascan.jobs.fanout import DONE_MARKER, PartLocks
from terrascan.jobs.heartbeat import Heartbeat
from terrascan.jobs.registry import JobRegistry, JobType

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Errors that another attempt would meet again: the job fails at once.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    InvalidInputError,
    NotFoundError,
    TooLargeError,
    UnsupportedFormatError,
    PermissionDeniedError,
    ConflictError,
    ConfigurationError,
    ValidationError,
)


class PartOutcome(enum.StrEnum):
    COMPUTED = "computed"
    DONE = "done"
    BUSY = "busy"
    #: The attempt the part belongs to no longer runs.
    GONE = "gone"


class Dispatcher(Protocol):
    """How job ids reach workers: an in-process queue or a Celery broker."""

    def enqueue(self, job_id: uuid.UUID, *, delay_s: float = 0.0) -> None: ...

    def dispatch_parts(self, job_id: uuid.UUID, attempt: int, count: int) -> None: ...


class JobRuntime:
    """Claims, runs, heartbeats and settles jobs. One per worker process."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        store: ObjectStore,
        registry: JobRegistry,
        events: EventBus,
        config: JobConfig,
        dispatcher: Dispatcher,
        locks: PartLocks,
        clock: Clock = utcnow,
    ) -> None:
        self.catalog, self.store, self.registry = catalog, store, registry
        self.events, self.config, self.dispatcher = events, config, dispatcher
        self.locks, self.clock = locks, clock
        self._active: dict[tuple[uuid.UUID, int], JobContext] = {}
        self._active_lock = threading.Lock()

    # ------------------------------------------------------------------ jobs

    def execute(self, job_id: uuid.UUID) -> ClaimOutcome:
        """Claim ``job_id`` and run it to its end; a no-op unless the job is claimable."""
        now = self.clock()
        stale_before = now - timedelta(seconds=self.config.heartbeat_timeout_s)
        claim: Claim = self._jobs(
            lambda jobs: jobs.claim(
                job_id,
                now=now,
                stale_before=stale_before,
                org_limit=self.config.org_concurrency,
            )
        )
        if claim.outcome == ClaimOutcome.CLAIMED:
            assert claim.org_id is not None and claim.job is not None
            try:
                self._run_attempt(claim.job, claim.attempt)
            finally:
                self._kick(claim.org_id, after=job_id)
        elif claim.outcome == ClaimOutcome.EXHAUSTED:
            self._fail_exhausted(job_id)
        else:
            log.debug("job %s not run here: %s", job_id, claim.outcome)
        return claim.outcome

    def interrupt_all(self, reason: str = "shutdown") -> None:
        """Ask every attempt running in this process to stop (at its next check)."""
        with self._active_lock:
            contexts = list(self._active.values())
        for ctx in contexts:
            ctx.request_stop(reason)

    def _run_attempt(self, job: AnalysisJob, attempt: int) -> None:
        job_id = job.id
        ctx = JobContext(job_id, job.org_id, attempt, self.store, self.catalog)
        heartbeat = Heartbeat(
            self.catalog,
            job_id,
            attempt,
            interval_s=self.config.heartbeat_interval_s,
            clock=self.clock,
            on_lost=ctx.request_stop,
        )
        ctx.on_progress = self._progress_reporter(job_id, attempt, heartbeat)
        self._publish(job_id, JobStatus.RUNNING, attempt=attempt, message="running")
        with self._active_lock:
            self._active[(job_id, attempt)] = ctx
        try:
            with heartbeat:
                job_type = self.registry.get(job.job_type)
                spec = job_type.parse(job.parameters)
                ctx.parts_runner = self._parts_runner(job_type, spec, heartbeat)
                summary = _json_safe(job_type.run(spec, ctx))
        except JobStopped as exc:
            self._stopped(ctx, exc.reason)
        except Exception as exc:
            self._errored(job, ctx, exc)
        else:
            self._commit(ctx, summary)
        finally:
            with self._active_lock:
                self._active.pop((job_id, attempt), None)

    def _commit(self, ctx: JobContext, summary: dict[str, Any]) -> None:
        job_id, attempt, key = ctx.job_id, ctx.attempt, ctx.primary_output

        def complete(jobs: JobRepository) -> bool:
            done = bool(
                jobs.complete(job_id, attempt, now=self.clock(), result_key=key, summary=summary)
            )
            if not done:  # a retry after a commit whose reply was lost finds it done
                job = jobs.load(job_id)
                done = (
                    job is not None
                    and job.status == JobStatus.COMPLETED
                    and (job.attempts == attempt and job.result_key == key)
                )
            return done

        committed = self._jobs(complete, budget_s=self.config.db_retry_budget_s)
        if not committed:
            log.info("job %s attempt %d finished but no longer owned the job", job_id, attempt)
            cleanup.delete_prefix(self.store, ctx.prefix)
            return
        cleanup.remove_other_attempts(self.store, job_id, attempt)
        cleanup.delete_prefix(self.store, ctx.prefix + PARTS_DIR)  # merged: parts not needed
        self._publish(job_id, JobStatus.COMPLETED, attempt=attempt, progress=100.0)

    def _stopped(self, ctx: JobContext, reason: str) -> None:
        cleanup.delete_prefix(self.store, ctx.prefix)
        if reason == "shutdown":
            released = self._jobs(
                lambda jobs: jobs.release(ctx.job_id, ctx.attempt, now=self.clock())
            )
            if released:
                self._publish(ctx.job_id, JobStatus.QUEUED, message="requeued: worker shut down")
        log.info("job %s attempt %d stopped: %s", ctx.job_id, ctx.attempt, reason)

    def _errored(self, job: AnalysisJob, ctx: JobContext, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        log.warning("job %s attempt %d failed: %s", ctx.job_id, ctx.attempt, error)
        cleanup.delete_prefix(self.store, ctx.prefix)
        now = self.clock()
        retry = not isinstance(exc, PERMANENT_ERRORS) and ctx.attempt < job.max_attempts
        if retry and self._jobs(
            lambda jobs: jobs.retry_later(ctx.job_id, ctx.attempt, now=now, error=error)
        ):
            self._publish(ctx.job_id, JobStatus.QUEUED, attempt=ctx.attempt, message=error)
            self._enqueue(ctx.job_id, delay_s=self.config.backoff(ctx.attempt))
            return
        if self._jobs(lambda jobs: jobs.fail(ctx.job_id, ctx.attempt, now=now, error=error)):
            cleanup.remove_job_outputs(self.store, ctx.job_id)
            self._publish(ctx.job_id, JobStatus.FAILED, attempt=ctx.attempt, message=error)

    def _fail_exhausted(self, job_id: uuid.UUID) -> None:
        now = self.clock()
        stale_before = now - timedelta(seconds=self.config.heartbeat_timeout_s)
        # Only a running job whose heartbeat stopped gets here with every attempt used (a
        # queued job always has one left): the same outcome the reconciler reports.
        error = "no attempts left: the worker stopped responding on every attempt"
        if self._jobs(
            lambda jobs: jobs.fail_exhausted(
                job_id, now=now, stale_before=stale_before, error=error
            )
        ):
            cleanup.remove_job_outputs(self.store, job_id)
            self._publish(job_id, JobStatus.FAILED, message=error)

    def _kick(self, org_id: uuid.UUID, *, after: uuid.UUID) -> None:
        """Job ``after`` freed a slot of ``org_id``: send the organisation's oldest job that
        waits for a slot (a claim over the organisation's limit drops the message rather than
        holding it in the broker; ``after`` itself, if it is to retry, waits for its back-off)."""
        if self.config.org_concurrency <= 0:
            return
        try:
            for job_id in self._jobs(lambda jobs: jobs.oldest_waiting(org_id, 2)):
                if job_id != after:
                    self._enqueue(job_id)
                    return
        except Exception as exc:  # the reconciler will catch up
            log.warning("cannot hand the next job of an organisation to a worker: %s", exc)

    # ------------------------------------------------------------------ parts

    def _parts_runner(
        self, job_type: JobType[Any], spec: BaseModel, heartbeat: Heartbeat
    ) -> Callable[[JobContext, int], None]:
        def run_parts(ctx: JobContext, count: int) -> None:
            if count > 1:
                self.dispatcher.dispatch_parts(ctx.job_id, ctx.attempt, count)
            pending = list(range(count))
            while pending:
                ctx.check_cancelled()
                waiting = [
                    i
                    for i in pending
                    if self._part(job_type, spec, ctx, i, heartbeat) == PartOutcome.BUSY
                ]
                if len(waiting) < len(pending):
                    done = count - len(waiting)
                    ctx.progress(90.0 * done / count, f"{done}/{count} parts")
                elif waiting:
                    ctx.stop.wait(self.config.part_poll_s)
                pending = waiting

        return run_parts

    def execute_part(self, job_id: uuid.UUID, attempt: int, index: int) -> PartOutcome:
        """Compute part ``index`` of ``attempt`` of a split job, unless that attempt no longer
        runs (``GONE``), the part is done (``DONE``) or someone is computing it (``BUSY``)."""
        job = self._jobs(lambda jobs: jobs.load(job_id))
        if job is None or job.status != JobStatus.RUNNING or job.attempts != attempt:
            return PartOutcome.GONE
        job_type = self.registry.get(job.job_type)
        spec = job_type.parse(job.parameters)
        ctx = JobContext(job_id, job.org_id, attempt, self.store, self.catalog)
        heartbeat = Heartbeat(
            self.catalog,
            job_id,
            attempt,
            interval_s=self.config.heartbeat_interval_s,
            clock=self.clock,
            on_lost=ctx.request_stop,
        )
        with heartbeat:
            return self._part(job_type, spec, ctx, index, heartbeat, remote=True)

    def _part(
        self,
        job_type: JobType[Any],
        spec: BaseModel,
        ctx: JobContext,
        index: int,
        heartbeat: Heartbeat,
        *,
        remote: bool = False,
    ) -> PartOutcome:
        """Compute one part under its lease. A ``remote`` part (not run by the attempt that
        owns the job) checks that the attempt still runs before and after computing: the job
        may have finished, and removed its parts, in between; then it removes what it wrote."""
        if job_type.part is None:
            raise ConfigurationError(f"job type {job_type.name} has no part function")
        done_key = ctx.part_key(index, DONE_MARKER)
        if self.store.exists(done_key):
            return PartOutcome.DONE
        lease_key, ttl = f"{ctx.job_id}/{ctx.attempt}/{index}", self.config.part_lease_s
        token = self.locks.acquire(lease_key, ttl)
        if token is None:
            return PartOutcome.BUSY
        heartbeat.keep_alive(lease_key, lambda: self.locks.refresh(lease_key, token, ttl))
        try:
            if self.store.exists(done_key):
                return PartOutcome.DONE
            if remote and not self._owned(ctx):
                return PartOutcome.GONE
            part_ctx = JobContext(
                ctx.job_id,
                ctx.org_id,
                ctx.attempt,
                self.store,
                self.catalog,
                stop=ctx.stop,
                part_index=index,
            )
            job_type.part(spec, index, part_ctx)
            ctx.check_cancelled()
            self.store.put(done_key, b"")
            if remote and not self._owned(ctx):
                cleanup.delete_prefix(self.store, ctx.part_key(index, ""))
                return PartOutcome.GONE
            return PartOutcome.COMPUTED
        finally:
            heartbeat.keep_alive(lease_key, None)
            self.locks.release(lease_key, token)

    # ------------------------------------------------------------------ helpers

    def _owned(self, ctx: JobContext) -> bool:
        """Whether ``ctx``'s attempt still runs its job."""
        job = self._jobs(lambda jobs: jobs.load(ctx.job_id))
        return job is not None and job.status == JobStatus.RUNNING and job.attempts == ctx.attempt

    def _jobs(self, operation: Callable[[JobRepository], T], *, budget_s: float | None = None) -> T:
        budget = self.config.db_retry_budget_s if budget_s is None else budget_s
        return with_jobs(self.catalog, operation, budget_s=budget)

    def _enqueue(self, job_id: uuid.UUID, *, delay_s: float = 0.0) -> None:
        try:
            self.dispatcher.enqueue(job_id, delay_s=delay_s)
        except Exception as exc:  # the job is queued in the catalog; the reconciler resends
            log.warning("cannot enqueue job %s (the reconciler will): %s", job_id, exc)

    def _progress_reporter(
        self, job_id: uuid.UUID, attempt: int, heartbeat: Heartbeat
    ) -> Callable[[float, str], None]:
        def report(pct: float, message: str) -> None:
            heartbeat.update(pct, message)
            self.events.publish(
                job_id,
                make_event(
                    job_id,
                    kind="progress",
                    status=JobStatus.RUNNING,
                    progress_pct=pct,
                    message=message,
                    attempt=attempt,
                ),
            )

        return report

    def _publish(
        self,
        job_id: uuid.UUID,
        status: str,
        *,
        attempt: int | None = None,
        message: str = "",
        progress: float | None = None,
    ) -> None:
        self.events.publish(
            job_id,
            make_event(
                job_id,
                kind="status",
                status=status,
                progress_pct=progress,
                message=message,
                attempt=attempt,
            ),
        )


def _json_safe(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The runner's summary as stored (JSON); a runner bug, not a retryable failure."""
    try:
        result: dict[str, Any] = json.loads(json.dumps(dict(summary)))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"job result is not JSON: {exc}") from exc
    return result
