"""``JobSystem``: what the API and the command line use to submit, cancel and follow jobs.

``build_job_system(settings, catalog, store)`` picks the executor: with no broker configured,
an in-process pool (the embedded mode); with ``TERRASCAN_BROKER_URL``, Celery workers, and this
process only enqueues and reconciles. Either way::

    job = jobs.submit("diagnostic.sleep", {"seconds": 1}, org_id=org, allow_diagnostic=True)
    with jobs.subscribe(job.id) as events: ...
    jobs.cancel(job.id, org_id=org)
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from terrascan.catalog.database import Catalog
from terrascan.catalog.models import AnalysisJob, JobStatus
from terrascan.errors import InvalidInputError
from terrascan.io.storage import ObjectStore
from terrascan.jobs.catalog_ops import Clock, utcnow, with_jobs
from terrascan.jobs.config import JobConfig
from terrascan.jobs.events import EventBus, MemoryEventBus, Subscription, make_event
from terrascan.jobs.fanout import MemoryPartLocks
from terrascan.jobs.inprocess import InProcessExecutor
from terrascan.jobs.reconciler import Reconciler
from terrascan.jobs.registry import JobRegistry, default_registry
from terrascan.jobs.runtime import Dispatcher, JobRuntime
from terrascan.settings import Settings

log = logging.getLogger(__name__)


class JobSystem:
    """Submits jobs to the catalog and a dispatcher; runs the reconciler (and, embedded, the
    worker pool) between ``start()`` and ``stop()``."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        store: ObjectStore,
        registry: JobRegistry,
        events: EventBus,
        config: JobConfig,
        dispatcher: Dispatcher,
        pool: InProcessExecutor | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.catalog, self.store, self.registry = catalog, store, registry
        self.events, self.config, self.dispatcher = events, config, dispatcher
        self.pool, self.clock = pool, clock
        self.reconciler = Reconciler(
            catalog=catalog,
            store=store,
            dispatcher=dispatcher,
            events=events,
            config=config,
            clock=clock,
        )
        self._started = False

    @property
    def embedded(self) -> bool:
        return self.pool is not None

    # ------------------------------------------------------------------ use

    def submit(
        self,
        job_type: str,
        spec: Mapping[str, Any] | BaseModel,
        *,
        org_id: uuid.UUID,
        created_by: uuid.UUID | None = None,
        inputs: Mapping[str, Any] | None = None,
        max_attempts: int | None = None,
        allow_diagnostic: bool = False,
    ) -> AnalysisJob:
        """Validate ``spec``, record the job as ``queued`` and hand its id to a worker.

        If the broker cannot be reached the job stays queued in the catalog and the
        reconciler sends it later. Diagnostic job types (which can crash workers on purpose)
        are refused unless ``allow_diagnostic``.
        """
        kind = self.registry.get(job_type)
        if kind.diagnostic and not allow_diagnostic:
            raise InvalidInputError(f"unknown job type {job_type!r}")
        parameters = kind.parse(spec).model_dump(mode="json")
        job = with_jobs(
            self.catalog,
            lambda jobs: jobs.create(
                org_id=org_id,
                job_type=job_type,
                parameters=parameters,
                inputs=inputs,
                created_by=created_by,
                max_attempts=max_attempts or self.config.max_attempts,
                now=self.clock(),
            ),
        )
        self._publish(job.id, JobStatus.QUEUED, "queued")
        self._dispatch(job.id)
        return job

    def enqueue(self, job_id: uuid.UUID) -> bool:
        """Move a ``pending`` job (created with ``queued=False``) to ``queued`` and send it."""
        changed = with_jobs(self.catalog, lambda jobs: jobs.mark_queued(job_id, now=self.clock()))
        if changed:
            self._publish(job_id, JobStatus.QUEUED, "queued")
            self._dispatch(job_id)
        return bool(changed)

    def cancel(self, job_id: uuid.UUID, *, org_id: uuid.UUID) -> AnalysisJob:
        """Cancel a job of ``org_id``; a running attempt stops within a heartbeat interval.
        NotFoundError for another organisation's job, ConflictError for a finished one."""
        job = with_jobs(
            self.catalog, lambda jobs: jobs.cancel(job_id, org_id=org_id, now=self.clock())
        )
        self._publish(job_id, JobStatus.CANCELLED, "cancelled")
        return job

    def get(self, job_id: uuid.UUID, *, org_id: uuid.UUID) -> AnalysisJob:
        return with_jobs(self.catalog, lambda jobs: jobs.get(job_id, org_id=org_id))

    def subscribe(self, job_id: uuid.UUID) -> Subscription:
        """Progress and status events of one job (subscribe before reading its state)."""
        return self.events.subscribe(job_id)

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Embedded: resume what a previous process left (on SQLite its running jobs are
        requeued, or failed when out of attempts, at once; elsewhere once their heartbeat is
        stale), start the pool. Both modes: start the periodic reconciler."""
        if self._started:
            return
        self._started = True
        if self.pool is not None:
            # one SQLite file, one process: whatever it shows running died with the last one
            self.reconciler.run_once(takeover_running=self.catalog.dialect == "sqlite")
            with_jobs(self.catalog, lambda jobs: self._enqueue_all_queued(jobs))
            self.pool.start()
        self.reconciler.start()

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self.reconciler.stop()
        if self.pool is not None:
            self.pool.stop()
        self.events.close()

    def _enqueue_all_queued(self, jobs: Any) -> None:
        for ref in jobs.queued(before=self.clock(), limit=100_000):
            self.dispatcher.enqueue(ref.id)

    def _dispatch(self, job_id: uuid.UUID) -> None:
        try:
            self.dispatcher.enqueue(job_id)
        except Exception as exc:
            log.warning("cannot enqueue job %s now (the reconciler will): %s", job_id, exc)

    def _publish(self, job_id: uuid.UUID, status: str, message: str) -> None:
        event = make_event(job_id, kind="status", status=status, message=message)
        self.events.publish(job_id, event)


def build_job_system(
    settings: Settings,
    catalog: Catalog,
    store: ObjectStore,
    *,
    registry: JobRegistry | None = None,
    config: JobConfig | None = None,
) -> JobSystem:
    """The job system the settings describe (not started: call ``start()``)."""
    config = config or JobConfig.from_settings(settings)
    registry = registry or default_registry()
    if settings.broker_url:
        from terrascan.jobs import celery_app

        app = celery_app.make_celery(settings, registry=registry, reconcile=False)
        return JobSystem(
            catalog=catalog,
            store=store,
            registry=registry,
            events=celery_app.events_for(settings),
            config=config,
            dispatcher=celery_app.CeleryDispatcher(app),
        )
    return embedded_job_system(catalog, store, registry=registry, config=config)


def embedded_job_system(
    catalog: Catalog,
    store: ObjectStore,
    *,
    registry: JobRegistry | None = None,
    config: JobConfig | None = None,
    clock: Clock = utcnow,
) -> JobSystem:
    """An in-process job system: ``config.pool_size`` threads, events in memory."""
    config = config or JobConfig()
    registry = registry or default_registry()
    events = MemoryEventBus()
    pool = InProcessExecutor(config.pool_size)
    runtime = JobRuntime(
        catalog=catalog,
        store=store,
        registry=registry,
        events=events,
        config=config,
        dispatcher=pool,
        locks=MemoryPartLocks(),
        clock=clock,
    )
    pool.bind(runtime)
    return JobSystem(
        catalog=catalog,
        store=store,
        registry=registry,
        events=events,
        config=config,
        dispatcher=pool,
        pool=pool,
        clock=clock,
    )
