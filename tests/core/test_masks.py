"""Sentinel-2 SCL and Landsat QA_PIXEL masks, applying masks, cloud fraction."""

from __future__ import annotations

import numpy as np
import pytest

from terrascan.core.masks import (
    QaPixelBit,
    apply_mask,
    qa_pixel_invalid_mask,
    scl_cloud_fraction,
    scl_invalid_mask,
)
from terrascan.errors import InvalidInputError

ALL_SCL = np.arange(12, dtype=np.uint8)


def test_scl_invalid_classes() -> None:
    expected = np.isin(ALL_SCL, [0, 1, 3, 8, 9, 10])
    np.testing.assert_array_equal(scl_invalid_mask(ALL_SCL), expected)
    with_snow = np.isin(ALL_SCL, [0, 1, 3, 8, 9, 10, 11])
    np.testing.assert_array_equal(scl_invalid_mask(ALL_SCL, include_snow=True), with_snow)


def test_scl_other_dtypes_and_unknown_values() -> None:
    scl = np.array([[4, 12], [300, -1]], dtype=np.int16)
    np.testing.assert_array_equal(scl_invalid_mask(scl), [[False, True], [True, True]])
    out = np.zeros((2, 2), dtype=bool)
    assert scl_invalid_mask(scl, out=out) is out
    with pytest.raises(InvalidInputError):
        scl_invalid_mask(np.array([4.0]))


def _qa(*bits: int) -> int:
    return sum(1 << b for b in bits)


def test_qa_pixel_default_bits() -> None:
    clear, water_clear = _qa(6), _qa(6, 7)
    qa = np.array(
        [_qa(0), _qa(1), _qa(2), _qa(3), _qa(4), _qa(5), clear, water_clear, _qa(3, 8, 9)],
        dtype=np.uint16,
    )
    expected = [True, True, True, True, True, False, False, False, True]
    np.testing.assert_array_equal(qa_pixel_invalid_mask(qa), expected)
    with_snow = qa_pixel_invalid_mask(qa, [*range(5), QaPixelBit.SNOW])
    assert with_snow[5]
    only_fill = qa_pixel_invalid_mask(qa, [QaPixelBit.FILL])
    np.testing.assert_array_equal(only_fill, [True] + [False] * 8)
    with pytest.raises(InvalidInputError):
        qa_pixel_invalid_mask(qa, [16])


def test_apply_mask_2d_and_band_stack() -> None:
    data = np.arange(12, dtype=np.uint16).reshape(3, 2, 2)
    invalid = np.array([[True, False], [False, True]])
    result = apply_mask(data, invalid)
    assert result.dtype == np.float32
    assert np.isnan(result[:, 0, 0]).all() and np.isnan(result[:, 1, 1]).all()
    np.testing.assert_array_equal(result[:, 0, 1], [1, 5, 9])
    band = np.ones((2, 2), dtype=np.float32)
    assert apply_mask(band, invalid, out=band) is band  # in place
    assert np.isnan(band).sum() == 2
    with pytest.raises(InvalidInputError, match="shape"):
        apply_mask(np.ones((3, 3)), invalid)
    with pytest.raises(InvalidInputError, match="boolean"):
        apply_mask(np.ones((2, 2)), invalid.astype(np.uint8))


def test_scl_cloud_fraction() -> None:
    # 2 no data, 1 defective, 3 vegetation, 2 water, 1 medium cloud, 2 high cloud, 1 cirrus
    scl = np.array([0, 0, 1, 4, 4, 4, 6, 6, 8, 9, 9, 10], dtype=np.uint8)
    assert scl_cloud_fraction(scl) == pytest.approx(4 / 9)
    assert scl_cloud_fraction(scl, cloud_classes=[9]) == pytest.approx(2 / 9)
    assert np.isnan(scl_cloud_fraction(np.zeros(4, dtype=np.uint8)))
