"""Summary statistics of a float raster, computed per block and merged.

Each block gives its count of finite values, minimum, maximum, mean and sum of squared
deviations from that mean (one pass over the block); blocks merge with
the pairwise update of Chan, Golub & LeVeque (1979), "Updating formulae and a pairwise
algorithm for computing sample variances", so the standard deviation stays accurate over a
whole scene.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numba
import numpy as np
import numpy.typing as npt


@numba.njit(nogil=True, cache=True)
def _moments(values: Any) -> tuple[int, float, float, float, float]:  # pragma: no cover
    """(count, min, max, mean, M2) of the finite values of a flat array, in one pass.

    Sums are shifted by the first finite value (Chan, Golub & LeVeque's shifted data), so the
    sum of squares does not cancel catastrophically even when the values are far from 0.
    """
    n = 0
    shift = 0.0
    total = 0.0
    squares = 0.0
    low = np.inf
    high = -np.inf
    for i in range(values.shape[0]):
        v = float(values[i])
        if v - v != 0.0:  # NaN or infinite
            continue
        if n == 0:
            shift = v
        d = v - shift
        n += 1
        total += d
        squares += d * d
        low = min(low, v)
        high = max(high, v)
    if n == 0:
        return 0, np.nan, np.nan, np.nan, 0.0
    mean = total / n
    return n, low, high, shift + mean, max(0.0, squares - total * mean)


@attrs.frozen
class RasterStatistics:
    """Count of valid (finite) pixels, of nodata pixels, minimum, maximum, mean and standard
    deviation (population) of one band."""

    valid_pixels: int = 0
    nodata_pixels: int = 0
    minimum: float = math.nan
    maximum: float = math.nan
    mean: float = math.nan
    m2: float = 0.0

    @classmethod
    def of(cls, block: npt.NDArray[Any]) -> RasterStatistics:
        values = np.ascontiguousarray(block).reshape(-1)
        n, low, high, mean, m2 = _moments(values)
        return cls(int(n), int(values.size - n), float(low), float(high), float(mean), float(m2))

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / self.valid_pixels) if self.valid_pixels else math.nan

    def merge(self, other: RasterStatistics) -> RasterStatistics:
        if other.valid_pixels == 0 or self.valid_pixels == 0:
            kept = self if other.valid_pixels == 0 else other
            return attrs.evolve(kept, nodata_pixels=self.nodata_pixels + other.nodata_pixels)
        n = self.valid_pixels + other.valid_pixels
        delta = other.mean - self.mean
        return RasterStatistics(
            n,
            self.nodata_pixels + other.nodata_pixels,
            min(self.minimum, other.minimum),
            max(self.maximum, other.maximum),
            self.mean + delta * other.valid_pixels / n,
            self.m2 + other.m2 + delta * delta * self.valid_pixels * other.valid_pixels / n,
        )

    def to_dict(self) -> dict[str, Any]:
        def clean(x: float) -> float | None:
            return None if math.isnan(x) else x

        return {
            "valid_pixels": self.valid_pixels,
            "nodata_pixels": self.nodata_pixels,
            "min": clean(self.minimum),
            "max": clean(self.maximum),
            "mean": clean(self.mean),
            "std": clean(self.std),
        }
