"""Opening a run's inputs once to check them, then running blocks over them in parallel."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType

import rasterio
from rasterio.windows import Window

from terrascan.engine.memory import release_memory, tune_allocator
from terrascan.engine.plan import plan_windows
from terrascan.engine.progress import ProgressCallback, ProgressTracker
from terrascan.engine.runner import BlockRunner
from terrascan.engine.sources import (
    BlockReader,
    Frame,
    Opener,
    check_same_frame,
    frame_of,
)

#: GDAL block cache while a run reads its inputs (bytes; a bare small integer would be bytes
#: too, see ARCHITECTURE.md section 8).
READ_CACHE_BYTES = 128 * 1024**2


@contextmanager
def run_environment() -> Iterator[None]:
    """Settings for the length of a run: a small GDAL block cache (each block is read once,
    a big cache would only hold memory), the allocator tuned for block-sized arrays, and the
    freed memory handed back at the end."""
    tune_allocator()
    try:
        with rasterio.Env(GDAL_CACHEMAX=READ_CACHE_BYTES):
            yield
    finally:
        release_memory()


class Session:
    """The inputs of one run (one opener each), their common frame, the window plan, a
    :class:`BlockRunner` and a progress tracker.

    Opening checks everything a user can get wrong (files, bands, sizes, grids) before any
    block is computed or any output is created.
    """

    def __init__(
        self,
        openers: Sequence[Opener],
        labels: Sequence[str],
        *,
        progress: ProgressCallback | None,
        stages: Sequence[tuple[str, float]],
        workers: int | None = None,
    ) -> None:
        frames, bands = [], []
        for opener in openers:
            reader = opener()
            try:
                frames.append(frame_of(reader))
                bands.append(reader.band_names)
            finally:
                reader.close()
        check_same_frame(frames, labels)
        self.frame: Frame = frames[0]
        self.band_names: list[tuple[str, ...]] = bands
        self.windows: list[Window] = plan_windows(
            self.frame.height, self.frame.width, self.frame.block_shape
        )
        self.tracker = ProgressTracker(progress, stages)
        self._env = run_environment()
        self._env.__enter__()
        self.runner = BlockRunner(openers, workers=workers)

    def readers(self) -> list[BlockReader]:
        return self.runner.readers()

    def close(self) -> None:
        try:
            self.runner.close()
        finally:
            self._env.__exit__(None, None, None)

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
