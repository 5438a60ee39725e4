"""Running a block function over windows on every core, with bounded memory.

:class:`BlockRunner` owns a pool of worker threads. Each worker opens its own readers (one
per input, through the inputs' openers) the first time it needs them and keeps them open for
the whole run, so the GIL-free parts (GDAL decoding, numpy, numba kernels, compression) run in
parallel without sharing dataset handles. At most ``in_flight`` blocks are queued or running at
once, so memory stays bounded whatever the scene size; the results come back to the calling
thread, which merges them and reports progress.

Threads, not processes: the per-block data never has to be pickled, and numba's OpenMP layer
is not fork-safe (ARCHITECTURE.md; see :mod:`terrascan.core._accel`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import TypeVar

from rasterio.windows import Window

from terrascan.engine.sources import BlockReader, Opener
from terrascan.io._threads import WARNINGS_LOCK

T = TypeVar("T")


def default_workers() -> int:
    """The number of cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _serial_kernels() -> None:
    """Make numba's parallel kernels use one thread in this worker (the setting is per
    thread): the workers already occupy every core, and nested parallel regions would only
    oversubscribe them."""
    try:
        import numba

        numba.set_num_threads(1)
    except Exception:  # pragma: no cover - numba missing or disabled
        pass


class BlockRunner:
    """Run ``work(readers, window)`` for many windows on ``workers`` threads.

    ``openers`` open one reader per input; every worker thread gets its own set. Use as a
    context manager (or call :meth:`close`) to stop the threads and close the readers.
    """

    def __init__(
        self,
        openers: Sequence[Opener] = (),
        *,
        workers: int | None = None,
        in_flight: int | None = None,
    ) -> None:
        self.workers = workers if workers is not None else default_workers()
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        self.in_flight = in_flight if in_flight is not None else 2 * self.workers
        self._openers = list(openers)
        self._local = threading.local()
        self._opened: list[BlockReader] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            self.workers, thread_name_prefix="terrascan-block", initializer=_serial_kernels
        )

    def readers(self) -> list[BlockReader]:
        """This thread's readers, opened on first use."""
        readers: list[BlockReader] | None = getattr(self._local, "readers", None)
        if readers is None:
            readers = []
            # One thread opens at a time: opening goes through warnings.catch_warnings (in
            # rasterio and in io.sources), which is not thread-safe before Python 3.14.
            with WARNINGS_LOCK:
                try:
                    for opener in self._openers:
                        readers.append(opener())
                finally:
                    with self._lock:
                        self._opened.extend(readers)
            self._local.readers = readers
        return readers

    def _call(self, work: Callable[[Sequence[BlockReader], Window], T], window: Window) -> T:
        return work(self.readers(), window)

    def run(
        self,
        windows: Iterable[Window],
        work: Callable[[Sequence[BlockReader], Window], T],
        collect: Callable[[Window, T], None] | None = None,
    ) -> None:
        """Run ``work`` over ``windows``; ``collect(window, result)`` is called in this thread
        as blocks finish (in any order). The first error stops the run and is raised."""
        pending: dict[Future[T], Window] = {}
        iterator = iter(windows)
        exhausted = False
        try:
            while pending or not exhausted:
                while not exhausted and len(pending) < self.in_flight:
                    window = next(iterator, None)
                    if window is None:
                        exhausted = True
                        break
                    pending[self._pool.submit(self._call, work, window)] = window
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    window = pending.pop(future)
                    result = future.result()
                    if collect is not None:
                        collect(window, result)
        except BaseException:
            for future in pending:
                future.cancel()
            wait(pending)
            raise

    def close(self) -> None:
        """Stop the worker threads and close every reader they opened."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            opened, self._opened = self._opened, []
        for reader in opened:
            reader.close()

    def __enter__(self) -> BlockRunner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
