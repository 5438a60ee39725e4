"""Change detection: index differencing, change vector analysis, post-classification comparison.

Each method has per-block parts that the engine calls block by block, and a whole-array
convenience function that returns a :class:`ChangeResult`:

============  =====================================  ==========================================
method        per-block parts                        whole array
============  =====================================  ==========================================
``diff``      :func:`index_difference`,              :func:`difference_change`
              :func:`change_mask` (``absolute``)
``cva``       :func:`cva_magnitude`,                 :func:`cva_change`
              :func:`cva_direction`, :func:`change_mask`
``postclass`` :func:`postclass_mask`,                :func:`postclass_change`
              :meth:`TransitionMatrix.from_arrays`
============  =====================================  ==========================================

Change masks are uint8: 0 no change, 1 change, 255 nodata (an input was NaN, or a class raster
held its nodata value). :class:`ChangeSummary` and :class:`TransitionMatrix` are computed per
block and combined with ``merge``. A global Otsu threshold over blocks is the two-pass pattern
of :mod:`terrascan.core.threshold` applied to ``abs(index_difference(...))`` or to the CVA
magnitude.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any, Literal, TypeAlias

import attrs
import numpy as np

from terrascan.core import _accel
from terrascan.core._arrays import (
    AnyArray,
    ArrayLike,
    Float32Array,
    Int64Array,
    UInt8Array,
    as_float32,
    as_integer,
    band_list,
    check_pixel_area,
    output,
    same_shape,
)
from terrascan.core.threshold import otsu
from terrascan.errors import InvalidInputError

ChangeMethod: TypeAlias = Literal["diff", "cva", "postclass"]
Threshold: TypeAlias = float | Literal["otsu"]

NO_CHANGE = 0
CHANGE = 1
MASK_NODATA = 255


def index_difference(
    before: ArrayLike, after: ArrayLike, out: Float32Array | None = None
) -> Float32Array:
    r"""Return the index difference :math:`d = after - before` as float32 (NaN propagates).

    Image differencing, Singh (1989), "Digital change detection techniques using remotely-sensed
    data", Int. J. Remote Sens. 10(6), 989-1003; the change is thresholded on :math:`|d|`.
    """
    a, b = as_float32(before, "before"), as_float32(after, "after")
    same_shape("before", a, "after", b)
    result: Float32Array = output(out, a.shape, np.float32)
    return np.subtract(b, a, out=result)


def _band_pairs(
    before: Sequence[ArrayLike] | ArrayLike, after: Sequence[ArrayLike] | ArrayLike
) -> list[tuple[AnyArray, AnyArray]]:
    b, a = band_list(before, "before"), band_list(after, "after")
    if len(b) != len(a):
        raise InvalidInputError(f"before has {len(b)} bands but after has {len(a)}")
    same_shape("before bands", b[0], "after bands", a[0])
    return list(zip(b, a, strict=True))


def cva_magnitude(
    before: Sequence[ArrayLike] | ArrayLike,
    after: Sequence[ArrayLike] | ArrayLike,
    out: Float32Array | None = None,
) -> Float32Array:
    r"""Return the change-vector magnitude :math:`\sqrt{\sum_k (after_k - before_k)^2}`, float32.

    ``before`` and ``after`` are (band, row, col) arrays or sequences of 2-D bands, in the same
    band order. NaN in any band gives NaN. Malila (1980), "Change vector analysis: an approach
    for detecting forest changes with Landsat", LARS Symposia, paper 385; Johnson & Kasischke
    (1998), Int. J. Remote Sens. 19(3), 411-426.
    """
    pairs = _band_pairs(before, after)
    result: Float32Array = output(out, pairs[0][0].shape, np.float32)
    flat = [x for pair in pairs for x in pair]
    if all(x.dtype == np.float32 for x in flat) and _accel.use_numba(
        "auto", result.size, *flat, result
    ):
        from terrascan.core import _kernels

        befores = tuple(b.reshape(-1) for b, _ in pairs)
        afters = tuple(a.reshape(-1) for _, a in pairs)
        _accel.call_parallel(_kernels.cva_magnitude, befores, afters, result.reshape(-1))
        return result
    result[...] = 0
    diff = np.empty(result.shape, dtype=np.float32)
    for b, a in pairs:
        np.subtract(as_float32(a, "after"), as_float32(b, "before"), out=diff)
        np.multiply(diff, diff, out=diff)
        result += diff
    return np.sqrt(result, out=result)


def cva_direction(
    before: Sequence[ArrayLike] | ArrayLike,
    after: Sequence[ArrayLike] | ArrayLike,
    out: Float32Array | None = None,
) -> Float32Array:
    r"""Return the direction of a two-band change vector in degrees, in [0, 360), as float32.

    :math:`\theta = \operatorname{atan2}(\Delta_2, \Delta_1)` measured from the first band's
    axis towards the second (:math:`\Delta_k = after_k - before_k`); 0 where there is no change,
    NaN where an input is NaN. Only defined for exactly two bands. Malila (1980); Johnson &
    Kasischke (1998), Int. J. Remote Sens. 19(3), 411-426.
    """
    pairs = _band_pairs(before, after)
    if len(pairs) != 2:
        raise InvalidInputError(f"CVA direction needs exactly 2 bands, got {len(pairs)}")
    (b1, a1), (b2, a2) = pairs
    d1 = as_float32(a1, "after") - as_float32(b1, "before")
    d2 = as_float32(a2, "after") - as_float32(b2, "before")
    result: Float32Array = output(out, d1.shape, np.float32)
    np.degrees(np.arctan2(d2, d1), out=result)
    result[result < 0] += np.float32(360.0)
    result[result >= 360] = 0  # -tiny + 360 rounds to 360
    return result


def change_mask(
    score: ArrayLike,
    threshold: float,
    out: UInt8Array | None = None,
    *,
    absolute: bool = False,
) -> UInt8Array:
    r"""Return a uint8 change mask: 1 where :math:`s > t`, 0 where :math:`s \le t`, 255 where NaN.

    ``s`` is the score (CVA magnitude), or :math:`|score|` with ``absolute=True`` (index
    differencing). Thresholding of a difference image: Singh (1989), Int. J. Remote Sens. 10(6).
    """
    s = as_float32(score, "score")
    t = float(threshold)
    if not np.isfinite(t):
        raise InvalidInputError(f"threshold must be a finite number, got {threshold!r}")
    result: UInt8Array = output(out, s.shape, np.uint8)
    np.greater(np.abs(s) if absolute else s, t, out=result, casting="unsafe")
    result[np.isnan(s)] = MASK_NODATA
    return result


def postclass_mask(
    before: ArrayLike,
    after: ArrayLike,
    out: UInt8Array | None = None,
    *,
    nodata: int | None = None,
) -> UInt8Array:
    """Return the post-classification change mask: 1 where the class differs, 0 where equal,
    255 where either raster holds ``nodata``.

    Post-classification comparison: Singh (1989), Int. J. Remote Sens. 10(6), 989-1003.
    """
    b, a = as_integer(before, "before"), as_integer(after, "after")
    same_shape("before", b, "after", a)
    result: UInt8Array = output(out, b.shape, np.uint8)
    np.not_equal(b, a, out=result, casting="unsafe")
    if nodata is not None:
        result[(b == nodata) | (a == nodata)] = MASK_NODATA
    return result


@attrs.frozen
class ChangeSummary:
    """Counts of a change mask: threshold used, changed and valid pixels, area if known.

    ``threshold`` is None for post-classification. ``changed_fraction`` is None when there is no
    valid pixel; ``changed_area_m2`` is None unless ``pixel_area_m2`` is given.
    """

    method: ChangeMethod
    threshold: float | None
    changed_pixels: int
    valid_pixels: int
    pixel_area_m2: float | None = attrs.field(default=None, converter=check_pixel_area)

    @classmethod
    def from_mask(
        cls,
        mask: ArrayLike,
        method: ChangeMethod,
        threshold: float | None = None,
        pixel_area_m2: float | None = None,
    ) -> ChangeSummary:
        """Count a uint8 change mask (0/1/255) of one block or of a whole raster."""
        m = np.asarray(mask)
        if m.dtype != np.uint8:
            raise InvalidInputError(f"change mask must be uint8, got {m.dtype}")
        changed = int(np.count_nonzero(m == CHANGE))
        valid = changed + int(np.count_nonzero(m == NO_CHANGE))
        if valid + int(np.count_nonzero(m == MASK_NODATA)) != m.size:
            raise InvalidInputError("change mask may only hold 0, 1 and 255")
        return cls(method, threshold, changed, valid, pixel_area_m2)

    @property
    def unchanged_pixels(self) -> int:
        """Valid pixels that did not change."""
        return self.valid_pixels - self.changed_pixels

    @property
    def changed_fraction(self) -> float | None:
        """``changed_pixels / valid_pixels``, or None when there is no valid pixel."""
        return self.changed_pixels / self.valid_pixels if self.valid_pixels else None

    @property
    def changed_area_m2(self) -> float | None:
        """``changed_pixels * pixel_area_m2``, or None when the pixel area is unknown."""
        if self.pixel_area_m2 is None:
            return None
        return self.changed_pixels * self.pixel_area_m2

    def merge(self, other: ChangeSummary) -> ChangeSummary:
        """Return the summary of two disjoint blocks (same method, threshold and pixel area)."""
        mine = (self.method, self.threshold, self.pixel_area_m2)
        theirs = (other.method, other.threshold, other.pixel_area_m2)
        if mine != theirs:
            raise InvalidInputError(f"cannot merge change summaries {mine} and {theirs}")
        return attrs.evolve(
            self,
            changed_pixels=self.changed_pixels + other.changed_pixels,
            valid_pixels=self.valid_pixels + other.valid_pixels,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary (for ``--json`` and job results)."""
        return {
            "method": self.method,
            "threshold": self.threshold,
            "changed_pixels": self.changed_pixels,
            "valid_pixels": self.valid_pixels,
            "changed_fraction": self.changed_fraction,
            "pixel_area_m2": self.pixel_area_m2,
            "changed_area_m2": self.changed_area_m2,
        }


def _present_values(values: AnyArray) -> AnyArray:
    """Return the sorted distinct values of an integer array (bincount when the span is small)."""
    if values.size == 0:
        return values[:0]
    low, high = int(values.min()), int(values.max())
    if high - low <= 1 << 16:
        present = np.bincount(values.astype(np.int64) - low, minlength=high - low + 1)
        return (np.flatnonzero(present) + low).astype(values.dtype)
    return np.unique(values)


def _class_indices(values: AnyArray, classes: Int64Array) -> Int64Array:
    """Return the position of each value in the sorted ``classes``; raise for unknown values."""
    index = np.searchsorted(classes, values)
    known = index < classes.size
    known[known] = classes[index[known]] == values[known]
    if not known.all():
        unknown = np.unique(values[~known])[:10].tolist()
        raise InvalidInputError(f"class values {unknown} are not among classes {classes.tolist()}")
    return index.astype(np.int64)


def _to_classes(classes: Sequence[int] | AnyArray) -> tuple[int, ...]:
    """Return the class values sorted; raise when one is repeated."""
    values = [int(c) for c in classes]
    if len(set(values)) != len(values):
        raise InvalidInputError(f"classes must be distinct, got {values}")
    return tuple(sorted(values))


def _int_tuple(values: Iterable[int]) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


def _check_sorted(_instance: object, _attribute: object, classes: tuple[int, ...]) -> None:
    if any(x >= y for x, y in itertools.pairwise(classes)):
        raise InvalidInputError(f"classes must be sorted and distinct, got {list(classes)}")


@attrs.frozen(eq=False)
class TransitionMatrix:
    """From-to transition counts: ``counts[i, j]`` pixels went from ``classes[i]`` to
    ``classes[j]`` (rows: before, columns: after). ``classes`` are sorted."""

    classes: tuple[int, ...] = attrs.field(converter=_int_tuple, validator=_check_sorted)
    counts: Int64Array

    def __attrs_post_init__(self) -> None:
        n = len(self.classes)
        if self.counts.shape != (n, n):
            raise InvalidInputError(f"counts must have shape ({n}, {n}), got {self.counts.shape}")

    @classmethod
    def from_arrays(
        cls,
        before: ArrayLike,
        after: ArrayLike,
        classes: Sequence[int] | None = None,
        nodata: int | None = None,
    ) -> TransitionMatrix:
        """Count the transitions of two integer class rasters (one block or whole rasters).

        Pixels where either raster equals ``nodata`` are skipped. With ``classes`` given, any
        other value raises; without, the classes are the values present in either raster.
        Cross-tabulation for post-classification comparison: Singh (1989), Int. J. Remote Sens.
        """
        b, a = as_integer(before, "before"), as_integer(after, "after")
        same_shape("before", b, "after", a)
        b, a = b.reshape(-1), a.reshape(-1)
        if nodata is not None:
            valid = (b != nodata) & (a != nodata)
            b, a = b[valid], a[valid]
        if classes is None:
            table = np.union1d(_present_values(b), _present_values(a)).astype(np.int64)
        else:
            table = np.asarray(_to_classes(classes), dtype=np.int64)
        n = table.size
        flat = _class_indices(b, table) * n + _class_indices(a, table)
        counts = np.bincount(flat, minlength=n * n).astype(np.int64).reshape(n, n)
        return cls(tuple(table.tolist()), counts)

    @property
    def valid_pixels(self) -> int:
        """Pixels counted (valid in both rasters)."""
        return int(self.counts.sum())

    @property
    def changed_pixels(self) -> int:
        """Pixels whose class changed (off-diagonal counts)."""
        return self.valid_pixels - int(np.trace(self.counts))

    def merge(self, other: TransitionMatrix) -> TransitionMatrix:
        """Return the sum of two matrices; their class lists are united."""
        union = tuple(sorted(set(self.classes) | set(other.classes)))
        total = np.zeros((len(union), len(union)), dtype=np.int64)
        for part in (self, other):
            pos = np.searchsorted(union, part.classes)
            total[np.ix_(pos, pos)] += part.counts
        return TransitionMatrix(union, total)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"classes": [...], "counts": [[...], ...]}`` (rows before, columns after)."""
        return {"classes": list(self.classes), "counts": self.counts.tolist()}


@attrs.frozen(eq=False)
class ChangeResult:
    """A whole-array change detection: the uint8 mask, its summary and method extras.

    ``score`` is the signed index difference (``diff``) or the CVA magnitude (``cva``);
    ``direction`` the CVA angle in degrees when asked for; ``transitions`` the from-to matrix
    (``postclass``).
    """

    mask: UInt8Array
    summary: ChangeSummary
    score: Float32Array | None = None
    direction: Float32Array | None = None
    transitions: TransitionMatrix | None = None


def _threshold_value(magnitude: Float32Array, threshold: Threshold, bins: int) -> float:
    """Resolve ``"otsu"`` (over the finite magnitudes) or check a given non-negative value."""
    if isinstance(threshold, str):
        if threshold != "otsu":
            raise InvalidInputError(f"threshold must be 'otsu' or a number, got {threshold!r}")
        return otsu(magnitude, bins)
    value = float(threshold)
    if not np.isfinite(value) or value < 0:
        raise InvalidInputError(f"threshold must be a non-negative number, got {threshold!r}")
    return value


def difference_change(
    before: ArrayLike,
    after: ArrayLike,
    *,
    threshold: Threshold = "otsu",
    bins: int = 256,
    pixel_area_m2: float | None = None,
) -> ChangeResult:
    r"""Index differencing: change where :math:`|after - before| > t`.

    ``before``/``after`` are index rasters (e.g. NDVI). ``t`` is given, or the Otsu threshold
    of :math:`|d|` over ``bins`` bins (Otsu, 1979). Singh (1989), Int. J. Remote Sens. 10(6).
    """
    diff = index_difference(before, after)
    t = _threshold_value(np.abs(diff), threshold, bins)
    mask = change_mask(diff, t, absolute=True)
    summary = ChangeSummary.from_mask(mask, "diff", t, pixel_area_m2)
    return ChangeResult(mask, summary, score=diff)


def cva_change(
    before: Sequence[ArrayLike] | ArrayLike,
    after: Sequence[ArrayLike] | ArrayLike,
    *,
    threshold: Threshold = "otsu",
    bins: int = 256,
    direction: bool = False,
    pixel_area_m2: float | None = None,
) -> ChangeResult:
    r"""Change vector analysis: change where the magnitude :math:`\|after - before\|_2 > t`.

    ``t`` is given or the Otsu threshold of the magnitude; ``direction=True`` adds the angle
    (two bands only). Malila (1980); Johnson & Kasischke (1998), Int. J. Remote Sens. 19(3).
    """
    magnitude = cva_magnitude(before, after)
    angle = cva_direction(before, after) if direction else None
    t = _threshold_value(magnitude, threshold, bins)
    mask = change_mask(magnitude, t)
    summary = ChangeSummary.from_mask(mask, "cva", t, pixel_area_m2)
    return ChangeResult(mask, summary, score=magnitude, direction=angle)


def postclass_change(
    before: ArrayLike,
    after: ArrayLike,
    *,
    classes: Sequence[int] | None = None,
    nodata: int | None = None,
    pixel_area_m2: float | None = None,
) -> ChangeResult:
    """Post-classification comparison of two integer class rasters: from-to matrix and mask.

    Change where the class differs; pixels equal to ``nodata`` in either raster are 255 in the
    mask and are not counted. Singh (1989), Int. J. Remote Sens. 10(6), 989-1003.
    """
    transitions = TransitionMatrix.from_arrays(before, after, classes, nodata)
    mask = postclass_mask(before, after, nodata=nodata)
    summary = ChangeSummary(
        "postclass", None, transitions.changed_pixels, transitions.valid_pixels, pixel_area_m2
    )
    return ChangeResult(mask, summary, transitions=transitions)
