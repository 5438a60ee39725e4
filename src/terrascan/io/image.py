"""Images without georeferencing (plain PNG or JPEG), read window by window as float32.

Change detection accepts a pair of ordinary pictures: there is no CRS or transform, so the
pixel grid is all there is and areas are counted in pixels. The reader mirrors
:class:`~terrascan.io.raster.MultiBandReader` (``read(window)`` returns band name -> float32)
so the engine runs the same block loop over either. The drivers are named by the caller
(``PNG``, ``JPEG``, ``GTiff``); nothing else is opened, and the declared size is checked before
any pixel is read.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import numpy as np
from rasterio.windows import Window

from terrascan.errors import InvalidInputError, NotFoundError
from terrascan.io.raster import FloatArray
from terrascan.io.sources import (
    DEFAULT_MAX_DATASET_PIXELS,
    check_pixel_budget,
    resolve_href,
)
from terrascan.io.sources import _open_with as open_with_drivers

__all__ = ["PLAIN_IMAGE_DRIVERS", "PlainImageReader"]

#: Drivers for pictures without georeferencing.
PLAIN_IMAGE_DRIVERS: tuple[str, ...] = ("PNG", "JPEG")


class PlainImageReader:
    """Bands (by 1-based index) of an image on its own pixel grid; NaN only for nodata.

    ``bands`` maps the names the caller uses to band indexes; ``None`` reads every band,
    named ``"1"``, ``"2"``, ... Reads are serialised by a lock (one reader per worker thread
    decodes in parallel).
    """

    def __init__(
        self,
        path: str,
        bands: Sequence[tuple[str, int]] | None = None,
        *,
        drivers: Sequence[str] = PLAIN_IMAGE_DRIVERS,
        max_pixels: int = DEFAULT_MAX_DATASET_PIXELS,
    ) -> None:
        resolved = resolve_href(str(path), base=Path.cwd())
        if not os.path.exists(resolved):
            raise NotFoundError(f"image not found: {path}")
        self._src = open_with_drivers(resolved, drivers)
        self._lock = threading.Lock()
        try:
            src = self._src
            check_pixel_budget(src.width, src.height, src.count, max_pixels, f"image {path}")
            chosen = bands if bands is not None else [(str(i), i) for i in src.indexes]
            for name, index in chosen:
                if not 1 <= index <= src.count:
                    raise InvalidInputError(
                        f"band {name}={index} is out of range: {path} has {src.count} band(s)"
                    )
            self._bands = list(chosen)
        except Exception:
            self._src.close()
            raise

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self._bands)

    @property
    def width(self) -> int:
        return int(self._src.width)

    @property
    def height(self) -> int:
        return int(self._src.height)

    @property
    def count(self) -> int:
        return int(self._src.count)

    @property
    def block_shape(self) -> tuple[int, int]:
        rows, cols = self._src.block_shapes[0]
        return int(rows), int(cols)

    def read(self, window: Window | None = None) -> dict[str, FloatArray]:
        """Read ``window`` (all of it by default): band name -> float32 array."""
        win = window if window is not None else Window(0, 0, self.width, self.height)
        nodata = self._src.nodata
        with self._lock:
            raw = self._src.read([index for _, index in self._bands], window=win)
        result: dict[str, FloatArray] = {}
        for (name, _), band in zip(self._bands, raw, strict=True):
            values = band.astype(np.float32)
            if nodata is not None:
                values[band == nodata] = np.nan
            result[name] = values
        return result

    def close(self) -> None:
        self._src.close()

    def __enter__(self) -> PlainImageReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
