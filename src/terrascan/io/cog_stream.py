"""Cloud-Optimized GeoTIFFs written in one pass, tiles compressed as they arrive.

:class:`~terrascan.io.cog.CogWriter` stages uncompressed pixels and lets GDAL compress them in
a final copy: simple, but on a whole scene the copy is most of the run time (an NDVI of a
10980 x 10980 scene spent 6 of its 10 seconds there). :class:`StreamingCogWriter` has the same
interface and does the work once, in the threads that call :meth:`~StreamingCogWriter.write`:

1. each 512 x 512 tile is run through the TIFF predictor and compressed
   (:mod:`terrascan.io.tiff_codec`) and appended to a spool file beside the output;
2. each tile is also averaged 2 x 2 into the first overview level; an overview tile is
   encoded as soon as its four children have arrived, and averaged into the next level, so
   only about two rows of overview tiles per level are ever held in memory;
3. :meth:`~StreamingCogWriter.close` writes the TIFF header and every IFD first, then the
   overview tiles (smallest level first) and the full-resolution tiles copied from the spool
   (``os.copy_file_range``: no decoding, no recompression). BigTIFF is chosen only when the
   file would exceed 4 GiB.

The layout is what ``rio_cogeo.cogeo.cog_validate`` and GDAL's COG validator require: IFDs
before data, overview data before full-resolution data, ordered by decreasing decimation.
Bands are stored separately (``PlanarConfiguration=2``), so a reader decodes only the bands it
needs. GeoTIFF keys, nodata, band descriptions and tags come from a one-pixel GeoTIFF that GDAL
writes for the same grid, so they are exactly what GDAL itself would write.

ZSTD needs the ``zstandard`` package; :func:`streaming_available` tells whether it is there.
"""

from __future__ import annotations

import ctypes
import math
import os
import struct
import threading
import uuid
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs
import numba
import numpy as np
import numpy.typing as npt
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from rasterio.windows import Window

from terrascan.errors import InvalidInputError
from terrascan.io.cog import (
    BLOCKSIZE,
    Compression,
    OverviewResampling,
    overview_factors,
)
from terrascan.io.grid import Grid
from terrascan.io.tiff_codec import (
    TIFF_COMPRESSION,
    TileEncoder,
    codec_available,
    predictor_for,
)

__all__ = ["StreamingCogWriter", "streaming_available"]

# TIFF field types.
_SHORT, _LONG, _LONG8 = 3, 4, 16
_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8}
_SAMPLE_FORMAT = {"u": 1, "i": 2, "f": 3}
#: Tags copied from GDAL's template: GeoTIFF keys and transform, GDAL metadata and nodata.
_TEMPLATE_TAGS = (33550, 33922, 34264, 34735, 34736, 34737, 42112, 42113)
_OVERVIEW_TEMPLATE_TAGS = (42113,)
_CLASSIC_LIMIT = 2**32 - 1
_FALLOC_FL_INSERT_RANGE = 0x20


def streaming_available(compress: Compression = "zstd") -> bool:
    """True when :class:`StreamingCogWriter` can encode ``compress`` in this process."""
    return codec_available(compress)


@numba.njit(nogil=True, cache=True)
def _mean_2x2(
    src: Any, out: Any, nodata: float, use_nodata: bool, floating: bool, fill: float
) -> None:  # pragma: no cover - compiled
    """Each output pixel is the mean of the valid pixels (not NaN, not ``nodata``) of its 2 x 2
    cell, ``fill`` where none is; integers round half up. Odd last rows and columns average
    the pixels they have. The same values as :func:`terrascan.io.cog._decimate`, unrolled."""
    bands, rows, cols = src.shape
    for b in range(bands):
        for i in range(out.shape[1]):
            r0 = 2 * i
            r1 = r0 + 1 if r0 + 1 < rows else -1
            for j in range(out.shape[2]):
                c0 = 2 * j
                c1 = c0 + 1 if c0 + 1 < cols else -1
                total = 0.0
                n = 0
                v = src[b, r0, c0]
                if not ((floating and v != v) or (use_nodata and v == nodata)):
                    total += v
                    n += 1
                if c1 >= 0:
                    v = src[b, r0, c1]
                    if not ((floating and v != v) or (use_nodata and v == nodata)):
                        total += v
                        n += 1
                if r1 >= 0:
                    v = src[b, r1, c0]
                    if not ((floating and v != v) or (use_nodata and v == nodata)):
                        total += v
                        n += 1
                    if c1 >= 0:
                        v = src[b, r1, c1]
                        if not ((floating and v != v) or (use_nodata and v == nodata)):
                            total += v
                            n += 1
                if n == 0:
                    out[b, i, j] = fill
                elif floating:
                    out[b, i, j] = total / n
                else:
                    out[b, i, j] = np.floor(total / n + 0.5)


def _halve(
    block: npt.NDArray[Any], nodata: float | None, resampling: OverviewResampling
) -> npt.NDArray[Any]:
    """Halve a (band, row, col) block for the next overview level (average or nearest)."""
    if resampling == "nearest":
        return np.ascontiguousarray(block[:, ::2, ::2])
    bands, rows, cols = block.shape
    out = np.empty((bands, (rows + 1) // 2, (cols + 1) // 2), block.dtype)
    floating = bool(np.issubdtype(block.dtype, np.floating))
    if nodata is None:
        value, use_nodata, fill = 0.0, False, math.nan if floating else 0.0
    else:
        value, use_nodata, fill = float(nodata), not math.isnan(nodata), float(nodata)
    _mean_2x2(block, out, value, use_nodata, floating, fill)
    return out


@attrs.frozen
class _Tag:
    code: int
    type: int
    count: int
    payload: bytes


def _short_tag(code: int, values: Sequence[int]) -> _Tag:
    return _Tag(code, _SHORT, len(values), struct.pack(f"<{len(values)}H", *values))


def _long_tag(code: int, values: Sequence[int]) -> _Tag:
    return _Tag(code, _LONG, len(values), struct.pack(f"<{len(values)}I", *values))


def _read_ifd0_tags(data: bytes, wanted: Sequence[int]) -> dict[int, _Tag]:
    """The ``wanted`` tags of the first IFD of a small classic little-endian TIFF."""
    if data[:4] != b"II*\x00":
        raise InvalidInputError("GDAL template is not a classic little-endian TIFF")
    (offset,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, offset)
    tags: dict[int, _Tag] = {}
    for i in range(count):
        code, kind, n, value = struct.unpack_from("<HHII", data, offset + 2 + 12 * i)
        if code not in wanted:
            continue
        size = _TYPE_SIZE[kind] * n
        start = offset + 2 + 12 * i + 8 if size <= 4 else value
        tags[code] = _Tag(code, kind, n, bytes(data[start : start + size]))
    return tags


def _template_tags(
    crs: CRS | None,
    transform: Affine | None,
    count: int,
    dtype: np.dtype[Any],
    nodata: float | None,
    band_names: Sequence[str | None] | None,
    tags: dict[str, str] | None,
) -> dict[int, _Tag]:
    """Let GDAL write a 1 x 1 GeoTIFF with the same georeferencing and metadata; return the
    GeoTIFF and GDAL tags of its IFD (transform, keys, nodata, descriptions, tags)."""
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": 1,
        "height": 1,
        "count": count,
        "dtype": dtype.name,
        "nodata": nodata,
    }
    if crs is not None:
        profile["crs"] = crs
    if transform is not None:
        profile["transform"] = transform
    with MemoryFile() as memfile, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with memfile.open(**profile) as dst:
            for i, name in enumerate(band_names or (), start=1):
                if name:
                    dst.set_band_description(i, name)
            if tags:
                dst.update_tags(**tags)
        data = memfile.read()
    return _read_ifd0_tags(data, _TEMPLATE_TAGS)


@attrs.define
class _Level:
    """One resolution level: its size, tile grid and where each tile's bytes are."""

    width: int
    height: int
    count: int
    offsets: npt.NDArray[np.int64] = attrs.field(init=False)
    sizes: npt.NDArray[np.int64] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        shape = (self.rows, self.cols, self.count)
        self.offsets = np.zeros(shape, np.int64)
        self.sizes = np.zeros(shape, np.int64)

    @property
    def rows(self) -> int:
        return math.ceil(self.height / BLOCKSIZE)

    @property
    def cols(self) -> int:
        return math.ceil(self.width / BLOCKSIZE)

    def tile_shape(self, row: int, col: int) -> tuple[int, int]:
        return (
            min(BLOCKSIZE, self.height - row * BLOCKSIZE),
            min(BLOCKSIZE, self.width - col * BLOCKSIZE),
        )


class _Spool:
    """An append-only temporary file that tiles are written into from any thread."""

    def __init__(self, path: Path, mode: int = 0o600) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)
        self._end = 0
        self._lock = threading.Lock()

    @property
    def fd(self) -> int:
        return self._fd

    @property
    def size(self) -> int:
        return self._end

    def append(self, data: bytes) -> int:
        with self._lock:
            offset = self._end
            self._end += len(data)
        _pwrite_all(self._fd, data, offset)
        return offset

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self.path.unlink(missing_ok=True)


class _Pyramid:
    """Overview tiles being assembled from the 2 x 2 averages of their four children."""

    def __init__(self, levels: list[_Level], dtype: np.dtype[Any], fill: float) -> None:
        self.levels = levels
        self.dtype = dtype
        self.fill = fill
        self._partial: dict[tuple[int, int, int], tuple[npt.NDArray[Any], int]] = {}
        self._lock = threading.Lock()

    def children(self, level: int, row: int, col: int) -> int:
        """How many tiles of ``level - 1`` make up tile (row, col) of ``level``."""
        below = self.levels[level - 1]
        rows = min(2, below.rows - 2 * row)
        cols = min(2, below.cols - 2 * col)
        return rows * cols

    def add(
        self, level: int, row: int, col: int, half: npt.NDArray[Any]
    ) -> tuple[int, int, int, npt.NDArray[Any]] | None:
        """Put the halved child tile (row, col) of ``level - 1`` into its parent at ``level``;
        return the parent ``(level, row, col, data)`` once all its children are in."""
        key = (level, row // 2, col // 2)
        target = self.levels[level]
        with self._lock:
            entry = self._partial.get(key)
            if entry is None:
                rows, cols = target.tile_shape(key[1], key[2])
                tile = np.full((target.count, rows, cols), self.fill, self.dtype)
                entry = (tile, 0)
            tile, seen = entry
            r0, c0 = (row % 2) * (BLOCKSIZE // 2), (col % 2) * (BLOCKSIZE // 2)
            tile[:, r0 : r0 + half.shape[1], c0 : c0 + half.shape[2]] = half
            seen += 1
            if seen < self.children(*key):
                self._partial[key] = (tile, seen)
                return None
            self._partial.pop(key, None)
        return key[0], key[1], key[2], tile

    def pop_incomplete(self) -> Iterator[tuple[int, int, int, npt.NDArray[Any]]]:
        """Yield the parents still missing children (never written), lowest level first."""
        while True:
            with self._lock:
                if not self._partial:
                    return
                key = min(self._partial)
                tile, _ = self._partial.pop(key)
            yield key[0], key[1], key[2], tile


class StreamingCogWriter:
    """Write a COG block by block, encoding tiles as they come; the file appears on
    :meth:`close`.

    Same use as :class:`~terrascan.io.cog.CogWriter`: ``write(data, window)`` takes
    (band, row, col) arrays (or (row, col) for one band) for windows whose offsets are
    multiples of 512 and whose sizes are multiples of 512 except at the right and bottom
    edges (:meth:`block_windows` gives them). Worker threads may call :meth:`write`
    concurrently: each encodes its own tiles. Used as a context manager, an exception aborts
    the write and leaves nothing at ``path``.

    ``grid`` is None only for images without georeferencing (plain PNG/JPEG inputs); then
    ``size`` gives (height, width).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        grid: Grid | None,
        count: int,
        dtype: str | np.dtype[Any],
        nodata: float | None = None,
        band_names: Sequence[str | None] | None = None,
        compress: Compression = "zstd",
        level: int | None = None,
        predictor: bool = True,
        overview_resampling: OverviewResampling = "average",
        tags: dict[str, str] | None = None,
        size: tuple[int, int] | None = None,
        tmp_dir: str | Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.grid = grid
        self.height, self.width = _size(grid, size)
        self.count = int(count)
        self.dtype = np.dtype(dtype).newbyteorder("<")
        self.nodata = nodata
        _check(self.count, self.dtype, band_names, overview_resampling)
        if not self.path.parent.is_dir():
            raise InvalidInputError(f"output folder does not exist: {self.path.parent}")
        self._compress = compress
        self._resampling: OverviewResampling = overview_resampling
        self._predictor = predictor_for(self.dtype, predictor)
        self._encoder = TileEncoder(self.dtype, compress, level, self._predictor, BLOCKSIZE)
        self._tags = _template_tags(
            grid.crs if grid else None,
            grid.transform if grid else None,
            self.count,
            self.dtype,
            nodata,
            band_names,
            tags,
        )
        factors = overview_factors(self.width, self.height)
        self.levels = [_Level(self.width, self.height, self.count)] + [
            _Level(math.ceil(self.width / f), math.ceil(self.height / f), self.count)
            for f in factors
        ]
        # Parts of a tile that no block covered read as nodata (NaN for floats without one).
        self._fill = _fill_value(self.dtype, nodata)
        self._pyramid = _Pyramid(self.levels, self.dtype, self._fill)
        self._lock = threading.Lock()
        self._closed = False
        self._written = np.zeros((self.levels[0].rows, self.levels[0].cols), bool)
        folder = Path(tmp_dir) if tmp_dir is not None else self.path.parent
        stem = f".{self.path.name}.{uuid.uuid4().hex}"
        self._spools: list[_Spool] = []
        try:
            # Full-resolution tiles go straight into the output's temporary file.
            # (mode 0o666 less the umask, as for any new file: it becomes the output)
            self._spools.append(_Spool(self.path.with_name(f"{stem}.tmp"), 0o666))
            for level in range(1, len(self.levels)):
                self._spools.append(_Spool(folder / f"{stem}.{level}.spool"))
        except Exception:
            self.abort()
            raise

    # -- writing -------------------------------------------------------------------------

    def block_windows(self) -> Iterator[Window]:
        """512 x 512 windows (smaller at the right and bottom edges) that tile the output."""
        for row in range(0, self.height, BLOCKSIZE):
            for col in range(0, self.width, BLOCKSIZE):
                yield Window(
                    col, row, min(BLOCKSIZE, self.width - col), min(BLOCKSIZE, self.height - row)
                )

    def write(self, data: npt.ArrayLike, window: Window | None = None) -> None:
        """Encode (band, row, col) ``data`` at ``window`` (whole tiles; all of it by default)."""
        if self._closed:
            raise InvalidInputError("the COG writer is closed")
        win = Window(0, 0, self.width, self.height) if window is None else window
        block = self._check_block(data, win)
        col0, row0 = int(win.col_off), int(win.row_off)
        rows = range(row0 // BLOCKSIZE, (row0 + block.shape[1] - 1) // BLOCKSIZE + 1)
        cols = range(col0 // BLOCKSIZE, (col0 + block.shape[2] - 1) // BLOCKSIZE + 1)
        with self._lock:  # each tile once: a second write would leave stale bytes behind
            if self._written[rows.start : rows.stop, cols.start : cols.stop].any():
                raise InvalidInputError(f"window {win} overlaps tiles already written")
            self._written[rows.start : rows.stop, cols.start : cols.stop] = True
        for r in range(0, block.shape[1], BLOCKSIZE):
            for c in range(0, block.shape[2], BLOCKSIZE):
                tile = block[:, r : r + BLOCKSIZE, c : c + BLOCKSIZE]
                self._put(0, (row0 + r) // BLOCKSIZE, (col0 + c) // BLOCKSIZE, tile)

    def _put(self, level: int, row: int, col: int, tile: npt.NDArray[Any]) -> None:
        """Encode one tile of ``level`` and pass its halved copy up the pyramid."""
        while True:
            self._store(level, row, col, tile)
            if level + 1 >= len(self.levels):
                return
            half = _halve(tile, self.nodata, self._resampling)
            parent = self._pyramid.add(level + 1, row, col, half)
            if parent is None:
                return
            level, row, col, tile = parent

    def _store(self, level: int, row: int, col: int, tile: npt.NDArray[Any]) -> None:
        """Encode every band of one tile and append them, adjacent, to the level's spool."""
        target = self.levels[level]
        encoded = [self._encoder.encode(self._padded(tile[band])) for band in range(self.count)]
        start = self._spools[level].append(encoded[0] if self.count == 1 else b"".join(encoded))
        for band, chunk in enumerate(encoded):
            target.offsets[row, col, band] = start
            target.sizes[row, col, band] = len(chunk)
            start += len(chunk)

    def _padded(self, tile: npt.NDArray[Any]) -> npt.NDArray[Any]:
        if tile.shape == (BLOCKSIZE, BLOCKSIZE):
            return tile
        full = np.full((BLOCKSIZE, BLOCKSIZE), self._fill, self.dtype)
        full[: tile.shape[0], : tile.shape[1]] = tile
        return full

    def _check_block(self, data: npt.ArrayLike, win: Window) -> npt.NDArray[Any]:
        block = np.asarray(data)
        if block.ndim == 2:
            block = block[np.newaxis]
        col, row = int(win.col_off), int(win.row_off)
        width, height = int(win.width), int(win.height)
        if block.shape != (self.count, height, width):
            raise InvalidInputError(
                f"block of shape {block.shape} does not fit window {win} "
                f"({self.count} band(s), {height} x {width})"
            )
        aligned = col % BLOCKSIZE == 0 and row % BLOCKSIZE == 0
        whole_w = width % BLOCKSIZE == 0 or col + width == self.width
        whole_h = height % BLOCKSIZE == 0 or row + height == self.height
        if col < 0 or row < 0 or col + width > self.width or row + height > self.height:
            raise InvalidInputError(f"window {win} is outside the output grid")
        if not (aligned and whole_w and whole_h):
            raise InvalidInputError(f"window {win} is not made of whole 512 x 512 tiles")
        if block.dtype != self.dtype:
            if not np.can_cast(block.dtype, self.dtype, "same_kind"):
                raise InvalidInputError(f"cannot write {block.dtype} data into {self.dtype}")
            block = block.astype(self.dtype)
        return block

    # -- finishing -----------------------------------------------------------------------

    def close(self) -> Path:
        """Write the COG at ``path`` from the spooled tiles, clean up, return ``path``."""
        with self._lock:
            if self._closed:
                return self.path
            self._closed = True
        try:
            for level, row, col, tile in self._pyramid.pop_incomplete():
                self._put(level, row, col, tile)
            self._assemble()
        finally:
            for spool in self._spools:
                spool.close()
        return self.path

    def abort(self) -> None:
        """Discard everything written; ``path`` is left untouched."""
        with self._lock:
            self._closed = True
        for spool in self._spools:
            spool.close()

    def _assemble(self) -> None:
        """Put the header, the IFDs and the overviews in front of the full-resolution tiles
        (already in the output's temporary file) and move the file into place."""
        full = self._spools[0]
        align = max(4096, os.fstat(full.fd).st_blksize)
        layout = _Layout(self, align)
        if _insert_range(full.fd, layout.prefix):
            target, fd = full, full.fd
        else:  # no in-place insert on this file system: copy into a new file
            target = _Spool(full.path.with_name(full.path.name + ".copy"), 0o666)
            fd = target.fd
            _copy(full.fd, 0, fd, layout.prefix, full.size)
        try:
            _pwrite_all(fd, layout.header_and_ifds(), 0)
            position = layout.data_start
            for level in reversed(range(1, len(self.levels))):
                spool = self._spools[level]
                _copy(spool.fd, 0, fd, position, spool.size)
                position += spool.size
            os.replace(target.path, self.path)
        finally:
            if target is not full:
                target.close()

    def ifd_tags(self, level: int) -> list[_Tag]:
        """The tags of ``level``'s IFD except tile offsets and byte counts."""
        lv = self.levels[level]
        spp = self.count
        bits = self.dtype.itemsize * 8
        tags = [
            _long_tag(254, [0 if level == 0 else 1]),
            _long_tag(256, [lv.width]),
            _long_tag(257, [lv.height]),
            _short_tag(258, [bits] * spp),
            _short_tag(259, [TIFF_COMPRESSION[self._compress]]),
            _short_tag(262, [1]),  # min-is-black
            _short_tag(277, [spp]),
            _short_tag(284, [1 if spp == 1 else 2]),  # separate band planes
            _short_tag(317, [self._predictor]),
            _short_tag(322, [BLOCKSIZE]),
            _short_tag(323, [BLOCKSIZE]),
            _short_tag(339, [_SAMPLE_FORMAT[self.dtype.kind]] * spp),
        ]
        if spp > 1:
            tags.append(_short_tag(338, [0] * (spp - 1)))  # unspecified extra samples
        wanted = _TEMPLATE_TAGS if level == 0 else _OVERVIEW_TEMPLATE_TAGS
        tags += [tag for code, tag in self._tags.items() if code in wanted]
        return sorted(tags, key=lambda t: t.code)

    def __enter__(self) -> StreamingCogWriter:
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


class _Layout:
    """Where everything goes in the final file: header, IFDs, then tile data."""

    def __init__(self, writer: StreamingCogWriter, align: int) -> None:
        self.writer = writer
        self.levels = writer.levels
        data_bytes = sum(int(lv.sizes.sum()) for lv in self.levels)
        self.big = False
        if self._ifd_area() + data_bytes + align > _CLASSIC_LIMIT:
            self.big = True
        self.data_start = self._ifd_area()
        # Tiles stay in the order they were spooled (the order blocks finished, nearly
        # row-major), so each level is one contiguous run; the smallest level comes first.
        # The full-resolution data starts on an ``align`` boundary, so that the prefix can be
        # inserted in front of it in place (see StreamingCogWriter._assemble).
        self.final: list[npt.NDArray[np.int64]] = [np.zeros(0, np.int64)] * len(self.levels)
        position = self.data_start
        for index in reversed(range(1, len(self.levels))):
            level = self.levels[index]
            self.final[index] = position + level.offsets
            position += int(level.sizes.sum())
        self.prefix = position + (-position) % align
        self.final[0] = self.prefix + self.levels[0].offsets

    @property
    def _header_size(self) -> int:
        return 16 if self.big else 8

    def _entry_size(self) -> int:
        return 20 if self.big else 12

    def _inline(self) -> int:
        return 8 if self.big else 4

    def _ifd_size(self, level: int) -> int:
        tags = self.writer.ifd_tags(level)
        entries = len(tags) + 2
        fixed = (8 if self.big else 2) + entries * self._entry_size() + (8 if self.big else 4)
        extra = sum(_even(len(t.payload)) for t in tags if len(t.payload) > self._inline())
        tiles = self.levels[level].offsets.size
        array = tiles * (8 if self.big else 4)
        extra += 2 * _even(array) if array > self._inline() else 0
        return fixed + extra

    def _ifd_area(self) -> int:
        return self._header_size + sum(self._ifd_size(i) for i in range(len(self.levels)))

    def _tile_arrays(self, level: int) -> tuple[_Tag, _Tag]:
        lv = self.levels[level]
        # TIFF order for separate planes: all tiles of band 1, then band 2, ...
        offsets = np.where(lv.sizes > 0, self.final[level], 0).transpose(2, 0, 1).reshape(-1)
        sizes = lv.sizes.transpose(2, 0, 1).reshape(-1)
        if self.big:
            kind, fmt = _LONG8, "<u8"
        else:
            kind, fmt = _LONG, "<u4"
        return (
            _Tag(324, kind, offsets.size, offsets.astype(fmt).tobytes()),
            _Tag(325, kind, sizes.size, sizes.astype(fmt).tobytes()),
        )

    def header_and_ifds(self) -> bytes:
        buf = bytearray()
        if self.big:
            buf += b"II" + struct.pack("<HHHQ", 43, 8, 0, self._header_size)
        else:
            buf += b"II" + struct.pack("<HI", 42, self._header_size)
        for level in range(len(self.levels)):
            last = level == len(self.levels) - 1
            start = len(buf)
            buf += self._ifd(level, start, last)
            if len(buf) - start != self._ifd_size(level):
                raise AssertionError("IFD size mismatch")  # pragma: no cover
        if len(buf) != self.data_start:
            raise AssertionError("IFD area size mismatch")  # pragma: no cover
        return bytes(buf)

    def _ifd(self, level: int, start: int, last: bool) -> bytes:
        tags = sorted(
            [*self.writer.ifd_tags(level), *self._tile_arrays(level)], key=lambda t: t.code
        )
        count_fmt, entry_fmt, next_fmt = ("<Q", "<HHQ", "<Q") if self.big else ("<H", "<HHI", "<I")
        head = struct.calcsize(count_fmt) + len(tags) * self._entry_size()
        values_at = start + head + struct.calcsize(next_fmt)
        entries, values = bytearray(struct.pack(count_fmt, len(tags))), bytearray()
        for tag in tags:
            entries += struct.pack(entry_fmt, tag.code, tag.type, tag.count)
            if len(tag.payload) <= self._inline():
                entries += tag.payload.ljust(self._inline(), b"\0")
            else:
                entries += struct.pack(next_fmt, values_at + len(values))
                values += tag.payload.ljust(_even(len(tag.payload)), b"\0")
        following = 0 if last else values_at + len(values)
        return bytes(entries + struct.pack(next_fmt, following) + values)


def _even(n: int) -> int:
    return n + (n & 1)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    written = 0
    while written < len(view):
        written += os.pwrite(fd, view[written:], offset + written)


def _insert_range(fd: int, length: int) -> bool:
    """Insert ``length`` zero bytes at the start of the file without moving data in user space
    (Linux ``fallocate(FALLOC_FL_INSERT_RANGE)``: ext4, XFS). False where unsupported."""
    if length == 0:
        return True
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fallocate = libc.fallocate
    except (OSError, AttributeError):
        return False
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    fallocate.restype = ctypes.c_int
    return bool(fallocate(fd, _FALLOC_FL_INSERT_RANGE, 0, length) == 0)


def _copy(src_fd: int, src_off: int, dst_fd: int, dst_off: int, length: int) -> None:
    """Copy ``length`` bytes between files, in the kernel when it can."""
    done = 0
    while done < length:
        done += _copy_chunk(src_fd, dst_fd, src_off + done, dst_off + done, length - done)


def _copy_chunk(src_fd: int, dst_fd: int, src_off: int, dst_off: int, length: int) -> int:
    if hasattr(os, "copy_file_range") and src_fd != dst_fd:
        try:
            n = os.copy_file_range(src_fd, dst_fd, length, src_off, dst_off)
            if n > 0:
                return n
        except OSError:
            pass
    chunk = os.pread(src_fd, min(length, 64 * 1024**2), src_off)
    if not chunk:
        raise InvalidInputError("spool file ended early")
    return os.pwrite(dst_fd, chunk, dst_off)


def _fill_value(dtype: np.dtype[Any], nodata: float | None) -> float:
    if nodata is not None:
        return nodata
    return math.nan if dtype.kind == "f" else 0.0


def _size(grid: Grid | None, size: tuple[int, int] | None) -> tuple[int, int]:
    if grid is not None:
        return grid.height, grid.width
    if size is None or min(size) < 1:
        raise InvalidInputError("give a grid, or the size of an image without georeferencing")
    return int(size[0]), int(size[1])


def _check(
    count: int,
    dtype: np.dtype[Any],
    band_names: Sequence[str | None] | None,
    resampling: str,
) -> None:
    if count < 1:
        raise InvalidInputError(f"a COG needs at least one band, got {count}")
    if dtype.kind not in _SAMPLE_FORMAT or dtype.itemsize > 8:
        raise InvalidInputError(f"unsupported data type {dtype}")
    if band_names is not None and len(band_names) != count:
        raise InvalidInputError(f"{len(band_names)} band names for {count} band(s)")
    if resampling not in ("average", "nearest"):
        raise InvalidInputError("overview resampling must be 'average' or 'nearest'")
