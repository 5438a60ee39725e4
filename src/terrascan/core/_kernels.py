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


normalized_difference = numba.njit(parallel=True, nogil=True)(_normalized_difference)
evi = numba.njit(parallel=True, nogil=True)(_evi)
