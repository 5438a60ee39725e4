"""The heartbeat of a running attempt: a thread that proves the attempt alive, saves its
progress and notices when it must stop (cancelled, or taken over after it was thought dead)."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

from terrascan.catalog.database import Catalog
from terrascan.catalog.models import JobStatus
from terrascan.jobs.catalog_ops import Clock, with_jobs

log = logging.getLogger(__name__)


class Heartbeat:
    """Writes ``heartbeat_at`` (and the latest progress) every ``interval_s`` while running.

    When the guarded write finds that the attempt no longer owns the job, ``on_lost`` is called
    with ``"cancelled"`` or ``"lost"``. A database error skips one beat; it does not stop the
    attempt. ``keepalive`` callables (lease refreshes) run on every beat.
    """

    def __init__(
        self,
        catalog: Catalog,
        job_id: uuid.UUID,
        attempt: int,
        *,
        interval_s: float,
        clock: Clock,
        on_lost: Callable[[str], None],
    ) -> None:
        self._catalog, self._job_id, self._attempt = catalog, job_id, attempt
        self._interval, self._clock, self._on_lost = interval_s, clock, on_lost
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._progress: tuple[float, str] | None = None
        self._keepalive: dict[str, Callable[[], object]] = {}
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def __enter__(self) -> Heartbeat:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def update(self, pct: float, message: str) -> None:
        with self._lock:
            self._progress = (pct, message)

    def keep_alive(self, name: str, refresh: Callable[[], object] | None) -> None:
        with self._lock:
            if refresh is None:
                self._keepalive.pop(name, None)
            else:
                self._keepalive[name] = refresh

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            if not self.beat():
                return

    def beat(self) -> bool:
        """One heartbeat; False when the attempt lost the job."""
        with self._lock:
            progress, self._progress = self._progress, None
            refreshes = list(self._keepalive.values())
        for refresh in refreshes:
            try:
                refresh()
            except Exception as exc:
                log.warning("cannot refresh a part lease: %s", exc)
        pct, message = progress if progress is not None else (None, None)
        try:
            owned = with_jobs(
                self._catalog,
                lambda jobs: jobs.heartbeat(
                    self._job_id,
                    self._attempt,
                    now=self._clock(),
                    progress_pct=pct,
                    message=message,
                ),
                budget_s=0,
            )
            if owned:
                return True
            job = with_jobs(self._catalog, lambda jobs: jobs.load(self._job_id), budget_s=0)
        except Exception as exc:  # the database is away: try again at the next beat
            log.warning("job %s heartbeat failed: %s", self._job_id, exc)
            with self._lock:  # keep the unsaved progress for the next beat
                self._progress = self._progress or progress
            return True
        cancelled = job is None or job.status == JobStatus.CANCELLED
        self._on_lost("cancelled" if cancelled else "lost")
        return False
