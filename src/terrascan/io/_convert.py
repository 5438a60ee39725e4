"""DN to float32 in one pass (numba): the kernel behind :func:`terrascan.io.raster._to_float`.

``value = float32(DN) * float32(scale) + float32(offset)``, NaN where DN equals the nodata value
(or is NaN when nodata is NaN): the same float32 operations, in the same order, as the numpy
expression it replaces, so the results are identical; numpy needs five passes and three
temporary arrays for it.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

_KINDS = frozenset("uif")


@numba.njit(nogil=True, cache=True)
def _dn_to_float(
    raw: Any,
    out: Any,
    nodata: float,
    check: bool,
    nan_nodata: bool,
    scale: Any,
    offset: Any,
    use_scale: bool,
    use_offset: bool,
) -> None:  # pragma: no cover - compiled
    nan = np.float32(np.nan)
    for i in range(raw.shape[0]):
        dn = raw[i]
        value = np.float32(dn)
        if check and (
            (nan_nodata and value != value) or (not nan_nodata and np.float64(dn) == nodata)
        ):
            out[i] = nan
            continue
        if use_scale:
            value = value * scale
        if use_offset:
            value = value + offset
        out[i] = value


def dn_to_float(
    raw: npt.NDArray[Any], nodata: float | None, scale: float, offset: float
) -> npt.NDArray[np.float32] | None:
    """The float32 values of ``raw``, or None when the array is not one the kernel takes."""
    if raw.dtype.kind not in _KINDS or not raw.dtype.isnative or not raw.flags.c_contiguous:
        return None
    if raw.dtype.itemsize > 8 or raw.size < 4096:
        return None
    out = np.empty(raw.shape, np.float32)
    nan_nodata = nodata is not None and math.isnan(nodata)
    _dn_to_float(
        raw.reshape(-1), out.reshape(-1), 0.0 if nodata is None or nan_nodata else float(nodata),
        nodata is not None, nan_nodata, np.float32(scale), np.float32(offset),
        scale != 1.0, offset != 0.0,
    )  # fmt: skip
    return out
