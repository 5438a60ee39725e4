"""The embedded executor: a pool of threads in the API process, fed by an in-memory queue.

The queue only carries job ids; the catalog holds the jobs. At start, jobs that a crashed
process left ``running`` are requeued (or failed, once out of attempts) and every queued job is
enqueued; on stop, running jobs are interrupted and put back to ``queued`` without using an
attempt.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable

from terrascan.jobs.runtime import JobRuntime

log = logging.getLogger(__name__)
_Item = Callable[[], object] | None


class InProcessExecutor:
    """A :class:`~terrascan.jobs.runtime.Dispatcher` backed by ``size`` daemon threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()
        self._runtime: JobRuntime | None = None
        self._running = False

    def bind(self, runtime: JobRuntime) -> None:
        self._runtime = runtime

    @property
    def runtime(self) -> JobRuntime:
        if self._runtime is None:
            raise RuntimeError("the executor is not bound to a runtime")
        return self._runtime

    # ------------------------------------------------------------------ Dispatcher

    def enqueue(self, job_id: uuid.UUID, *, delay_s: float = 0.0) -> None:
        if delay_s > 0:
            self._later(delay_s, lambda: self.enqueue(job_id))
            return
        self._queue.put(lambda: self.runtime.execute(job_id))

    def dispatch_parts(self, job_id: uuid.UUID, attempt: int, count: int) -> None:
        for index in range(count):
            self._queue.put(
                lambda index=index: self.runtime.execute_part(job_id, attempt, index)  # type: ignore[misc]
            )

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        with self._lock:
            if self._running:
                return
            self._running = True
            self._threads = [
                threading.Thread(target=self._work, name=f"terrascan-job-{i}", daemon=True)
                for i in range(self.size)
            ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Interrupt running jobs (they go back to ``queued``) and stop the threads."""
        with self._lock:
            if not self._running:
                return
            self._running = False
            timers, self._timers = list(self._timers), set()
        for timer in timers:
            timer.cancel()
        self.runtime.interrupt_all("shutdown")
        while True:  # drop what nobody will run; the catalog keeps those jobs queued
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=timeout_s)
        self._threads = []

    def _later(self, delay_s: float, action: Callable[[], None]) -> None:
        def fire() -> None:
            with self._lock:
                self._timers.discard(timer)
                running = self._running
            if running:
                action()

        timer = threading.Timer(delay_s, fire)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                item()
            except Exception:
                log.exception("job execution failed")
