"""Otsu thresholding from a histogram that can be accumulated block by block and merged.

A raster too large for memory is thresholded in two passes: the first pass accumulates a
:class:`ValueRange` (minimum and maximum of the finite values), the second a
:class:`Histogram` over that range; partial results from blocks or workers are combined with
``merge``. :func:`otsu_threshold` then picks the threshold from the merged histogram.
:func:`otsu` does both passes on an array held in memory.

Convention: the threshold ``t`` separates the classes as ``value <= t`` (background) and
``value > t`` (foreground). ``t`` is the upper edge of the last bin of the background class,
so it is within one bin width of ``skimage.filters.threshold_otsu`` (which returns that bin's
centre) for the same number of bins.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from terrascan.core import _accel
from terrascan.core._arrays import ArrayLike, Float64Array, Int64Array, as_real
from terrascan.errors import InvalidInputError


def _finite_values(block: ArrayLike) -> Float64Array:
    """Return the finite values of ``block`` as a flat float64 array (NaN and +-inf dropped)."""
    values = as_real(block, "block").astype(np.float64, copy=False).reshape(-1)
    finite = np.isfinite(values)
    return values if bool(finite.all()) else values[finite]


@attrs.define
class ValueRange:
    """Running minimum and maximum of the finite values seen so far (first pass of Otsu)."""

    minimum: float = math.inf
    maximum: float = -math.inf
    count: int = 0

    @property
    def empty(self) -> bool:
        """True when no finite value has been seen."""
        return self.count == 0

    def update(self, block: ArrayLike) -> ValueRange:
        """Include the finite values of ``block``; NaN and infinities are ignored. Returns self."""
        values = _finite_values(block)
        if values.size:
            self.minimum = min(self.minimum, float(values.min()))
            self.maximum = max(self.maximum, float(values.max()))
            self.count += int(values.size)
        return self

    def merge(self, other: ValueRange) -> ValueRange:
        """Return a new range covering both ranges (for combining blocks or workers)."""
        return ValueRange(
            min(self.minimum, other.minimum), max(self.maximum, other.maximum),
            self.count + other.count,
        )  # fmt: skip


def _check_bins(_instance: object, _attribute: object, bins: int) -> None:
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise InvalidInputError(f"bins must be an integer >= 2, got {bins!r}")


def _default_counts(histogram: Histogram) -> Int64Array:
    return np.zeros(histogram.bins, dtype=np.int64)


@attrs.define(eq=False)
class Histogram:
    """Counts of finite values in ``bins`` equal bins over the fixed range [lower, upper].

    Bin ``i`` covers ``[edges[i], edges[i + 1])``, the last bin also includes ``upper`` (as in
    :func:`numpy.histogram`). Values outside the range are counted in the first or last bin;
    NaN and infinities are ignored.
    """

    lower: float = attrs.field(converter=float)
    upper: float = attrs.field(converter=float)
    bins: int = attrs.field(default=256, validator=_check_bins)
    counts: Int64Array = attrs.field(
        default=attrs.Factory(_default_counts, takes_self=True), eq=False
    )

    def __attrs_post_init__(self) -> None:
        if not (math.isfinite(self.lower) and math.isfinite(self.upper)):
            raise InvalidInputError("histogram range must be finite")
        if self.upper <= self.lower:
            raise InvalidInputError(
                f"histogram upper must exceed lower, got [{self.lower}, {self.upper}]"
            )
        if self.counts.shape != (self.bins,):
            raise InvalidInputError(f"counts must have shape ({self.bins},)")

    @classmethod
    def from_range(cls, value_range: ValueRange, bins: int = 256) -> Histogram:
        """Return an empty histogram over the range found by a first pass.

        A range holding a single value is widened to ``[value, value + 1]``.
        """
        if value_range.empty:
            raise InvalidInputError("cannot build a histogram: no finite values")
        lower, upper = value_range.minimum, value_range.maximum
        return cls(lower, upper if upper > lower else lower + 1.0, bins)

    @property
    def edges(self) -> Float64Array:
        """The ``bins + 1`` bin edges, as :func:`numpy.linspace` gives them."""
        return np.linspace(self.lower, self.upper, self.bins + 1)

    @property
    def centers(self) -> Float64Array:
        """The bin centres."""
        edges = self.edges
        return (edges[:-1] + edges[1:]) / 2

    @property
    def total(self) -> int:
        """Number of values counted."""
        return int(self.counts.sum())

    def bin_index(self, values: Float64Array) -> Int64Array:
        """Return the bin of each value (clipped to the range), exactly as numpy.histogram bins."""
        scaled = (values - self.lower) * (self.bins / (self.upper - self.lower))
        index = np.clip(np.floor(scaled), 0, self.bins - 1).astype(np.int64)
        edges = self.edges
        # Correct the float rounding of ``scaled`` against the exact edges, like numpy does.
        index -= (values < edges[index]) & (index > 0)
        index += (values >= edges[index + 1]) & (index < self.bins - 1)
        return index

    def update(self, block: ArrayLike) -> Histogram:
        """Count the finite values of ``block`` into this histogram. Returns self."""
        arr = as_real(block, "block")
        if _accel.use_numba("auto", arr.size, arr):
            from terrascan.core import _kernels

            scale = self.bins / (self.upper - self.lower)
            _kernels.histogram(arr.reshape(-1), self.lower, scale, self.edges, self.counts)
            return self
        values = _finite_values(arr)
        if values.size:
            self.counts += np.bincount(self.bin_index(values), minlength=self.bins)
        return self

    def merge(self, other: Histogram) -> Histogram:
        """Return a new histogram with the counts of both (same range and bins required)."""
        if (self.lower, self.upper, self.bins) != (other.lower, other.upper, other.bins):
            raise InvalidInputError(
                "cannot merge histograms with different ranges or bins: "
                f"[{self.lower}, {self.upper}]/{self.bins} vs "
                f"[{other.lower}, {other.upper}]/{other.bins}"
            )
        return Histogram(self.lower, self.upper, self.bins, self.counts + other.counts)


def otsu_threshold(histogram: Histogram) -> float:
    r"""Return the Otsu threshold of a histogram: the upper edge of the background's last bin.

    For each split :math:`k` into background (bins :math:`\le k`) and foreground, the
    between-class variance is :math:`\sigma_B^2(k) = w_0(k)\, w_1(k)\, (\mu_0(k) - \mu_1(k))^2`
    with class weights :math:`w` and mean bin centres :math:`\mu`; the first :math:`k` that
    maximises it is chosen. Otsu (1979), "A threshold selection method from gray-level
    histograms", IEEE Trans. Syst. Man Cybern. 9(1), 62-66.

    A histogram whose values all fall in one bin returns that bin's upper edge (nothing is
    foreground). An empty histogram raises :class:`InvalidInputError`.
    """
    counts = histogram.counts.astype(np.float64)
    if histogram.total == 0:
        raise InvalidInputError("cannot threshold an empty histogram")
    edges = histogram.edges
    nonzero = np.flatnonzero(counts)
    if nonzero.size == 1:
        return float(edges[nonzero[0] + 1])
    weighted = counts * histogram.centers
    w0 = np.cumsum(counts)[:-1]
    w1 = counts.sum() - w0
    s0 = np.cumsum(weighted)[:-1]
    s1 = weighted.sum() - s0
    valid = (w0 > 0) & (w1 > 0)
    between = np.full(w0.shape, -np.inf)
    mu0 = s0[valid] / w0[valid]
    mu1 = s1[valid] / w1[valid]
    between[valid] = w0[valid] * w1[valid] * (mu0 - mu1) ** 2
    return float(edges[int(np.argmax(between)) + 1])


def otsu(array: ArrayLike, bins: int = 256) -> float:
    """Return the Otsu threshold of the finite values of an in-memory array (two passes).

    Pass one finds the value range, pass two fills a :class:`Histogram` of ``bins`` bins over
    it; see :func:`otsu_threshold` (Otsu, 1979). If every finite value is the same, that value
    is returned. Raises :class:`InvalidInputError` when there is no finite value.
    """
    value_range = ValueRange().update(array)
    histogram = Histogram.from_range(value_range, bins)
    if value_range.minimum == value_range.maximum:
        return value_range.minimum
    return otsu_threshold(histogram.update(array))
