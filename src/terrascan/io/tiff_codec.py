"""Encoding TIFF tiles the way libtiff decodes them: predictors and compression.

Used by :mod:`terrascan.io.cog_stream`, which writes Cloud-Optimized GeoTIFFs without a GDAL
staging copy. Each tile is encoded independently (no shared state), so worker threads encode
in parallel: the predictors are numba kernels that release the GIL, and both ``zstandard`` and
``zlib`` release it while compressing.

- Predictor 2 (horizontal differencing, integers): ``out[r, c] = x[r, c] - x[r, c - 1]``
  wrapping in the sample type (TIFF 6.0 specification, section 14).
- Predictor 3 (floating point, Adobe Photoshop TIFF technical note 3): per row, the bytes of
  the samples are regrouped into planes, most significant byte first, and the row of bytes is
  differenced, ``b[i] - b[i - 1]`` modulo 256.
- Compression 50000 (ZSTD, as libtiff and GDAL number it) and 8 (Adobe DEFLATE, zlib stream).
"""

from __future__ import annotations

import functools
import threading
import zlib
from typing import Any, Literal, Protocol, TypeAlias

import numba
import numpy as np
import numpy.typing as npt

from terrascan.errors import InvalidInputError

__all__ = [
    "TIFF_COMPRESSION",
    "Codec",
    "TileEncoder",
    "codec_available",
    "predictor_for",
]

Codec: TypeAlias = Literal["zstd", "deflate"]

#: TIFF Compression tag values.
TIFF_COMPRESSION: dict[Codec, int] = {"zstd": 50000, "deflate": 8}
_DEFAULT_LEVEL: dict[Codec, int] = {"zstd": 1, "deflate": 6}


class _Compressor(Protocol):
    def compress(self, data: Any) -> bytes: ...


@functools.cache
def _zstandard() -> Any:
    try:
        import zstandard
    except ImportError:
        return None
    return zstandard


def codec_available(codec: Codec) -> bool:
    """True when this process can encode ``codec`` (ZSTD needs the ``zstandard`` package)."""
    return codec == "deflate" or _zstandard() is not None


def predictor_for(dtype: np.dtype[Any], enabled: bool) -> int:
    """TIFF predictor for ``dtype``: 3 for floats, 2 for integers, 1 when disabled."""
    if not enabled:
        return 1
    return 3 if dtype.kind == "f" else 2


@numba.njit(nogil=True, cache=True)
def _float_predictor(tile: Any, out: Any) -> None:  # pragma: no cover - compiled
    """Predictor 3 of a (rows, cols) tile viewed as unsigned words; ``out`` is (rows, bytes)."""
    rows, cols = tile.shape
    nbytes = out.shape[1] // cols
    for r in range(rows):
        prev = 0
        for k in range(nbytes):
            shift = 8 * (nbytes - 1 - k)
            base = k * cols
            for c in range(cols):
                cur = (tile[r, c] >> shift) & 0xFF
                out[r, base + c] = (cur - prev) & 0xFF
                prev = cur


@numba.njit(nogil=True, cache=True)
def _horizontal_predictor(tile: Any, out: Any) -> None:  # pragma: no cover - compiled
    """Predictor 2 of a (rows, cols) integer tile (wrapping differences along each row)."""
    rows, cols = tile.shape
    for r in range(rows):
        out[r, 0] = tile[r, 0]
        for c in range(1, cols):
            out[r, c] = tile[r, c] - tile[r, c - 1]


_WORD = {4: np.uint32, 8: np.uint64}


class TileEncoder:
    """Encodes one band of one tile (a full ``size x size`` array) into TIFF tile bytes."""

    def __init__(
        self,
        dtype: np.dtype[Any],
        codec: Codec = "zstd",
        level: int | None = None,
        predictor: int = 1,
        size: int = 512,
    ) -> None:
        if codec not in TIFF_COMPRESSION:
            raise InvalidInputError(f"compression must be one of {sorted(TIFF_COMPRESSION)}")
        if not codec_available(codec):
            raise InvalidInputError("ZSTD compression needs the 'zstandard' package")
        if predictor == 3 and dtype.itemsize not in _WORD:
            raise InvalidInputError(f"floating-point predictor is not supported for {dtype}")
        self.dtype = dtype
        self.codec: Codec = codec
        self.level = _DEFAULT_LEVEL[codec] if level is None else int(level)
        self.predictor = predictor
        self.size = size
        self._local = threading.local()

    def _compressor(self) -> _Compressor:
        compressor: _Compressor | None = getattr(self._local, "compressor", None)
        if compressor is None:
            if self.codec == "zstd":
                compressor = _zstandard().ZstdCompressor(level=self.level)
            else:
                compressor = _Zlib(self.level)
            self._local.compressor = compressor
        return compressor

    def encode(self, tile: npt.NDArray[Any]) -> bytes:
        """Return the compressed bytes of a (size, size) tile of this encoder's dtype."""
        data = np.ascontiguousarray(tile, dtype=self.dtype)
        if self.predictor == 2:
            diffed = np.empty_like(data)
            _horizontal_predictor(data, diffed)
            data = diffed
        elif self.predictor == 3:
            words = data.view(_WORD[self.dtype.itemsize])
            shuffled = np.empty((data.shape[0], data.shape[1] * self.dtype.itemsize), np.uint8)
            _float_predictor(words, shuffled)
            return self._compressor().compress(shuffled)
        return self._compressor().compress(data)


class _Zlib:
    def __init__(self, level: int) -> None:
        self.level = level

    def compress(self, data: Any) -> bytes:
        return zlib.compress(memoryview(data).cast("B"), self.level)
