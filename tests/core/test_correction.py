"""Dark-object subtraction: dark value by rank, histogram variant, clipping, NaN."""

from __future__ import annotations

import numpy as np
import pytest

from terrascan.core.correction import (
    dark_object_subtraction,
    dark_object_value,
    dark_object_value_from_histogram,
    subtract_dark_object,
)
from terrascan.core.threshold import Histogram
from terrascan.errors import InvalidInputError


def _hazy_band(seed: int, haze: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    band = (haze + rng.gamma(2.0, 0.05, (100, 100))).astype(np.float32)
    band[0, :3] = 0.0  # three defective pixels below the true dark object
    band[5, 5:9] = np.nan
    return band


def test_dark_object_value_is_kth_smallest() -> None:
    band = _hazy_band(0, 0.04)
    finite = np.sort(band[np.isfinite(band)].astype(np.float64))
    assert dark_object_value(band, count=1) == 0.0
    assert dark_object_value(band, count=10) == finite[9]
    k = int(np.ceil(0.001 * finite.size))
    assert dark_object_value(band, fraction=0.001) == finite[k - 1]
    assert dark_object_value(band) >= 0.0


def test_histogram_variant_is_at_most_one_bin_below() -> None:
    band = _hazy_band(1, 0.06)
    hist = Histogram(0.0, 1.0, 1000).update(band)
    exact = dark_object_value(band, count=50)
    approx = dark_object_value_from_histogram(hist, count=50)
    assert exact - 1.0 / 1000 <= approx <= exact


def test_subtract_clips_at_zero_and_keeps_nan() -> None:
    band = np.array([[0.05, 0.1, np.nan], [0.2, 0.0, 1.0]], dtype=np.float32)
    result = subtract_dark_object(band, 0.1)
    expected = np.array([[0.0, 0.0, np.nan], [0.1, 0.0, 0.9]], dtype=np.float32)
    np.testing.assert_allclose(result, expected, rtol=1e-6)
    assert result.dtype == np.float32
    out = np.empty_like(band)
    assert subtract_dark_object(band, 0.1, out) is out


def test_dark_object_subtraction_per_band() -> None:
    bands = np.stack([_hazy_band(2, 0.08), _hazy_band(3, 0.02)])
    result = dark_object_subtraction(bands, count=4)
    assert result.corrected.shape == bands.shape and result.corrected.dtype == np.float32
    for i in range(2):
        finite = np.sort(bands[i][np.isfinite(bands[i])])
        assert result.dark_values[i] == finite[3]
        expected = np.maximum(bands[i] - np.float32(finite[3]), 0)
        np.testing.assert_array_equal(result.corrected[i], expected)
    assert np.isnan(result.corrected[:, 5, 5:9]).all()


def test_errors() -> None:
    with pytest.raises(InvalidInputError, match="no valid pixel"):
        dark_object_value(np.full((3, 3), np.nan))
    with pytest.raises(InvalidInputError, match="exceeds"):
        dark_object_value(np.ones(5), count=6)
    with pytest.raises(InvalidInputError, match="fraction"):
        dark_object_value(np.ones(5), fraction=1.5)
    with pytest.raises(InvalidInputError, match="finite"):
        subtract_dark_object(np.ones(5), float("nan"))
