"""Pixel grids: a CRS, an affine transform and a shape; CRS parsing; AOI windows.

CRS input from outside is accepted only as ``EPSG:<code>`` (ARCHITECTURE.md, section 6): a WKT
string, a PROJ string with ``+init=``, a URL or a file path could make PROJ read files or the
network.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from terrascan.errors import InvalidInputError

__all__ = ["Bounds", "CRSInput", "Grid", "as_crs", "parse_crs"]

Bounds: TypeAlias = tuple[
    float, float, float, float
]  # (west, south, east, north) / (left, bottom, ...)
CRSInput: TypeAlias = str | CRS

_EPSG = re.compile(r"EPSG:(\d{1,6})", re.IGNORECASE)


def parse_crs(text: str) -> CRS:
    """Return the rasterio CRS for ``"EPSG:<code>"``; anything else is refused.

    Raises :class:`InvalidInputError` for URLs, file paths, ``+init=``, WKT and unknown codes.
    """
    if not isinstance(text, str):
        raise InvalidInputError(f"CRS must be given as 'EPSG:<code>', got {type(text).__name__}")
    match = _EPSG.fullmatch(text.strip())
    if match is None:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise InvalidInputError(
            f"CRS must be given as 'EPSG:<code>' (e.g. EPSG:32629), got {shown!r}"
        )
    try:
        return CRS.from_epsg(int(match.group(1)))
    except CRSError:
        raise InvalidInputError(f"unknown EPSG code {match.group(1)}") from None


def as_crs(value: CRSInput) -> CRS:
    """Accept a CRS object built by our own code, or parse ``EPSG:<code>`` text."""
    if isinstance(value, CRS):
        return value
    return parse_crs(value)


def _as_affine(value: Any) -> Affine:
    if isinstance(value, Affine):
        return value
    return Affine(*value)


@attrs.frozen
class Grid:
    """A georeferenced pixel grid: ``transform`` maps (col, row) to ``crs`` coordinates."""

    crs: CRS = attrs.field(converter=as_crs)
    transform: Affine = attrs.field(converter=_as_affine)
    width: int
    height: int

    def __attrs_post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise InvalidInputError(f"grid must be at least 1x1, got {self.width}x{self.height}")
        if self.transform.b != 0 or self.transform.d != 0:
            raise InvalidInputError("rotated grids are not supported")

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def res(self) -> tuple[float, float]:
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def bounds(self) -> Bounds:
        t = self.transform
        xs = (t.c, t.c + t.a * self.width)
        ys = (t.f, t.f + t.e * self.height)
        return min(xs), min(ys), max(xs), max(ys)

    def window_grid(self, window: Window) -> Grid:
        """Return the grid of ``window`` (in this grid's pixels)."""
        col, row = int(window.col_off), int(window.row_off)
        return Grid(
            self.crs,
            self.transform @ Affine.translation(col, row),
            int(window.width),
            int(window.height),
        )

    def window(self) -> Window:
        return Window(0, 0, self.width, self.height)

    def is_window_of(self, other: Grid) -> Window | None:
        """If this grid is ``other`` shifted by whole pixels (same CRS and pixel size), return
        the window of ``other`` it covers (possibly partly outside ``other``), else ``None``."""
        a, b = self.transform, other.transform
        if self.crs != other.crs or not (_close(a.a, b.a) and _close(a.e, b.e)):
            return None
        col = (a.c - b.c) / b.a
        row = (a.f - b.f) / b.e
        if not (_integral(col) and _integral(row)):
            return None
        return Window(round(col), round(row), self.width, self.height)

    def clip_to_bounds(self, bounds: Bounds, bounds_crs: CRSInput) -> Grid:
        """Return the part of this grid that covers ``bounds`` (given in ``bounds_crs``),
        snapped outwards to whole pixels and clipped to the grid.

        Raises :class:`InvalidInputError` when the bounds do not intersect the grid.
        """
        west, south, east, north = _check_bounds(bounds)
        src_crs = as_crs(bounds_crs)
        if src_crs != self.crs:
            west, south, east, north = transform_bounds(
                src_crs, self.crs, west, south, east, north, densify_pts=21
            )
        inv = ~self.transform
        cols, rows = zip(*(inv @ (x, y) for x in (west, east) for y in (south, north)), strict=True)
        col0 = max(0, math.floor(min(cols) + 1e-6))
        row0 = max(0, math.floor(min(rows) + 1e-6))
        col1 = min(self.width, math.ceil(max(cols) - 1e-6))
        row1 = min(self.height, math.ceil(max(rows) - 1e-6))
        if col1 <= col0 or row1 <= row0:
            raise InvalidInputError(f"the area {bounds} does not intersect the raster")
        return self.window_grid(Window(col0, row0, col1 - col0, row1 - row0))

    def reprojected(self, dst_crs: CRSInput | None, resolution: float | None) -> Grid:
        """Return a grid covering this one in ``dst_crs`` (default: same CRS) at
        ``resolution`` (default: GDAL's estimate of the equivalent pixel size)."""
        crs = self.crs if dst_crs is None else as_crs(dst_crs)
        if resolution is not None and not (math.isfinite(resolution) and resolution > 0):
            raise InvalidInputError(f"resolution must be a positive number, got {resolution}")
        if crs == self.crs and resolution is None:
            return self
        # The output grid is computed here rather than by rasterio's
        # calculate_default_transform, which builds a VRT (a driver we keep unregistered).
        if crs == self.crs:
            west, south, east, north = self.bounds
        else:
            west, south, east, north = transform_bounds(self.crs, crs, *self.bounds, densify_pts=21)
        if resolution is None:
            # GDAL's estimate: as many pixels along the diagonal as the source has.
            diagonal = math.hypot(east - west, north - south)
            resolution = diagonal / math.hypot(self.width, self.height)
        width = max(1, math.ceil((east - west) / resolution - 1e-6))
        height = max(1, math.ceil((north - south) / resolution - 1e-6))
        transform = Affine(resolution, 0.0, west, 0.0, -resolution, north)
        return Grid(crs, transform, int(width), int(height))

    def nearest_indexes(
        self, fine: Grid, window: Window | None = None
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Rows and columns of this grid under the pixel centres of ``window`` (default: all)
        of ``fine``, a north-up grid in the same CRS: index an array of this grid with
        ``np.ix_(rows, cols)`` to resample it onto ``fine`` by nearest neighbour."""
        if fine.crs != self.crs:
            raise InvalidInputError("nearest_indexes needs two grids in one CRS")
        win = window or fine.window()
        rows = np.arange(int(win.row_off), int(win.row_off + win.height)) + 0.5
        cols = np.arange(int(win.col_off), int(win.col_off + win.width)) + 0.5
        x = fine.transform.c + cols * fine.transform.a
        y = fine.transform.f + rows * fine.transform.e
        inverse = ~self.transform
        c = np.floor(inverse.a * x + inverse.c).astype(np.int64)
        r = np.floor(inverse.e * y + inverse.f).astype(np.int64)
        return np.clip(r, 0, self.height - 1), np.clip(c, 0, self.width - 1)

    def block_windows(
        self, block: tuple[int, int], origin: tuple[int, int] = (0, 0)
    ) -> Iterator[Window]:
        """Yield windows that tile this grid along the internal tiles of a dataset.

        ``block`` is the tile (height, width); ``origin`` is where this grid's pixel (0, 0)
        lies in the dataset (row, col), so window edges fall on tile edges."""
        bh, bw = block
        r0, c0 = origin
        for row in _edges(self.height, bh, r0):
            for col in _edges(self.width, bw, c0):
                yield Window(col[0], row[0], col[1] - col[0], row[1] - row[0])


def _edges(size: int, step: int, origin: int) -> Iterator[tuple[int, int]]:
    start = 0
    stop = min(size, step - origin % step)
    while start < size:
        yield start, stop
        start, stop = stop, min(size, stop + step)


def _check_bounds(bounds: Bounds) -> Bounds:
    if len(bounds) != 4 or not all(math.isfinite(float(v)) for v in bounds):
        raise InvalidInputError(f"bounds must be four finite numbers (W, S, E, N), got {bounds}")
    west, south, east, north = (float(v) for v in bounds)
    if west >= east or south >= north:
        raise InvalidInputError(f"bounds must have west < east and south < north, got {bounds}")
    return west, south, east, north


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _integral(value: float) -> bool:
    return abs(value - round(value)) < 1e-6
