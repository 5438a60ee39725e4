"""Dark-object subtraction (DOS) for top-of-atmosphere reflectance.

The path radiance (haze) added by the atmosphere is estimated per band as the value of the
darkest objects in the scene, which should be near zero, and subtracted (Chavez 1988). The
dark-object value is the lowest value whose cumulative count reaches a small number of pixels,
so that a few noisy or defective pixels do not set it: :func:`dark_object_value` finds it
exactly in memory, :func:`dark_object_value_from_histogram` from a block-wise
:class:`~terrascan.core.threshold.Histogram` for rasters that do not fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import numpy as np

from terrascan.core._arrays import (
    ArrayLike,
    Float32Array,
    as_float32,
    as_real,
    band_list,
    output,
)
from terrascan.core.threshold import Histogram
from terrascan.errors import InvalidInputError

#: Default share of valid pixels that must lie at or below the dark-object value (0.01 %).
DEFAULT_DARK_FRACTION = 1e-4


def _dark_rank(valid: int, fraction: float, count: int | None) -> int:
    """Return k, the cumulative count the dark-object value must reach (1-based rank)."""
    if valid == 0:
        raise InvalidInputError("cannot find a dark object: the band has no valid pixel")
    if count is not None:
        if count < 1:
            raise InvalidInputError(f"count must be >= 1, got {count}")
        k = count
    else:
        if not 0 <= fraction < 1:
            raise InvalidInputError(f"fraction must lie in [0, 1), got {fraction}")
        k = max(1, math.ceil(fraction * valid))
    if k > valid:
        raise InvalidInputError(f"count {k} exceeds the {valid} valid pixels of the band")
    return k


def dark_object_value(
    band: ArrayLike, *, fraction: float = DEFAULT_DARK_FRACTION, count: int | None = None
) -> float:
    r"""Return the dark-object value of a band: its k-th smallest finite value.

    :math:`k = count` if given, else :math:`\max(1, \lceil fraction \cdot n \rceil)` with
    :math:`n` valid (finite) pixels: the lowest value whose cumulative histogram count reaches
    :math:`k`. Chavez (1988), "An improved dark-object subtraction technique for atmospheric
    scattering correction of multispectral data", Remote Sens. Environ. 24(3), 459-479.
    """
    values = as_real(band, "band").astype(np.float64, copy=False).reshape(-1)
    values = values[np.isfinite(values)]
    k = _dark_rank(values.size, fraction, count)
    return float(np.partition(values, k - 1)[k - 1])


def dark_object_value_from_histogram(
    histogram: Histogram, *, fraction: float = DEFAULT_DARK_FRACTION, count: int | None = None
) -> float:
    """Return the lower edge of the first bin whose cumulative count reaches k (block-wise DOS).

    Same rank k as :func:`dark_object_value`; the result is at most one bin width below the
    exact value, so the haze is never over-estimated. Chavez (1988), Remote Sens. Environ. 24.
    """
    k = _dark_rank(histogram.total, fraction, count)
    first = int(np.searchsorted(np.cumsum(histogram.counts), k))
    return float(histogram.edges[first])


def subtract_dark_object(
    band: ArrayLike, dark_value: float, out: Float32Array | None = None
) -> Float32Array:
    r"""Return :math:`\max(band - dark, 0)` as float32; NaN stays NaN.

    Dark-object subtraction, Chavez (1988), Remote Sens. Environ. 24(3), 459-479.
    """
    values = as_float32(band, "band")
    dark = float(dark_value)
    if not math.isfinite(dark):
        raise InvalidInputError(f"dark_value must be finite, got {dark_value!r}")
    result: Float32Array = output(out, values.shape, np.float32)
    np.subtract(values, np.float32(dark), out=result)
    return np.maximum(result, np.float32(0.0), out=result)


@attrs.frozen(eq=False)
class DarkObjectResult:
    """Corrected bands (band, row, col) float32 and the dark-object value found per band."""

    corrected: Float32Array
    dark_values: tuple[float, ...]


def dark_object_subtraction(
    bands: Sequence[ArrayLike] | ArrayLike,
    *,
    fraction: float = DEFAULT_DARK_FRACTION,
    count: int | None = None,
) -> DarkObjectResult:
    """Apply dark-object subtraction to every band of a (band, row, col) stack in memory.

    Per band: :func:`dark_object_value` then :func:`subtract_dark_object` (Chavez, 1988).
    """
    layers = band_list(bands, "bands")
    corrected = np.empty((len(layers), *layers[0].shape), dtype=np.float32)
    darks = []
    for i, layer in enumerate(layers):
        dark = dark_object_value(layer, fraction=fraction, count=count)
        subtract_dark_object(layer, dark, out=corrected[i])
        darks.append(dark)
    return DarkObjectResult(corrected, tuple(darks))
