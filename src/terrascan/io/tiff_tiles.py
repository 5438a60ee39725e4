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
def _undo_horizontal(tile: Any) -> None:  # pragma: no cover - compiled
    """Predictor 2, inverted in place: running sum along each row, wrapping in the type."""
    rows, cols = tile.shape
    for r in range(rows):
        for c in range(1, cols):
            tile[r, c] = tile[r, c] + tile[r, c - 1]


@numba.njit(nogil=True, cache=True)
def _undo_float(shuffled: Any, words: Any) -> None:  # pragma: no cover - compiled
    """Predictor 3, inverted: running byte sum along each row, then byte planes to words."""
    rows, cols = words.shape
    nbytes = shuffled.shape[1] // cols
    for r in range(rows):
        total = 0
        for i in range(shuffled.shape[1]):
            total = (total + shuffled[r, i]) & 0xFF
            shuffled[r, i] = total
        for c in range(cols):
            word = np.uint64(0)
            for k in range(nbytes):
                word = (word << np.uint64(8)) | np.uint64(shuffled[r, k * cols + c])
            words[r, c] = word


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

    def tile(self, row: int, col: int) -> npt.NDArray[Any]:
        """The decoded (tile_h, tile_w) tile at tile row ``row`` and column ``col``."""
        index = row * self.across + col
        offset, count = self.offsets[index], self.counts[index]
        shape = (self.tile_h, self.tile_w)
        if count == 0:
            return np.full(shape, self.fill, self.dtype)
        size = self.tile_h * self.tile_w * self.dtype.itemsize
        raw = self._decompress(os.pread(self._fd, count, offset), size)
        if len(raw) < size:
            raise ValueError(f"tile {row},{col} decodes to {len(raw)} bytes, expected {size}")
        if self.predictor == 3:
            shuffled = np.frombuffer(raw, np.uint8, size).reshape(self.tile_h, -1).copy()
            words = np.empty(shape, _WORDS[self.dtype.itemsize])
            _undo_float(shuffled, words)
            return words.view(self.dtype)
        tile = np.frombuffer(raw, self.dtype, self.tile_h * self.tile_w).reshape(shape)
        if self.predictor == 2:
            tile = tile.copy()
            _undo_horizontal(tile)
        return tile

    def read(self, window: Window) -> npt.NDArray[Any]:
        """The pixels of ``window`` (inside the image), as GDAL's ``read`` returns them."""
        col0, row0 = int(window.col_off), int(window.row_off)
        width, height = int(window.width), int(window.height)
        out = np.empty((height, width), self.dtype.newbyteorder("="))
        for trow in range(row0 // self.tile_h, (row0 + height - 1) // self.tile_h + 1):
            for tcol in range(col0 // self.tile_w, (col0 + width - 1) // self.tile_w + 1):
                tile = self.tile(trow, tcol)
                top, left = trow * self.tile_h, tcol * self.tile_w
                r0, r1 = max(row0, top), min(row0 + height, top + self.tile_h)
                c0, c1 = max(col0, left), min(col0 + width, left + self.tile_w)
                out[r0 - row0 : r1 - row0, c0 - col0 : c1 - col0] = tile[
                    r0 - top : r1 - top, c0 - left : c1 - left
                ]
        return out

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()


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
