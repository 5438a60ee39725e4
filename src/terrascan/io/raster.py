"""Readers: named bands from a multi-band file or a STAC item, onto one grid, as float32.

Layered like rio-tiler: :func:`read_bands` (one call, returns a :class:`Raster`) sits on
:class:`MultiBandReader` (opens the inputs once, reads any window of the output grid, for the
engine's block loop), which sits on :class:`~terrascan.io.sources.BandRef` lists built from a
file (:func:`file_band_refs`) or an item (:func:`~terrascan.io.stac_item.item_band_refs`).

Every band comes back as float32 with the scale and offset applied (reflectance for optical
bands) and NaN where the input had no data or the grid lies outside it. Bands of coarser
resolution are resampled onto the output grid (the finest requested band's, unless a CRS,
resolution or grid is asked for): bilinear for continuous bands (average when shrinking),
nearest for classes and QA bits.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import attrs
import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.warp import reproject
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from terrascan.errors import InvalidInputError
from terrascan.io._convert import dn_to_float
from terrascan.io.grid import Bounds, CRSInput, Grid, as_crs
from terrascan.io.sensors import (
    BAND_NAMES,
    QUALITY_BANDS,
    SensorProfile,
    check_band_name,
    get_sensor,
    parse_band_mapping,
    scale_offset,
)
from terrascan.io.sources import (
    DEFAULT_DRIVERS,
    DEFAULT_MAX_DATASET_PIXELS,
    BandRef,
    DatasetPool,
    check_pixel_budget,
    resolve_href,
)
from terrascan.io.stac_item import check_item, item_band_refs, load_item
from terrascan.io.tiff_tiles import TiffTiles

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FloatArray",
    "MultiBandReader",
    "Raster",
    "ReaderProfile",
    "file_band_refs",
    "open_reader",
    "read_bands",
]

FloatArray: TypeAlias = npt.NDArray[np.float32]

#: Output width x height x bands above which :func:`read_bands` refuses to read (4 GB float32).
DEFAULT_MAX_PIXELS = 1_000_000_000

#: Blocks for grids that are not a window of a tiled input.
DEFAULT_BLOCK = (512, 512)

Source: TypeAlias = str | Path | Mapping[str, Any]
BandMapping: TypeAlias = Mapping[str, int] | str


def _as_3d(value: Any) -> FloatArray:
    array = np.asarray(value)
    if array.ndim == 2:
        array = array[np.newaxis]
    if array.ndim != 3:
        raise InvalidInputError(f"raster data must be (band, row, col), got shape {array.shape}")
    return array.astype(np.float32, copy=False)


def _as_affine(value: Any) -> Affine:
    return value if isinstance(value, Affine) else Affine(*value)


def _as_names(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


@attrs.frozen(eq=False)
class Raster:
    """Bands on one grid: ``data`` is float32 (band, row, col) with NaN for no data."""

    data: FloatArray = attrs.field(converter=_as_3d)
    transform: Affine = attrs.field(converter=_as_affine)
    crs: CRS = attrs.field(converter=as_crs)
    band_names: tuple[str, ...] = attrs.field(converter=_as_names)

    def __attrs_post_init__(self) -> None:
        if len(self.band_names) != self.data.shape[0]:
            raise InvalidInputError(
                f"{len(self.band_names)} band names for {self.data.shape[0]} bands"
            )
        if len(set(self.band_names)) != len(self.band_names):
            raise InvalidInputError(f"band names repeat: {self.band_names}")

    @property
    def nodata(self) -> float:
        return math.nan

    @property
    def count(self) -> int:
        return int(self.data.shape[0])

    @property
    def height(self) -> int:
        return int(self.data.shape[1])

    @property
    def width(self) -> int:
        return int(self.data.shape[2])

    @property
    def grid(self) -> Grid:
        return Grid(self.crs, self.transform, self.width, self.height)

    @property
    def bounds(self) -> Bounds:
        return self.grid.bounds

    def band(self, name: str) -> FloatArray:
        """Return the (row, col) array of band ``name`` (a view, not a copy)."""
        try:
            index = self.band_names.index(name)
        except ValueError:
            raise InvalidInputError(
                f"no band {name!r}; bands are {', '.join(self.band_names)}"
            ) from None
        band: FloatArray = self.data[index]
        return band

    def as_dict(self) -> dict[str, FloatArray]:
        return {name: self.data[i] for i, name in enumerate(self.band_names)}


@attrs.frozen
class ReaderProfile:
    """What the engine needs to plan a block loop over a :class:`MultiBandReader`."""

    grid: Grid
    block_shape: tuple[int, int]  # (rows, cols) of the inputs' internal tiles
    band_names: tuple[str, ...]
    dtype: str = "float32"
    nodata: float = math.nan

    @property
    def width(self) -> int:
        return self.grid.width

    @property
    def height(self) -> int:
        return self.grid.height

    @property
    def transform(self) -> Affine:
        return self.grid.transform

    @property
    def crs(self) -> CRS:
        return self.grid.crs


def _to_float(raw: npt.NDArray[Any], nodata: float | None, ref: BandRef) -> FloatArray:
    """DN -> float32 value with ``ref``'s scale/offset; ``nodata`` pixels -> NaN."""
    fused = dn_to_float(raw, nodata, ref.scale, ref.offset)  # one pass, same result
    if fused is not None:
        return fused
    out = raw.astype(np.float32)
    invalid = None
    if nodata is not None:
        invalid = np.isnan(out) if math.isnan(nodata) else raw == nodata
    if ref.scale != 1.0:
        out *= np.float32(ref.scale)
    if ref.offset != 0.0:
        out += np.float32(ref.offset)
    if invalid is not None:
        out[invalid] = np.nan
    return out


class _DirectBand:
    """A band whose dataset shares the output grid's pixels: plain windowed reads."""

    def __init__(self, src: DatasetReader, ref: BandRef, offset: Window) -> None:
        self.src, self.ref = src, ref
        self.col0, self.row0 = int(offset.col_off), int(offset.row_off)
        self.nodata = ref.nodata if ref.nodata is not None else src.nodata
        # Local tiled GeoTIFFs in the usual layouts are decoded without GDAL (same pixels,
        # a third of the time); anything else reads through GDAL.
        self.tiles = (
            TiffTiles.open(src.name, ref.index, src.nodata) if src.driver == "GTiff" else None
        )

    def _float(self, window: Window) -> FloatArray:
        if self.tiles is not None:  # decoded and converted in one pass
            return self.tiles.read_float(window, self.nodata, self.ref.scale, self.ref.offset)
        raw = self.src.read(self.ref.index, window=window)
        return _to_float(raw, self.nodata, self.ref)

    def read(self, window: Window) -> FloatArray:
        col, row = int(window.col_off) + self.col0, int(window.row_off) + self.row0
        width, height = int(window.width), int(window.height)
        c0, r0 = max(col, 0), max(row, 0)
        c1, r1 = min(col + width, self.src.width), min(row + height, self.src.height)
        if c0 == col and r0 == row and c1 - c0 == width and r1 - r0 == height:
            return self._float(Window(col, row, width, height))
        out = np.full((height, width), np.nan, np.float32)
        if c1 > c0 and r1 > r0:
            out[r0 - row : r1 - row, c0 - col : c1 - col] = self._float(
                Window(c0, r0, c1 - c0, r1 - r0)
            )
        return out


class _WarpedBand:
    """A band resampled or reprojected onto the output grid, one window at a time.

    ``rasterio.warp.reproject`` reads only the source pixels a window needs. (A WarpedVRT
    would do the same, but it registers GDAL's VRT driver for the whole process, which the
    start-up self-check keeps out because VRT files read arbitrary local files.)
    """

    def __init__(
        self, src: DatasetReader, ref: BandRef, grid: Grid, resampling: Resampling
    ) -> None:
        self.src, self.ref, self.grid, self.resampling = src, ref, grid, resampling
        self.nodata = ref.nodata if ref.nodata is not None else src.nodata

    def read(self, window: Window) -> FloatArray:
        out = np.full((int(window.height), int(window.width)), np.nan, np.float32)
        reproject(
            source=rasterio.band(self.src, self.ref.index),
            destination=out,
            src_nodata=self.nodata,
            dst_transform=window_transform(window, self.grid.transform),
            dst_crs=self.grid.crs,
            dst_nodata=np.nan,
            resampling=self.resampling,
        )
        # NaN marks no data already; only scale/offset remain.
        return _to_float(out, None, self.ref)


def _dataset_grid(src: DatasetReader) -> Grid:
    return Grid(src.crs, src.transform, src.width, src.height)


class MultiBandReader:
    """Named bands of one or more datasets, read window by window onto one :class:`Grid`.

    The datasets stay open until :meth:`close` (use it as a context manager). Reads are
    serialised by a lock, so one reader may be shared by threads; open one reader per worker
    to decode in parallel.
    """

    def __init__(
        self,
        refs: Sequence[BandRef],
        pool: DatasetPool,
        *,
        grid: Grid | None = None,
        window: Window | None = None,
        bounds: Bounds | None = None,
        bounds_crs: CRSInput = "EPSG:4326",
        dst_crs: CRSInput | None = None,
        resolution: float | None = None,
    ) -> None:
        self._pool = pool
        self._lock = threading.Lock()
        try:
            self.refs = _check_refs(refs)
            native_src = self._finest_source()
            native = _dataset_grid(native_src)
            if grid is not None and (window, bounds, dst_crs, resolution) != (None,) * 4:
                raise InvalidInputError("give either a target grid or window/bounds/CRS/resolution")
            self.grid = grid or _target_grid(
                native, window, bounds, bounds_crs, dst_crs, resolution
            )
            self._bands = [self._band_reader(ref) for ref in self.refs]
            block, self._block_origin = self._blocking(native_src)
            self.profile = ReaderProfile(self.grid, block, self.band_names)
        except Exception:
            self.close()
            raise

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(ref.name for ref in self.refs)

    def _finest_source(self) -> DatasetReader:
        sources = [self._pool.get(ref.path) for ref in self.refs]
        return min(sources, key=lambda s: abs(s.transform.a * s.transform.e))

    def _band_reader(self, ref: BandRef) -> _DirectBand | _WarpedBand:
        src = self._pool.get(ref.path)
        offset = self.grid.is_window_of(_dataset_grid(src))
        if offset is not None:
            return _DirectBand(src, ref, offset)
        return _WarpedBand(src, ref, self.grid, self._resampling(ref, src))

    def _resampling(self, ref: BandRef, src: DatasetReader) -> Resampling:
        if ref.categorical:
            return Resampling.nearest
        src_res = abs(src.transform.a)
        if src.crs == self.grid.crs and self.grid.res[0] > src_res * 1.001:
            return Resampling.average  # shrinking: average every source pixel
        return Resampling.bilinear

    def _blocking(self, native_src: DatasetReader) -> tuple[tuple[int, int], tuple[int, int]]:
        offset = self.grid.is_window_of(_dataset_grid(native_src))
        if offset is None:
            return DEFAULT_BLOCK, (0, 0)
        block = _engine_block(native_src)
        return block, (int(offset.row_off), int(offset.col_off))

    def block_windows(self) -> Iterator[Window]:
        """Windows that tile the output grid, with edges on the finest input's tile edges."""
        return self.grid.block_windows(self.profile.block_shape, self._block_origin)

    def read(self, window: Window | None = None) -> dict[str, FloatArray]:
        """Read ``window`` of the output grid (all of it by default): band name -> float32."""
        win = self.grid.window() if window is None else _check_window(window, self.grid)
        with self._lock:
            return {band.ref.name: band.read(win) for band in self._bands}

    def read_raster(self, window: Window | None = None) -> Raster:
        win = self.grid.window() if window is None else _check_window(window, self.grid)
        arrays = self.read(win)
        grid = self.grid.window_grid(win)
        data = np.stack([arrays[name] for name in self.band_names])
        return Raster(data, grid.transform, grid.crs, self.band_names)

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> MultiBandReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _check_refs(refs: Sequence[BandRef]) -> tuple[BandRef, ...]:
    if not refs:
        raise InvalidInputError("no bands requested")
    names = [ref.name for ref in refs]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"bands requested twice: {names}")
    return tuple(refs)


def _check_window(window: Window, grid: Grid) -> Window:
    col, row = int(window.col_off), int(window.row_off)
    width, height = int(window.width), int(window.height)
    if width < 1 or height < 1 or col < 0 or row < 0:
        raise InvalidInputError(f"invalid window {window}")
    if col + width > grid.width or row + height > grid.height:
        raise InvalidInputError(f"window {window} exceeds the {grid.width}x{grid.height} grid")
    return Window(col, row, width, height)


def _target_grid(
    native: Grid,
    window: Window | None,
    bounds: Bounds | None,
    bounds_crs: CRSInput,
    dst_crs: CRSInput | None,
    resolution: float | None,
) -> Grid:
    grid = native
    if window is not None:
        full = Window(0, 0, native.width, native.height)
        try:
            clipped = window.intersection(full)
        except Exception:
            raise InvalidInputError(f"window {window} does not intersect the raster") from None
        grid = native.window_grid(clipped.round_offsets().round_lengths())
    grid = grid.reprojected(dst_crs, resolution)
    if bounds is not None:
        grid = grid.clip_to_bounds(bounds, bounds_crs)
    return grid


def _engine_block(src: DatasetReader) -> tuple[int, int]:
    rows, cols = src.block_shapes[0]
    if cols != src.width or rows == cols:  # tiled (strips span the full width)
        return rows, cols
    # Strips: whole strips, about 512 rows at a time, capped for very wide rasters.
    rows = max(1, min(rows, 512))
    rows *= max(1, 512 // rows)
    return rows, src.width


def file_band_refs(
    src: DatasetReader,
    path: str,
    bands: Sequence[str],
    mapping: BandMapping | None = None,
    sensor: SensorProfile | None = None,
) -> list[BandRef]:
    """Return one :class:`BandRef` per requested band of a multi-band file.

    Bands are found through ``mapping`` (``{"red": 3}`` or ``"red=3,nir=4"``), else through the
    file's band descriptions (common names, or product band ids such as ``B04`` with a
    Sentinel-2 ``sensor``). Scale/offset come from the file's metadata when set, else from the
    sensor profile, else 1 / 0.
    """
    indexes = _band_indexes(src, path, mapping, sensor)
    refs = []
    for name in bands:
        check_band_name(name)
        index = _lookup(indexes, name, sensor, path)
        spec = sensor.band(name) if sensor is not None and sensor.has_band(name) else None
        categorical = spec.categorical if spec is not None else name in QUALITY_BANDS
        file_scale = float(src.scales[index - 1])
        file_offset = float(src.offsets[index - 1])
        if categorical:
            scale, offset = 1.0, 0.0
        elif (file_scale, file_offset) != (1.0, 0.0):
            scale, offset = file_scale, file_offset
        else:
            scale, offset = scale_offset(None, spec, sensor)
        refs.append(BandRef(name, path, index, scale, offset, None, categorical))
    return refs


def _band_indexes(
    src: DatasetReader, path: str, mapping: BandMapping | None, sensor: SensorProfile | None
) -> dict[str, int]:
    if mapping is not None:
        indexes = parse_band_mapping(mapping) if isinstance(mapping, str) else dict(mapping)
        for name, index in indexes.items():
            check_band_name(name)
            if not isinstance(index, int) or not 1 <= index <= src.count:
                raise InvalidInputError(
                    f"band {name}={index} is out of range: {path} has {src.count} band(s)"
                )
        return indexes
    found: dict[str, int] = {}
    for i, description in enumerate(src.descriptions, start=1):
        if not description:
            continue
        key = description.strip().lower()
        spec = sensor.by_band_id(description) if sensor is not None else None
        if key in BAND_NAMES:
            found.setdefault(key, i)
        elif spec is not None:
            found.setdefault(spec.name, i)
    return found


def _lookup(indexes: Mapping[str, int], name: str, sensor: SensorProfile | None, path: str) -> int:
    if name in indexes:
        return indexes[name]
    alias = sensor.aliases.get(name) if sensor is not None else None
    if alias is not None and alias in indexes:
        return indexes[alias]
    raise InvalidInputError(
        f"band {name!r} is not named in {path}: give a mapping such as '{name}=N' "
        "(e.g. --bands red=3,nir=4) or set the band descriptions"
    )


def open_reader(
    source: Source,
    bands: Sequence[str],
    *,
    mapping: BandMapping | None = None,
    sensor: str | SensorProfile | None = None,
    grid: Grid | None = None,
    window: Window | None = None,
    bounds: Bounds | None = None,
    bounds_crs: CRSInput = "EPSG:4326",
    dst_crs: CRSInput | None = None,
    resolution: float | None = None,
    allowed_hosts: Collection[str] = (),
    local_roots: Collection[str | Path] | None = None,
    drivers: Sequence[str] = DEFAULT_DRIVERS,
    max_dataset_pixels: int = DEFAULT_MAX_DATASET_PIXELS,
) -> MultiBandReader:
    """Open ``bands`` of ``source`` (a raster file, a STAC item JSON file or a parsed item).

    See :func:`read_bands` for the arguments. The caller closes the reader.
    """
    profile = get_sensor(sensor) if isinstance(sensor, str) else sensor
    pool = DatasetPool(drivers, max_dataset_pixels)
    try:
        refs = _refs(source, list(bands), mapping, profile, pool, allowed_hosts, local_roots)
        return MultiBandReader(
            refs,
            pool,
            grid=grid,
            window=window,
            bounds=bounds,
            bounds_crs=bounds_crs,
            dst_crs=dst_crs,
            resolution=resolution,
        )
    except Exception:
        pool.close()
        raise


def _refs(
    source: Source,
    bands: list[str],
    mapping: BandMapping | None,
    sensor: SensorProfile | None,
    pool: DatasetPool,
    allowed_hosts: Collection[str],
    local_roots: Collection[str | Path] | None,
) -> list[BandRef]:
    if isinstance(source, Mapping):
        item, base = check_item(dict(source)), None
    elif str(source).lower().endswith((".json", ".geojson")):
        if urlsplit(str(source)).scheme.lower() in ("http", "https", "s3"):
            raise InvalidInputError(
                "remote STAC items are fetched by the STAC client; pass the parsed item"
            )
        path = Path(resolve_href(str(source), base=Path.cwd(), local_roots=local_roots))
        item, base = load_item(path), path.parent
    else:
        path_str = resolve_href(
            str(source), base=Path.cwd(), allowed_hosts=allowed_hosts, local_roots=local_roots
        )
        return file_band_refs(pool.get(path_str), path_str, bands, mapping, sensor)
    if mapping is not None:
        raise InvalidInputError("a band mapping applies to raster files, not to STAC items")
    return item_band_refs(
        item,
        bands,
        sensor=sensor,
        base=base,
        allowed_hosts=allowed_hosts,
        local_roots=local_roots,
    )


def read_bands(
    source: Source,
    bands: Sequence[str],
    *,
    mapping: BandMapping | None = None,
    sensor: str | SensorProfile | None = None,
    grid: Grid | None = None,
    window: Window | None = None,
    bounds: Bounds | None = None,
    bounds_crs: CRSInput = "EPSG:4326",
    dst_crs: CRSInput | None = None,
    resolution: float | None = None,
    allowed_hosts: Collection[str] = (),
    local_roots: Collection[str | Path] | None = None,
    drivers: Sequence[str] = DEFAULT_DRIVERS,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_dataset_pixels: int = DEFAULT_MAX_DATASET_PIXELS,
) -> Raster:
    """Read ``bands`` (common names) of ``source`` into memory as one float32 :class:`Raster`.

    ``source`` is a multi-band raster file (bands found through ``mapping`` or the band
    descriptions), a STAC item JSON file, or an already parsed item (one band per asset;
    relative hrefs need a file). ``sensor`` (a profile or its name) supplies default
    scale/offset and asset keys; for items it defaults to the item's collection.

    The output grid is the finest requested band's grid, cut to ``window`` (pixels of that
    grid) and/or ``bounds`` (W, S, E, N in ``bounds_crs``, default EPSG:4326), optionally
    reprojected to ``dst_crs`` / ``resolution``; or exactly ``grid``. Remote hrefs are opened
    only for ``allowed_hosts``; local ones, when ``local_roots`` is given, only inside them.

    Raises :class:`TooLargeError` before reading when an input's declared size is over
    ``max_dataset_pixels`` or the output (width x height x bands) is over ``max_pixels``.
    """
    with open_reader(
        source,
        bands,
        mapping=mapping,
        sensor=sensor,
        grid=grid,
        window=window,
        bounds=bounds,
        bounds_crs=bounds_crs,
        dst_crs=dst_crs,
        resolution=resolution,
        allowed_hosts=allowed_hosts,
        local_roots=local_roots,
        drivers=drivers,
        max_dataset_pixels=max_dataset_pixels,
    ) as reader:
        g = reader.grid
        check_pixel_budget(g.width, g.height, len(reader.refs), max_pixels, "the requested read")
        return reader.read_raster()
