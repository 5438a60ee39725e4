"""Tiles of a local tiled GeoTIFF band decoded without GDAL, for the engine's block reads.

Reading a whole scene block by block, GDAL spends its time per tile on work the engine does not
need: the block cache, a copy into it and another out of it. For the layouts TerraScan writes
and Earth Search serves (little-endian, tiled, one band per plane, ZSTD or DEFLATE or none,
predictor 1, 2 or 3), this module reads a tile's bytes with ``os.pread``, decompresses them
(``zstandard`` / ``zlib``, both release the GIL) and undoes the predictor in a numba kernel;
the result is the array GDAL's ``read`` returns, bit for bit. :meth:`TiffTiles.open` returns
``None`` for anything else (remote files, JPEG, pixel-interleaved bands, big-endian, ...), and
the caller reads through GDAL as before.

The predictors are those of :mod:`terrascan.io.tiff_codec`, inverted: predictor 2 is a running
sum along each row in the sample type (TIFF 6.0, section 14); predictor 3 is a running byte sum
along the row, then the byte planes (most significant first) put back into words (Adobe TIFF
technical note 3).
"""

from __future__ import annotations

import math
import os
import struct
import threading
import weakref
import zlib
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
from rasterio.windows import Window

__all__ = ["TiffTiles"]

_COMPRESSION = {1: "none", 8: "deflate", 32946: "deflate", 50000: "zstd"}
_TYPES = {3: ("H", 2), 4: ("I", 4), 16: ("Q", 8)}
_DTYPES = {(1, 8): "u1", (1, 16): "u2", (1, 32): "u4", (1, 64): "u8",
           (2, 8): "i1", (2, 16): "i2", (2, 32): "i4", (2, 64): "i8",
           (3, 32): "f4", (3, 64): "f8"}  # fmt: skip
_WORDS = {4: np.uint32, 8: np.uint64}
_WANTED = (256, 257, 258, 259, 277, 284, 317, 322, 323, 324, 325, 339)


@numba.njit(nogil=True, cache=True)
def _undo_horizontal(src: Any, dst: Any) -> None:  # pragma: no cover - compiled
    """Predictor 2, inverted: ``dst`` is the running sum of ``src`` along each row, wrapping
    in the sample type."""
    rows, cols = dst.shape
    for r in range(rows):
        total = src[r, 0]
        dst[r, 0] = total
        for c in range(1, cols):
            total = total + src[r, c]
            dst[r, c] = total


@numba.njit(nogil=True, cache=True)
def _undo_float(src: Any, dst: Any) -> None:  # pragma: no cover - compiled
    """Predictor 3, inverted: running byte sum of each row of ``src`` (rows of bytes), then the
    byte planes (most significant first) put back into the words of ``dst``."""
    rows, cols = dst.shape
    nbytes = src.shape[1] // cols
    row = np.empty(src.shape[1], np.uint8)
    for r in range(rows):
        total = 0
        for i in range(src.shape[1]):
            total = (total + src[r, i]) & 0xFF
            row[i] = total
        for c in range(cols):
            word = np.uint64(0)
            for k in range(nbytes):
                word = (word << np.uint64(8)) | np.uint64(row[k * cols + c])
            dst[r, c] = word


@numba.njit(nogil=True, cache=True)
def _to_float(
    src: Any,
    dst: Any,
    nodata: float,
    check: bool,
    nan_nodata: bool,
    scale: Any,
    offset: Any,
    use_scale: bool,
    use_offset: bool,
    predicted: bool,
    row: Any,
) -> None:  # pragma: no cover - compiled
    """DN -> float32 (``float32(DN) * scale + offset``, NaN for nodata) of a (rows, cols)
    tile into ``dst``, undoing predictor 2 on the way when ``predicted`` (the running sum is
    stored into ``row``, of the sample type, which wraps it as the predictor requires)."""
    rows, cols = dst.shape
    nan = np.float32(np.nan)
    for r in range(rows):
        if predicted:
            total = src[r, 0]
            row[0] = total
            for c in range(1, cols):
                total = total + src[r, c]
                row[c] = total
        else:
            for c in range(cols):
                row[c] = src[r, c]
        for c in range(cols):
            dn = row[c]
            value = np.float32(dn)
            if check and (
                (nan_nodata and value != value) or (not nan_nodata and np.float64(dn) == nodata)
            ):
                dst[r, c] = nan
                continue
            if use_scale:
                value = value * scale
            if use_offset:
                value = value + offset
            dst[r, c] = value


def _zstandard() -> Any:
    try:
        import zstandard
    except ImportError:  # pragma: no cover - an optional speed-up
        return None
    return zstandard


def _read_tags(fd: int) -> dict[int, tuple[int, ...]] | None:
    """The first IFD's tags this reader needs, or None if the file is not a little-endian
    (Big)TIFF."""
    head = os.pread(fd, 16, 0)
    if len(head) < 8 or head[:2] != b"II":
        return None
    (version,) = struct.unpack_from("<H", head, 2)
    if version == 42:
        (offset,) = struct.unpack_from("<I", head, 4)
        count_fmt, entry_fmt, entry_size, inline = "<H", "<HHI", 12, 4
    elif version == 43 and len(head) == 16:
        (offset,) = struct.unpack_from("<Q", head, 8)
        count_fmt, entry_fmt, entry_size, inline = "<Q", "<HHQ", 20, 8
    else:
        return None
    count_size = struct.calcsize(count_fmt)
    (count,) = struct.unpack(count_fmt, os.pread(fd, count_size, offset))
    if not 0 < count < 4096:
        return None
    entries = os.pread(fd, count * entry_size, offset + count_size)
    tags: dict[int, tuple[int, ...]] = {}
    for i in range(count):
        code, kind, n = struct.unpack_from(entry_fmt, entries, i * entry_size)
        if code not in _WANTED or kind not in _TYPES:
            continue
        letter, size = _TYPES[kind]
        value_at = i * entry_size + struct.calcsize(entry_fmt)
        if n * size <= inline:
            raw = entries[value_at : value_at + n * size]
        else:
            (pointer,) = struct.unpack_from("<I" if inline == 4 else "<Q", entries, value_at)
            raw = os.pread(fd, n * size, pointer)
        if len(raw) != n * size:
            return None
        tags[code] = struct.unpack(f"<{n}{letter}", raw)
    return tags


class TiffTiles:
    """One band of a local tiled TIFF, decoded tile by tile without GDAL."""

    def __init__(
        self,
        fd: int,
        tags: dict[int, tuple[int, ...]],
        band: int,
        fill: float,
    ) -> None:
        self._fd = fd
        self.width, self.height = tags[256][0], tags[257][0]
        self.tile_w, self.tile_h = tags[322][0], tags[323][0]
        bits = tags[258][0]
        self.dtype = np.dtype(_DTYPES[(tags.get(339, (1,))[0], bits)]).newbyteorder("<")
        self.compression = _COMPRESSION[tags.get(259, (1,))[0]]
        self.predictor = tags.get(317, (1,))[0]
        across = math.ceil(self.width / self.tile_w)
        down = math.ceil(self.height / self.tile_h)
        first = (band - 1) * across * down
        self.offsets = tags[324][first : first + across * down]
        self.counts = tags[325][first : first + across * down]
        self.across = across
        self.fill = fill
        self._local = threading.local()
        self._finalizer = weakref.finalize(self, os.close, fd)

    @classmethod
    def open(cls, path: str, band: int, nodata: float | None) -> TiffTiles | None:
        """The decoder of ``band`` (1-based) of the TIFF at ``path``, or None when this module
        cannot decode it exactly as GDAL does (the caller then reads through GDAL)."""
        if path.startswith("/vsi") or not os.path.isfile(path):
            return None
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            tags = _read_tags(fd)
            if tags is None or not _supported(tags, band):
                os.close(fd)
                return None
            fill = 0.0 if nodata is None else nodata
            return cls(fd, tags, band, fill)
        except Exception:
            os.close(fd)
            return None

    def _decompress(self, data: bytes, size: int) -> bytes:
        if self.compression == "none":
            return data
        if self.compression == "deflate":
            return zlib.decompress(data)
        decompressor = getattr(self._local, "zstd", None)
        if decompressor is None:
            decompressor = self._local.zstd = _zstandard().ZstdDecompressor()
        return bytes(decompressor.decompress(data, max_output_size=size))

    def _bytes(self, row: int, col: int) -> bytes | None:
        """The decompressed bytes of tile (``row``, ``col``); None for a sparse tile."""
        index = row * self.across + col
        offset, count = self.offsets[index], self.counts[index]
        if count == 0:
            return None
        size = self.tile_h * self.tile_w * self.dtype.itemsize
        raw = self._decompress(os.pread(self._fd, count, offset), size)
        if len(raw) < size:
            raise ValueError(f"tile {row},{col} decodes to {len(raw)} bytes, expected {size}")
        return raw

    def _decode(self, row: int, col: int, dst: npt.NDArray[Any]) -> None:
        """Decode tile (``row``, ``col``) into ``dst``, a (tile_h, tile_w) array or view."""
        raw = self._bytes(row, col)
        if raw is None:  # a sparse tile: GDAL reads nodata (or 0)
            dst[...] = self.fill
            return
        size = self.tile_h * self.tile_w * self.dtype.itemsize
        if self.predictor == 3:
            shuffled = np.frombuffer(raw, np.uint8, size).reshape(self.tile_h, -1)
            _undo_float(shuffled, dst.view(_WORDS[self.dtype.itemsize]))
            return
        tile = np.frombuffer(raw, self.dtype, self.tile_h * self.tile_w)
        tile = tile.reshape(self.tile_h, self.tile_w)
        if self.predictor == 2:
            _undo_horizontal(tile, dst)
        else:
            dst[...] = tile

    def read(self, window: Window) -> npt.NDArray[Any]:
        """The pixels of ``window`` (inside the image), as GDAL's ``read`` returns them."""
        col0, row0 = int(window.col_off), int(window.row_off)
        width, height = int(window.width), int(window.height)
        out = np.empty((height, width), self.dtype)
        whole = None
        for trow in range(row0 // self.tile_h, (row0 + height - 1) // self.tile_h + 1):
            for tcol in range(col0 // self.tile_w, (col0 + width - 1) // self.tile_w + 1):
                top, left = trow * self.tile_h, tcol * self.tile_w
                r0, r1 = max(row0, top), min(row0 + height, top + self.tile_h)
                c0, c1 = max(col0, left), min(col0 + width, left + self.tile_w)
                target = out[r0 - row0 : r1 - row0, c0 - col0 : c1 - col0]
                if target.shape == (self.tile_h, self.tile_w):
                    self._decode(trow, tcol, target)  # straight into the output
                    continue
                if whole is None:
                    whole = np.empty((self.tile_h, self.tile_w), self.dtype)
                self._decode(trow, tcol, whole)
                target[...] = whole[r0 - top : r1 - top, c0 - left : c1 - left]
        return out

    def read_float(
        self, window: Window, nodata: float | None, scale: float, offset: float
    ) -> npt.NDArray[np.float32]:
        """``read(window)`` converted to float32 as ``value = DN * scale + offset`` with NaN
        where DN equals ``nodata``, the predictor undone in the same pass (integer bands)."""
        if self.predictor == 3 or self.dtype.kind == "f":
            return _float_values(self.read(window), nodata, scale, offset)
        col0, row0 = int(window.col_off), int(window.row_off)
        width, height = int(window.width), int(window.height)
        out = np.empty((height, width), np.float32)
        nan_nodata = nodata is not None and math.isnan(nodata)
        value = 0.0 if nodata is None or nan_nodata else float(nodata)
        settings = (value, nodata is not None, nan_nodata, np.float32(scale), np.float32(offset),
                    scale != 1.0, offset != 0.0, self.predictor == 2)  # fmt: skip
        row_buffer = np.empty(self.tile_w, self.dtype)
        whole = None
        for trow in range(row0 // self.tile_h, (row0 + height - 1) // self.tile_h + 1):
            for tcol in range(col0 // self.tile_w, (col0 + width - 1) // self.tile_w + 1):
                top, left = trow * self.tile_h, tcol * self.tile_w
                r0, r1 = max(row0, top), min(row0 + height, top + self.tile_h)
                c0, c1 = max(col0, left), min(col0 + width, left + self.tile_w)
                target = out[r0 - row0 : r1 - row0, c0 - col0 : c1 - col0]
                raw = self._bytes(trow, tcol)
                if raw is None:
                    tile = np.full((self.tile_h, self.tile_w), self.fill, self.dtype)
                    predicted = (*settings[:-1], False)
                else:
                    tile = np.frombuffer(raw, self.dtype, self.tile_h * self.tile_w)
                    tile = tile.reshape(self.tile_h, self.tile_w)
                    predicted = settings
                if target.shape == tile.shape:
                    _to_float(tile, target, *predicted, row_buffer)
                    continue
                if whole is None:
                    whole = np.empty((self.tile_h, self.tile_w), np.float32)
                _to_float(tile, whole, *predicted, row_buffer)
                target[...] = whole[r0 - top : r1 - top, c0 - left : c1 - left]
        return out

    def close(self) -> None:
        self._finalizer()


def _float_values(
    raw: npt.NDArray[Any], nodata: float | None, scale: float, offset: float
) -> npt.NDArray[np.float32]:
    """The numpy form of the conversion (float bands): ``float32(DN) * scale + offset``."""
    out = raw.astype(np.float32)
    invalid = None
    if nodata is not None:
        invalid = np.isnan(out) if math.isnan(nodata) else raw == nodata
    if scale != 1.0:
        out *= np.float32(scale)
    if offset != 0.0:
        out += np.float32(offset)
    if invalid is not None:
        out[invalid] = np.nan
    return out


def _supported(tags: dict[int, tuple[int, ...]], band: int) -> bool:
    needed = (256, 257, 258, 322, 323, 324, 325)
    if any(code not in tags for code in needed):
        return False  # strips, or something unusual
    spp = tags.get(277, (1,))[0]
    planar = tags.get(284, (1,))[0]
    bits = set(tags[258])
    formats = set(tags.get(339, (1,)))
    compression = tags.get(259, (1,))[0]
    predictor = tags.get(317, (1,))[0]
    if not 1 <= band <= spp or (spp > 1 and planar != 2):
        return False
    if len(bits) != 1 or len(formats) != 1 or (formats.pop(), bits.pop()) not in _DTYPES:
        return False
    if compression not in _COMPRESSION or (_COMPRESSION[compression] == "zstd"
                                           and _zstandard() is None):  # fmt: skip
        return False
    dtype = np.dtype(_DTYPES[(tags.get(339, (1,))[0], tags[258][0])])
    if predictor not in (1, 2, 3) or (predictor != 1 and (predictor == 3) != (dtype.kind == "f")):
        return False
    tiles = math.ceil(tags[256][0] / tags[322][0]) * math.ceil(tags[257][0] / tags[323][0])
    return len(tags[324]) == len(tags[325]) == tiles * (spp if planar == 2 else 1)
