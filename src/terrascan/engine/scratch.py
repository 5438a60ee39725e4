"""Blocks kept between passes, on disk rather than in memory.

A two-pass run (a global Otsu threshold) computes each block's score once, in the first pass,
and needs it again in the second and third. Recomputing it would decode every input again;
holding it would make memory grow with the scene. :class:`BlockScratch` appends each block's
raw bytes to one temporary file (the operating system's page cache keeps it in memory while
there is room) and reads them back by window.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt
from rasterio.windows import Window

_Key = tuple[int, int, int, int]


def _key(window: Window) -> _Key:
    return int(window.col_off), int(window.row_off), int(window.width), int(window.height)


class BlockScratch:
    """Append-only store of numpy blocks keyed by window, in a temporary file."""

    def __init__(self, folder: str | Path | None = None) -> None:
        fd, name = tempfile.mkstemp(prefix=".terrascan-scratch-", dir=folder)
        self._fd = fd
        os.unlink(name)  # nothing is left behind, even if the process dies
        self._end = 0
        self._index: dict[
            tuple[int, int, int, int], tuple[int, tuple[int, ...], np.dtype[Any]]
        ] = {}
        self._lock = threading.Lock()

    def put(self, window: Window, block: npt.NDArray[Any]) -> None:
        data = np.ascontiguousarray(block)
        size = data.nbytes
        with self._lock:
            offset = self._end
            self._end += size
            self._index[_key(window)] = (offset, data.shape, data.dtype)
        view = memoryview(data.reshape(-1).view(np.uint8))  # type: ignore[arg-type]
        written = 0
        while written < size:
            written += os.pwrite(self._fd, view[written:], offset + written)

    def get(self, window: Window) -> npt.NDArray[Any]:
        offset, shape, dtype = self._index[_key(window)]
        out = np.empty(shape, dtype)
        view = memoryview(out.reshape(-1).view(np.uint8))  # type: ignore[arg-type]
        done = 0
        while done < out.nbytes:
            n = os.preadv(self._fd, [view[done:]], offset + done)
            if n <= 0:
                raise OSError("scratch file ended early")
            done += n
        return out

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> BlockScratch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
