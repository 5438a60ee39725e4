"""Cloud-Optimized GeoTIFF writer: from an array in memory or block by block.

How a COG is made here (ARCHITECTURE.md, section 8: overviews are most of the cost):

1. The full-resolution pixels go into an uncompressed, tiled staging GeoTIFF (in ``/vsimem/``
   when it fits :data:`DEFAULT_MEMORY_LIMIT`, else in a temporary folder beside the output).
2. Each block written is also averaged 2 x 2 in numpy into the first overview level, staged
   as the external overview file ``base.tif.ovr``; GDAL derives the smaller levels from that
   quarter-size image. So nobody reads the full-resolution data back to build overviews.
3. One copy compresses everything once into the final layout: the COG driver for one band,
   or, for several bands, the GTiff driver with ``COPY_SRC_OVERVIEWS=YES`` and band
   interleaving (an index then reads only the bands it needs; the COG driver of GDAL 3.10
   cannot interleave by band). Both pass ``rio_cogeo.cogeo.cog_validate``.

Tiles are 512 x 512; ZSTD level 1 (default) or DEFLATE, with predictor 2 for integers and 3
for floats; nodata is NaN for float outputs of :func:`write_raster_cog`; band descriptions are
the band names. The output appears atomically (written under a temporary name, then renamed).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numba
import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp, Resampling
from rasterio.io import DatasetReader, DatasetWriter, MemoryFile
from rasterio.shutil import copy as gdal_copy
from rasterio.windows import Window

from terrascan.errors import InvalidInputError
from terrascan.io.grid import CRSInput, Grid
from terrascan.io.raster import Raster
from terrascan.io.sources import DEFAULT_DRIVERS, DEFAULT_MAX_DATASET_PIXELS, open_dataset

__all__ = [
    "BLOCKSIZE",
    "DEFAULT_MEMORY_LIMIT",
    "CogWriter",
    "Compression",
    "OverviewResampling",
    "convert_to_cog",
    "overview_factors",
    "write_cog",
    "write_cog_blocks",
    "write_raster_cog",
]

Compression = Literal["zstd", "deflate"]
OverviewResampling = Literal["average", "nearest"]

BLOCKSIZE = 512
#: Staging data up to this many bytes stays in memory (``/vsimem/``), larger goes to disk.
DEFAULT_MEMORY_LIMIT = 1024**3
#: GDAL block cache for writing, in bytes (a bare small integer would mean bytes, not MB).
CACHE_BYTES = 512 * 1024**2

_DEFAULT_LEVEL: dict[Compression, int | None] = {"zstd": 1, "deflate": None}
_GDAL_ENV: dict[str, Any] = {"GDAL_CACHEMAX": CACHE_BYTES, "GDAL_NUM_THREADS": "ALL_CPUS"}


def overview_factors(width: int, height: int, blocksize: int = BLOCKSIZE) -> list[int]:
    """Decimation factors 2, 4, ... until the smallest overview fits in one tile."""
    factors: list[int] = []
    size = max(width, height)
    factor = 2
    while math.ceil(size / (factor // 2)) > blocksize:
        factors.append(factor)
        factor *= 2
    return factors


def _decimate(
    block: npt.NDArray[Any], nodata: float | None, resampling: OverviewResampling
) -> npt.NDArray[Any]:
    """Halve a (band, row, col) block: 2 x 2 average ignoring nodata/NaN, or nearest."""
    if resampling == "nearest":
        return np.ascontiguousarray(block[:, ::2, ::2])
    bands, rows, cols = block.shape
    out = np.empty((bands, (rows + 1) // 2, (cols + 1) // 2), block.dtype)
    floating = bool(np.issubdtype(block.dtype, np.floating))
    if nodata is None:
        value, use_nodata, fill = 0.0, False, math.nan if floating else 0.0
    else:
        value, use_nodata, fill = float(nodata), not math.isnan(nodata), float(nodata)
    _average_2x2(np.ascontiguousarray(block), out, value, use_nodata, floating, fill)
    return out


@numba.njit(nogil=True, cache=True)
def _average_2x2(
    src: Any, out: Any, nodata: float, use_nodata: bool, floating: bool, fill: float
) -> None:  # pragma: no cover - compiled
    """Mean of each 2 x 2 cell over its valid pixels (not NaN, not ``nodata``); ``fill``
    where none is valid. Integers are rounded half up. Serial on purpose: the engine's
    worker threads call it concurrently (it releases the GIL)."""
    bands, rows, cols = src.shape
    for b in range(bands):
        for i in range(out.shape[1]):
            r0 = 2 * i
            r1 = r0 + 1 if r0 + 1 < rows else r0
            for j in range(out.shape[2]):
                c0 = 2 * j
                c1 = c0 + 1 if c0 + 1 < cols else c0
                total = 0.0
                n = 0
                # The four pixels of the cell; at an odd last row/column, the repeats are skipped.
                for r, c, repeat in (
                    (r0, c0, False),
                    (r0, c1, c1 == c0),
                    (r1, c0, r1 == r0),
                    (r1, c1, r1 == r0 or c1 == c0),
                ):
                    v = src[b, r, c]
                    if repeat or (floating and v != v) or (use_nodata and v == nodata):
                        continue
                    total += v
                    n += 1
                if n == 0:
                    out[b, i, j] = fill
                elif floating:
                    out[b, i, j] = total / n
                else:
                    out[b, i, j] = np.floor(total / n + 0.5)


def _window_fits_overview(window: Window, width: int, height: int) -> bool:
    col, row = int(window.col_off), int(window.row_off)
    w, h = int(window.width), int(window.height)
    return (
        col % 2 == 0
        and row % 2 == 0
        and (w % 2 == 0 or col + w == width)
        and (h % 2 == 0 or row + h == height)
    )


class _Staging:
    """Where the uncompressed base image and its first overview are staged."""

    def __init__(self, in_memory: bool, near: Path, tmp_dir: Path | None) -> None:
        self._memfiles: list[MemoryFile] = []
        self._dir: Path | None = None
        if in_memory:
            folder = uuid.uuid4().hex
            self._memfiles = [
                MemoryFile(dirname=folder, filename="base.tif"),
                MemoryFile(dirname=folder, filename="base.tif.ovr"),
            ]
            self.base, self.ovr = (m.name for m in self._memfiles)
        else:
            parent = tmp_dir if tmp_dir is not None else near
            self._dir = Path(tempfile.mkdtemp(prefix=".terrascan-cog-", dir=parent))
            self.base = str(self._dir / "base.tif")
            self.ovr = self.base + ".ovr"

    def cleanup(self) -> None:
        for memfile in self._memfiles:
            memfile.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)


class CogWriter:
    """Write a COG block by block; the COG appears at ``path`` on :meth:`close`.

    ``write(data, window)`` takes (band, row, col) arrays (or (row, col) for one band). Blocks
    from :meth:`block_windows` (512-aligned) keep the fast overview path; any other window
    still works, and the overviews are then computed by GDAL at the end. Used as a context
    manager, an exception aborts the write and leaves nothing at ``path``. Writes are
    serialised by a lock, so worker threads may share one writer.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        grid: Grid,
        count: int,
        dtype: str | np.dtype[Any],
        nodata: float | None = None,
        band_names: Sequence[str | None] | None = None,
        compress: Compression = "zstd",
        level: int | None = None,
        predictor: bool = True,
        overview_resampling: OverviewResampling = "average",
        interleave: Literal["band", "pixel"] = "band",
        memory_limit: int = DEFAULT_MEMORY_LIMIT,
        tmp_dir: str | Path | None = None,
        colorinterp: Sequence[ColorInterp] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.grid = grid
        self.count = int(count)
        self.dtype = np.dtype(dtype)
        self.nodata = nodata
        _check_options(self.count, self.dtype, compress, overview_resampling, band_names)
        _check_nodata(self.dtype, nodata)
        self._compress, self._level, self._predictor = compress, level, predictor
        self._resampling: OverviewResampling = overview_resampling
        self._interleave = interleave
        self._factors = overview_factors(grid.width, grid.height)
        self._overview_ok = bool(self._factors)
        self._lock = threading.Lock()
        self._closed = False
        if not self.path.parent.is_dir():
            raise InvalidInputError(f"output folder does not exist: {self.path.parent}")
        nbytes = grid.width * grid.height * self.count * self.dtype.itemsize * 5 // 4
        self._staging = _Staging(
            nbytes <= memory_limit, self.path.parent, Path(tmp_dir) if tmp_dir else None
        )
        self._ovr: DatasetWriter | None = None
        self._base = self._open_base(band_names, colorinterp, tags)
        try:
            self._ovr = self._open_overview() if self._factors else None
        except Exception:
            self.abort()
            raise

    def _profile(self, width: int, height: int) -> dict[str, Any]:
        return {
            "driver": "GTiff",
            "width": width,
            "height": height,
            "count": self.count,
            "dtype": self.dtype.name,
            "crs": self.grid.crs,
            "transform": self.grid.transform,
            "nodata": self.nodata,
            "tiled": True,
            "blockxsize": BLOCKSIZE,
            "blockysize": BLOCKSIZE,
            "interleave": "band",
            "sparse_ok": True,
            "bigtiff": "IF_NEEDED",
        }

    def _open_base(
        self,
        band_names: Sequence[str | None] | None,
        colorinterp: Sequence[ColorInterp] | None,
        tags: dict[str, str] | None,
    ) -> DatasetWriter:
        try:
            with rasterio.Env(**_GDAL_ENV):
                base = rasterio.open(
                    self._staging.base, "w", **self._profile(self.grid.width, self.grid.height)
                )
        except Exception:
            self._staging.cleanup()
            raise
        try:
            for i, name in enumerate(band_names or (), start=1):
                if name:
                    base.set_band_description(i, name)
            if colorinterp is not None:
                base.colorinterp = list(colorinterp)
            if tags:
                base.update_tags(**tags)
        except Exception:
            base.close()
            self._staging.cleanup()
            raise
        return base

    def _open_overview(self) -> DatasetWriter:
        width, height = math.ceil(self.grid.width / 2), math.ceil(self.grid.height / 2)
        profile = self._profile(width, height)
        profile["transform"] = self.grid.transform @ Affine.scale(2)
        with rasterio.Env(**_GDAL_ENV):
            return rasterio.open(self._staging.ovr, "w", **profile)

    def block_windows(self) -> Iterator[Window]:
        """512 x 512 windows (smaller at the edges) that tile the output."""
        return self.grid.block_windows((BLOCKSIZE, BLOCKSIZE))

    def write(self, data: npt.ArrayLike, window: Window | None = None) -> None:
        """Write (band, row, col) ``data`` at ``window`` (the whole grid by default)."""
        block = self._check_block(data, window)
        win = Window(0, 0, self.grid.width, self.grid.height) if window is None else window
        half = None
        if self._overview_ok and _window_fits_overview(win, self.grid.width, self.grid.height):
            half = _decimate(block, self.nodata, self._resampling)
        with self._lock:
            if self._closed:
                raise InvalidInputError("the COG writer is closed")
            self._base.write(block, window=win)
            if half is None:
                self._overview_ok = False
            elif self._ovr is not None and self._overview_ok:
                col, row = int(win.col_off) // 2, int(win.row_off) // 2
                self._ovr.write(half, window=Window(col, row, half.shape[2], half.shape[1]))

    def _check_block(self, data: npt.ArrayLike, window: Window | None) -> npt.NDArray[Any]:
        block = np.asarray(data)
        if block.ndim == 2:
            block = block[np.newaxis]
        rows, cols = (
            (self.grid.height, self.grid.width)
            if window is None
            else (int(window.height), int(window.width))
        )
        if block.shape != (self.count, rows, cols):
            raise InvalidInputError(
                f"block of shape {block.shape} does not fit window {window} "
                f"({self.count} band(s), {rows} x {cols})"
            )
        if window is not None and (
            window.col_off < 0
            or window.row_off < 0
            or window.col_off + window.width > self.grid.width
            or window.row_off + window.height > self.grid.height
        ):
            raise InvalidInputError(f"window {window} is outside the output grid")
        if block.dtype != self.dtype:
            if not np.can_cast(block.dtype, self.dtype, "same_kind"):
                raise InvalidInputError(f"cannot write {block.dtype} data into {self.dtype}")
            block = block.astype(self.dtype)
        return block

    def close(self) -> Path:
        """Build the COG at ``path`` from what was written and clean up; return ``path``."""
        with self._lock:
            if self._closed:
                return self.path
            self._closed = True
        try:
            self._finish()
        finally:
            self._staging.cleanup()
        return self.path

    def abort(self) -> None:
        """Discard everything written; ``path`` is left untouched."""
        with self._lock:
            self._closed = True
        for dataset in (self._base, self._ovr):
            if dataset is not None:
                dataset.close()
        self._staging.cleanup()

    def _finish(self) -> None:
        self._base.close()
        if self._ovr is not None:
            self._ovr.close()
        with rasterio.Env(**_GDAL_ENV):
            if self._overview_ok:
                self._finish_overview_levels()
            self._copy_to_final()

    def _finish_overview_levels(self) -> None:
        """Let GDAL derive the smaller levels from the quarter-size first level."""
        if len(self._factors) < 2:
            return
        with rasterio.open(self._staging.ovr, "r+") as ovr:
            ovr.build_overviews([f // 2 for f in self._factors[1:]], _resampling(self._resampling))

    def _open_staged_base(self) -> DatasetReader:
        if not self._overview_ok:  # GDAL builds the overviews; ignore the partial ones
            return rasterio.open(self._staging.base, driver="GTiff")
        # The staged overview file sits beside the base: let GDAL look for it (only here, for
        # our own staging files), and make it scan now, while the option is set.
        with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="FALSE"):
            src = rasterio.open(self._staging.base, driver="GTiff")
            src.overviews(1)
        return src

    def _copy_to_final(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with self._open_staged_base() as src:
                existing = len(src.overviews(1)) == len(self._factors)
                gdal_copy(src, str(tmp), **self._creation_options(existing))
            os.replace(tmp, self.path)
        finally:
            if tmp.exists():
                tmp.unlink()

    def _creation_options(self, overviews_staged: bool) -> dict[str, Any]:
        floating = np.issubdtype(self.dtype, np.floating)
        level = self._level if self._level is not None else _DEFAULT_LEVEL[self._compress]
        options: dict[str, Any] = {
            "COMPRESS": self._compress.upper(),
            "NUM_THREADS": "ALL_CPUS",
            "BIGTIFF": "IF_SAFER",
        }
        if (
            self.count > 1
            and self._interleave == "band"
            and (overviews_staged or not self._factors)
        ):
            # GTiff copy of a tiled source with its overviews first: a COG, band-interleaved.
            options |= {
                "driver": "GTiff",
                "TILED": "YES",
                "BLOCKXSIZE": BLOCKSIZE,
                "BLOCKYSIZE": BLOCKSIZE,
                "INTERLEAVE": "BAND",
                "COPY_SRC_OVERVIEWS": "YES",
            }
            if self._predictor:
                options["PREDICTOR"] = 3 if floating else 2
            if level is not None:
                options["ZSTD_LEVEL" if self._compress == "zstd" else "ZLEVEL"] = level
            return options
        options |= {
            "driver": "COG",
            "BLOCKSIZE": BLOCKSIZE,
            "PREDICTOR": "YES" if self._predictor else "NO",
            "RESAMPLING": self._resampling.upper(),
        }
        if not self._factors:
            options["OVERVIEWS"] = "NONE"
        else:
            options["OVERVIEWS"] = "FORCE_USE_EXISTING" if overviews_staged else "IGNORE_EXISTING"
        if level is not None:
            options["LEVEL"] = level
        return options

    def __enter__(self) -> CogWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _resampling(name: OverviewResampling) -> Resampling:
    return Resampling.average if name == "average" else Resampling.nearest


def _check_options(
    count: int,
    dtype: np.dtype[Any],
    compress: str,
    resampling: str,
    band_names: Sequence[str | None] | None,
) -> None:
    if count < 1:
        raise InvalidInputError(f"a COG needs at least one band, got {count}")
    if compress not in _DEFAULT_LEVEL:
        raise InvalidInputError(f"compression must be one of {sorted(_DEFAULT_LEVEL)}")
    if resampling not in ("average", "nearest"):
        raise InvalidInputError("overview resampling must be 'average' or 'nearest'")
    if dtype.kind not in "uif" or dtype.itemsize > 8:
        raise InvalidInputError(f"unsupported data type {dtype}")
    if band_names is not None and len(band_names) != count:
        raise InvalidInputError(f"{len(band_names)} band names for {count} band(s)")


def _check_nodata(dtype: np.dtype[Any], nodata: float | None) -> None:
    if nodata is None or dtype.kind == "f":
        return
    info = np.iinfo(dtype)
    if math.isnan(nodata) or nodata != int(nodata) or not info.min <= nodata <= info.max:
        raise InvalidInputError(f"nodata {nodata} is not a valid {dtype} value")


def write_cog(
    path: str | Path,
    data: npt.ArrayLike,
    *,
    transform: Any,
    crs: CRSInput,
    nodata: float | None = None,
    band_names: Sequence[str | None] | None = None,
    compress: Compression = "zstd",
    level: int | None = None,
    predictor: bool = True,
    overview_resampling: OverviewResampling = "average",
    interleave: Literal["band", "pixel"] = "band",
    tmp_dir: str | Path | None = None,
) -> Path:
    """Write a (band, row, col) or (row, col) array to a COG at ``path``; return the path."""
    array = np.asarray(data)
    if array.ndim == 2:
        array = array[np.newaxis]
    if array.ndim != 3:
        raise InvalidInputError(f"data must be (band, row, col), got shape {array.shape}")
    grid = Grid(crs, transform, array.shape[2], array.shape[1])
    with CogWriter(
        path,
        grid=grid,
        count=array.shape[0],
        dtype=array.dtype,
        nodata=nodata,
        band_names=band_names,
        compress=compress,
        level=level,
        predictor=predictor,
        overview_resampling=overview_resampling,
        interleave=interleave,
        tmp_dir=tmp_dir,
    ) as writer:
        writer.write(array)
    return Path(path)


def write_raster_cog(path: str | Path, raster: Raster, **options: Any) -> Path:
    """Write a :class:`Raster` (float32, NaN nodata, band names as descriptions) to a COG."""
    return write_cog(
        path,
        raster.data,
        transform=raster.transform,
        crs=raster.crs,
        nodata=math.nan,
        band_names=raster.band_names,
        **options,
    )


def write_cog_blocks(
    path: str | Path,
    blocks: Iterable[tuple[Window, npt.ArrayLike]],
    *,
    grid: Grid,
    count: int,
    dtype: str | np.dtype[Any],
    **options: Any,
) -> Path:
    """Write ``(window, block)`` pairs as they come (any order) into a COG at ``path``."""
    with CogWriter(path, grid=grid, count=count, dtype=dtype, **options) as writer:
        for window, block in blocks:
            writer.write(block, window)
    return Path(path)


def convert_to_cog(
    src_path: str | Path,
    dst_path: str | Path,
    *,
    compress: Compression = "zstd",
    level: int | None = None,
    predictor: bool = True,
    overview_resampling: OverviewResampling = "average",
    interleave: Literal["band", "pixel"] = "band",
    drivers: Sequence[str] = DEFAULT_DRIVERS,
    max_pixels: int = DEFAULT_MAX_DATASET_PIXELS,
    tmp_dir: str | Path | None = None,
) -> Path:
    """Rewrite any GeoTIFF as a COG, block by block (the input may exceed memory).

    Keeps the data type, nodata, CRS, transform, band descriptions, colour interpretation and
    dataset tags. The input is opened with ``drivers`` only (GTiff by default) and refused
    before any pixel is read when its declared size is over ``max_pixels``.
    """
    with open_dataset(str(src_path), drivers=drivers, max_pixels=max_pixels) as src:
        grid = Grid(src.crs, src.transform, src.width, src.height)
        writer = CogWriter(
            dst_path,
            grid=grid,
            count=src.count,
            dtype=src.dtypes[0],
            nodata=src.nodata,
            band_names=src.descriptions,
            compress=compress,
            level=level,
            predictor=predictor,
            overview_resampling=overview_resampling,
            interleave=interleave,
            tmp_dir=tmp_dir,
            colorinterp=src.colorinterp,
            tags=src.tags(),
        )
        with writer:
            for window in writer.block_windows():
                writer.write(src.read(window=window), window)
    return Path(dst_path)
