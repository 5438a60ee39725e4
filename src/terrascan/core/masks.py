"""Quality masks: Sentinel-2 scene classification (SCL) and Landsat Collection 2 QA_PIXEL.

Each mask function returns a boolean *invalid* mask (True = do not use the pixel), which
:func:`apply_mask` turns into NaN in float bands.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

import numpy as np

from terrascan.core._arrays import (
    AnyArray,
    ArrayLike,
    BoolArray,
    Float32Array,
    as_float32,
    as_integer,
    output,
)
from terrascan.errors import InvalidInputError


class SclClass(IntEnum):
    """Sentinel-2 L2A scene classification values (ESA, Sentinel-2 L2A ATBD / product spec)."""

    NO_DATA = 0
    SATURATED_OR_DEFECTIVE = 1
    DARK_AREA_PIXELS = 2
    CLOUD_SHADOWS = 3
    VEGETATION = 4
    NOT_VEGETATED = 5
    WATER = 6
    UNCLASSIFIED = 7
    CLOUD_MEDIUM_PROBABILITY = 8
    CLOUD_HIGH_PROBABILITY = 9
    THIN_CIRRUS = 10
    SNOW = 11


#: SCL classes that are always invalid.
SCL_INVALID: frozenset[int] = frozenset(
    {
        SclClass.NO_DATA,
        SclClass.SATURATED_OR_DEFECTIVE,
        SclClass.CLOUD_SHADOWS,
        SclClass.CLOUD_MEDIUM_PROBABILITY,
        SclClass.CLOUD_HIGH_PROBABILITY,
        SclClass.THIN_CIRRUS,
    }
)
#: SCL classes counted as cloud by :func:`scl_cloud_fraction`.
SCL_CLOUD: frozenset[int] = frozenset(
    {SclClass.CLOUD_MEDIUM_PROBABILITY, SclClass.CLOUD_HIGH_PROBABILITY, SclClass.THIN_CIRRUS}
)
#: SCL classes that hold no observation, left out of the cloud fraction's denominator.
SCL_NO_OBSERVATION: frozenset[int] = frozenset({SclClass.NO_DATA, SclClass.SATURATED_OR_DEFECTIVE})


class QaPixelBit(IntEnum):
    """Landsat Collection 2 QA_PIXEL bit positions (USGS LSDS-1619, Landsat 8-9 C2 L2 guide)."""

    FILL = 0
    DILATED_CLOUD = 1
    CIRRUS = 2
    CLOUD = 3
    CLOUD_SHADOW = 4
    SNOW = 5
    CLEAR = 6
    WATER = 7


#: QA_PIXEL bits that make a pixel invalid by default (snow is opt-in, as for SCL).
QA_DEFAULT_INVALID_BITS: tuple[QaPixelBit, ...] = (
    QaPixelBit.FILL,
    QaPixelBit.DILATED_CLOUD,
    QaPixelBit.CIRRUS,
    QaPixelBit.CLOUD,
    QaPixelBit.CLOUD_SHADOW,
)


def _class_lookup(scl: AnyArray, classes: Iterable[int], outside: bool) -> BoolArray:
    """Return ``scl in classes`` per pixel by table look-up; values outside 0..255 give
    ``outside``."""
    table = np.zeros(256, dtype=bool)
    table[[c for c in classes if 0 <= c <= 255]] = True
    if scl.dtype == np.uint8:
        return table[scl]
    inside = (scl >= 0) & (scl <= 255)
    return np.where(inside, table[np.where(inside, scl, 0)], outside)


def scl_invalid_mask(
    scl: ArrayLike, *, include_snow: bool = False, out: BoolArray | None = None
) -> BoolArray:
    """Return True where a Sentinel-2 SCL pixel is unusable.

    Invalid classes: 0 no data, 1 saturated/defective, 3 cloud shadow, 8 cloud medium
    probability, 9 cloud high probability, 10 thin cirrus; 11 snow when ``include_snow``.
    Values that are not SCL classes (12..255) are invalid too. ESA (2021), "Sentinel-2 MSI
    Level-2A Algorithm Theoretical Basis Document", S2-PDGS-MPC-ATBD-L2A, scene classification.
    """
    classes = as_integer(scl, "scl")
    invalid = set(SCL_INVALID) | set(range(12, 256))
    if include_snow:
        invalid.add(SclClass.SNOW)
    result: BoolArray = output(out, classes.shape, np.bool_)
    result[...] = _class_lookup(classes, invalid, outside=True)
    return result


def qa_pixel_invalid_mask(
    qa: ArrayLike,
    bits: Iterable[int] = QA_DEFAULT_INVALID_BITS,
    *,
    out: BoolArray | None = None,
) -> BoolArray:
    r"""Return True where any of the given Landsat C2 QA_PIXEL ``bits`` is set.

    :math:`invalid = (qa \,\&\, \sum_b 2^b) \ne 0`. Default bits: 0 fill, 1 dilated cloud,
    2 cirrus, 3 cloud, 4 cloud shadow (add 5 for snow). USGS (2022), "Landsat 8-9 Collection 2
    Level 2 Science Product Guide", LSDS-1619, QA_PIXEL band.
    """
    values = as_integer(qa, "qa")
    chosen = [int(b) for b in bits]
    if any(not 0 <= b < 16 for b in chosen):
        raise InvalidInputError(f"QA_PIXEL bits must lie in 0..15, got {chosen}")
    flag = sum(1 << b for b in set(chosen))
    result: BoolArray = output(out, values.shape, np.bool_)
    np.not_equal(np.bitwise_and(values.astype(np.int64, copy=False), flag), 0, out=result)
    return result


def apply_mask(
    data: ArrayLike, invalid: ArrayLike, out: Float32Array | None = None
) -> Float32Array:
    """Return ``data`` as float32 with NaN where ``invalid`` is True.

    ``invalid`` has the shape of ``data`` or of its last two axes (one mask for every band of
    a (band, row, col) stack). ``out`` may be ``data`` itself when that is float32.
    """
    values = as_float32(data, "data")
    mask = np.asarray(invalid)
    if mask.dtype != np.bool_:
        raise InvalidInputError(f"invalid must be a boolean mask, got {mask.dtype}")
    if mask.shape not in (values.shape, values.shape[-2:]):
        raise InvalidInputError(f"mask shape {mask.shape} does not fit data shape {values.shape}")
    result: Float32Array = output(out, values.shape, np.float32)
    if result is not values:
        np.copyto(result, values)
    if mask.shape == values.shape:
        result[mask] = np.nan
    else:
        result[..., mask] = np.nan
    return result


def scl_cloud_fraction(
    scl: ArrayLike,
    *,
    cloud_classes: Iterable[int] = SCL_CLOUD,
    ignore_classes: Iterable[int] = SCL_NO_OBSERVATION,
) -> float:
    """Return cloudy pixels / observed pixels of an SCL raster, NaN if nothing was observed.

    Cloud classes default to 8, 9 and 10; classes 0 (no data) and 1 (saturated or defective)
    are not observations and are left out of both counts. ESA (2021), Sentinel-2 L2A ATBD.
    """
    classes = as_integer(scl, "scl")
    ignored = {int(c) for c in ignore_classes}
    cloud = {int(c) for c in cloud_classes} - ignored
    observed = classes.size - int(np.count_nonzero(_class_lookup(classes, ignored, False)))
    cloudy = int(np.count_nonzero(_class_lookup(classes, cloud, False)))
    return cloudy / observed if observed else float("nan")
