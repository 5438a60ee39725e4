"""The production executor: Celery over Redis (or RabbitMQ), built from settings at start-up.

Tasks carry only ids; their bodies are :class:`~terrascan.jobs.runtime.JobRuntime` calls, which
claim the job in the catalog first and skip it when it is running elsewhere or finished, so a
message delivered twice runs its job once. The configuration follows from that:

- ``acks_late`` and ``reject_on_worker_lost``: a message is acknowledged only after its job
  settled, and goes back to the queue when its worker process dies;
- prefetch multiplier 1: a worker holds one message per free process, so a long job never
  sits on messages other workers could run;
- a broker visibility timeout (``TERRASCAN_JOB_VISIBILITY_TIMEOUT_S``) longer than the longest
  job; a job that outlives it is redelivered, finds itself running, and the duplicate is
  dropped;
- the reconciler runs in every worker (a thread of the main process) and in
  ``terrascan serve``: it requeues jobs whose heartbeat stopped and re-enqueues queued jobs
  whose message was lost, from the catalog.

Jobs go to the queue ``terrascan.jobs``; the parts of split jobs to ``terrascan.parts``, so a
scene-sized job's parts never queue in front of other organisations' jobs.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from typing import Any

from terrascan.catalog.database import Catalog
from terrascan.errors import ConfigurationError, ServiceUnavailableError
from terrascan.jobs.config import JobConfig, store_from_settings
from terrascan.jobs.events import EventBus, MemoryEventBus, RedisEventBus
from terrascan.jobs.fanout import MemoryPartLocks, PartLocks, RedisPartLocks
from terrascan.jobs.reconciler import Reconciler
from terrascan.jobs.registry import JobRegistry, default_registry
from terrascan.jobs.runtime import JobRuntime
from terrascan.settings import Settings

log = logging.getLogger(__name__)

RUN_JOB = "terrascan.jobs.run"
RUN_PART = "terrascan.jobs.part"
JOB_QUEUE = "terrascan.jobs"
PART_QUEUE = "terrascan.parts"
#: Retries of a task whose catalog was unreachable (with back-off; the reconciler resends
#: the job later anyway).
MAX_TASK_RETRIES = 20


def is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "unix://"))


def transport_options(config: JobConfig) -> dict[str, Any]:
    """Kombu transport options: the visibility timeout, and Redis sockets that fail fast and
    reconnect instead of hanging on a restarted server."""
    visibility = config.visibility_timeout_s
    return {
        "visibility_timeout": visibility,
        # sweep for unacknowledged messages often enough to honour a short visibility timeout
        "unacked_restore_interval": max(1, min(10, visibility // 4)),
        "unacked_restore_throttle": 1 if visibility < 600 else 10,
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
        "socket_keepalive": True,
        "health_check_interval": 10,
        "retry_on_timeout": True,
    }


def events_for(settings: Settings) -> EventBus:
    """Redis pub/sub on the broker's server (in memory with a broker that is not Redis)."""
    url = settings.broker_url
    return RedisEventBus(url) if is_redis(url) else MemoryEventBus()


def locks_for(settings: Settings) -> PartLocks:
    url = settings.broker_url
    return RedisPartLocks(url) if is_redis(url) else MemoryPartLocks()


class CeleryDispatcher:
    """Sends job ids (and part indexes) to the workers through the broker."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def enqueue(self, job_id: uuid.UUID, *, delay_s: float = 0.0) -> None:
        self.app.send_task(RUN_JOB, args=[str(job_id)], queue=JOB_QUEUE, countdown=delay_s or None)

    def dispatch_parts(self, job_id: uuid.UUID, attempt: int, count: int) -> None:
        from celery import group

        group(
            self.app.signature(RUN_PART, args=[str(job_id), attempt, index], queue=PART_QUEUE)
            for index in range(count)
        ).apply_async()


class _WorkerState:
    """What one worker process builds once (after the fork, in prefork children)."""

    def __init__(self, settings: Settings, app: Any, registry: JobRegistry | None) -> None:
        self.settings, self.app, self.registry = settings, app, registry
        self.config = JobConfig.from_settings(settings)
        self._lock = threading.Lock()
        self._runtime: tuple[int, JobRuntime] | None = None
        self.reconciler: Reconciler | None = None

    def runtime(self) -> JobRuntime:
        with self._lock:
            if self._runtime is None or self._runtime[0] != os.getpid():
                self._runtime = (os.getpid(), self._build_runtime())
            return self._runtime[1]

    def _build_runtime(self) -> JobRuntime:
        return JobRuntime(
            catalog=Catalog(self.settings.resolved_database_url),
            store=store_from_settings(self.settings),
            registry=self.registry or default_registry(),
            events=events_for(self.settings),
            config=self.config,
            dispatcher=CeleryDispatcher(self.app),
            locks=locks_for(self.settings),
        )

    def start_reconciler(self) -> None:
        if self.reconciler is None:
            self.reconciler = Reconciler(
                catalog=Catalog(self.settings.resolved_database_url),
                store=store_from_settings(self.settings),
                dispatcher=CeleryDispatcher(self.app),
                events=events_for(self.settings),
                config=self.config,
            )
            self.reconciler.start()

    def stop_reconciler(self) -> None:
        if self.reconciler is not None:
            self.reconciler.stop()
            self.reconciler = None


def make_celery(
    settings: Settings, *, registry: JobRegistry | None = None, reconcile: bool = True
) -> Any:
    """The Celery app for ``settings`` (never built at import). ``reconcile``: a worker started
    from this app runs the reconciler in its main process."""
    if not settings.broker_url:
        raise ConfigurationError("the Celery executor needs TERRASCAN_BROKER_URL")
    from celery import Celery, signals

    config = JobConfig.from_settings(settings)
    app: Any = Celery("terrascan", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=JOB_QUEUE,
        task_routes={RUN_PART: {"queue": PART_QUEUE}},
        broker_transport_options=transport_options(config),
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        # running jobs keep running through a broker outage: their tasks are idempotent
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_send_task_events=False,
        enable_utc=True,
    )
    state = _WorkerState(settings, app, registry)
    app.terrascan_state = state
    options = {"bind": True, "acks_late": True, "reject_on_worker_lost": True}

    def run_job(self: Any, job_id: str) -> str:
        try:
            return str(state.runtime().execute(uuid.UUID(job_id)))
        except ServiceUnavailableError as exc:  # the catalog stayed away: later
            countdown = config.backoff(self.request.retries + 1)
            raise self.retry(exc=exc, countdown=countdown, max_retries=MAX_TASK_RETRIES) from exc

    def run_part(self: Any, job_id: str, attempt: int, index: int) -> str:
        try:
            return str(state.runtime().execute_part(uuid.UUID(job_id), attempt, index))
        except ServiceUnavailableError as exc:
            countdown = config.backoff(self.request.retries + 1)
            raise self.retry(exc=exc, countdown=countdown, max_retries=MAX_TASK_RETRIES) from exc

    app.task(name=RUN_JOB, **options)(run_job)
    app.task(name=RUN_PART, **options)(run_part)

    if reconcile:

        def on_ready(sender: Any = None, **_: Any) -> None:
            if getattr(sender, "app", None) is app:
                state.start_reconciler()

        def on_shutdown(sender: Any = None, **_: Any) -> None:
            state.stop_reconciler()

        signals.worker_ready.connect(on_ready, weak=False)
        signals.worker_shutdown.connect(on_shutdown, weak=False)
    return app


def run_worker(
    settings: Settings,
    *,
    concurrency: int | None = None,
    pool: str = "prefork",
    loglevel: str = "INFO",
    reconcile: bool = True,
) -> None:
    """Start a Celery worker on the job and part queues (``terrascan worker``)."""
    app = make_celery(settings, reconcile=reconcile)
    argv = [
        "worker",
        f"--loglevel={loglevel}",
        f"--concurrency={concurrency or settings.worker_pool_size}",
        f"--pool={pool}",
        f"--queues={JOB_QUEUE},{PART_QUEUE}",
        f"--hostname=terrascan-{os.getpid()}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    app.worker_main(argv)
