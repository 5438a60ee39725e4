"""numba versions of the per-pixel index kernels (imported only when numba is available).

Each kernel works on flat (1-D) C-contiguous arrays, converts every input to float32 first and
evaluates the formula in the same order as the numpy path in :mod:`terrascan.core.indices`,
so both give bit-identical float32 results.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np


def _normalized_difference(a: Any, b: Any, out: Any) -> None:  # pragma: no cover - jitted
    nan = np.float32(np.nan)
    for i in numba.prange(out.shape[0]):
        x = np.float32(a[i])
        y = np.float32(b[i])
        s = x + y
        if s == 0:
            out[i] = nan
        else:
            out[i] = (x - y) / s


def _evi(nir: Any, red: Any, blue: Any, out: Any) -> None:  # pragma: no cover - jitted
    nan = np.float32(np.nan)
    gain = np.float32(2.5)
    c_red = np.float32(6.0)
    c_blue = np.float32(7.5)
    one = np.float32(1.0)
    for i in numba.prange(out.shape[0]):
        n = np.float32(nir[i])
        r = np.float32(red[i])
        b = np.float32(blue[i])
        den = n + c_red * r - c_blue * b + one
        if den == 0:
            out[i] = nan
        else:
            out[i] = gain * (n - r) / den


normalized_difference = numba.njit(parallel=True, nogil=True, cache=True)(_normalized_difference)
evi = numba.njit(parallel=True, nogil=True, cache=True)(_evi)


def _histogram(
    values: Any, lower: float, scale: float, edges: Any, counts: Any
) -> None:  # pragma: no cover - jitted
    """Count the finite ``values`` into ``counts``, binned exactly as Histogram.bin_index does
    (and numpy.histogram): float64 scaling, clipped, then corrected against the exact edges."""
    bins = counts.shape[0]
    for i in range(values.shape[0]):
        v = np.float64(values[i])
        if not np.isfinite(v):
            continue
        k = np.floor((v - lower) * scale)
        if k < 0:
            k = 0
        elif k > bins - 1:
            k = bins - 1
        j = np.int64(k)
        if j > 0 and v < edges[j]:
            j -= 1
        if j < bins - 1 and v >= edges[j + 1]:
            j += 1
        counts[j] += 1


# Serial on purpose: the engine's worker threads each fill their own histogram.
histogram = numba.njit(nogil=True, cache=True)(_histogram)


def _cva_magnitude(before: Any, after: Any, out: Any) -> None:  # pragma: no cover - jitted
    """sqrt(sum_k (after_k - before_k)^2) over tuples of flat float32 bands, in float32 and in
    the numpy path's order (differences squared and added band by band, then the root)."""
    for i in numba.prange(out.shape[0]):
        total = np.float32(0.0)
        for k in range(len(before)):
            d = after[k][i] - before[k][i]
            total = total + d * d
        out[i] = np.sqrt(total)


cva_magnitude = numba.njit(parallel=True, nogil=True, cache=True)(_cva_magnitude)
