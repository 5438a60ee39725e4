"""The reconciler: the catalog, not the broker, decides what still has to run.

Each pass (every ``reconcile_interval_s``, in every Celery worker and in ``terrascan serve``;
concurrent passes are safe because every change is a guarded update):

1. running jobs whose heartbeat stopped (their worker died) go back to ``queued`` and are
   enqueued again, or ``failed`` once their attempts are used up;
2. queued jobs that nobody claimed for ``requeue_after_s`` (their message was lost with a
   restarted broker, or enqueueing failed) are enqueued again, at most as many per
   organisation as it has free slots;
3. now and then, outputs of attempts that did not win are removed.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from terrascan.catalog.database import Catalog
from terrascan.catalog.jobs import JobRef, JobRepository
from terrascan.catalog.models import JobStatus
from terrascan.io.storage import ObjectStore
from terrascan.jobs import cleanup
from terrascan.jobs.catalog_ops import Clock, utcnow, with_jobs
from terrascan.jobs.config import JobConfig
from terrascan.jobs.events import EventBus, make_event
from terrascan.jobs.runtime import Dispatcher

log = logging.getLogger(__name__)
#: Orphans are swept on every this many passes.
ORPHAN_SWEEP_EVERY = 30


@dataclass
class ReconcileReport:
    requeued: list[JobRef] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    resent: list[JobRef] = field(default_factory=list)
    orphans_removed: int = 0


class Reconciler:
    def __init__(
        self,
        *,
        catalog: Catalog,
        store: ObjectStore,
        dispatcher: Dispatcher,
        events: EventBus,
        config: JobConfig,
        clock: Clock = utcnow,
    ) -> None:
        self.catalog, self.store, self.dispatcher = catalog, store, dispatcher
        self.events, self.config, self.clock = events, config, clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._passes = 0

    def run_once(self, *, takeover_running: bool = False, sweep: bool = False) -> ReconcileReport:
        """One pass. ``takeover_running`` treats every running job as dead (an embedded
        process starting up: no other process can be running its jobs)."""
        report = ReconcileReport()
        now = self.clock()
        timeout = timedelta(seconds=0 if takeover_running else self.config.heartbeat_timeout_s)
        requeued, failed = with_jobs(
            self.catalog, lambda jobs: jobs.recover_stale(stale_before=now - timeout, now=now)
        )
        for job_id in failed:
            cleanup.remove_job_outputs(self.store, job_id)
            self._publish(job_id, JobStatus.FAILED, "the worker stopped responding")
            report.failed.append(str(job_id))
        for ref in requeued:
            self._publish(ref.id, JobStatus.QUEUED, "requeued: the worker stopped responding")
            if self._send(ref):
                report.requeued.append(ref)
        report.resent = self._resend_lost(now)
        self._passes += 1
        if sweep or self._passes % ORPHAN_SWEEP_EVERY == 0:
            grace = timedelta(seconds=self.config.heartbeat_timeout_s)
            report.orphans_removed = cleanup.remove_orphans(
                self.catalog, self.store, older_than=now - grace
            )
        if report.requeued or report.failed or report.resent:
            log.info(
                "reconciler: %d requeued, %d failed, %d re-enqueued",
                len(report.requeued),
                len(report.failed),
                len(report.resent),
            )
        return report

    def _resend_lost(self, now: datetime) -> list[JobRef]:
        before = now - timedelta(seconds=self.config.requeue_after_s)
        stale_before = now - timedelta(seconds=self.config.heartbeat_timeout_s)
        limit = self.config.org_concurrency

        def pick(jobs: JobRepository) -> list[JobRef]:
            picked: list[JobRef] = []
            free: dict[uuid.UUID, int] = {}
            for ref in jobs.queued(before=before):
                if limit > 0 and ref.org_id not in free:
                    running = jobs.running_count(ref.org_id, stale_before=stale_before)
                    free[ref.org_id] = limit - running
                if limit > 0 and free[ref.org_id] <= 0:
                    continue
                if jobs.touch_queued(ref.id, before=before, now=now):
                    picked.append(ref)
                    if limit > 0:
                        free[ref.org_id] -= 1
            return picked

        resent = with_jobs(self.catalog, pick)
        return [ref for ref in resent if self._send(ref)]

    def _send(self, ref: JobRef) -> bool:
        try:
            self.dispatcher.enqueue(ref.id)
            return True
        except Exception as exc:  # broker down: the next pass tries again
            log.warning("reconciler cannot enqueue job %s: %s", ref.id, exc)
            return False

    def _publish(self, job_id: uuid.UUID, status: str, message: str) -> None:
        event = make_event(job_id, kind="status", status=status, message=message)
        self.events.publish(job_id, event)

    # ------------------------------------------------------------------ periodic

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="job-reconciler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.config.reconcile_interval_s):
            try:
                self.run_once()
            except Exception as exc:  # the database or broker is away: next pass
                log.warning("reconciler pass failed: %s", exc)
