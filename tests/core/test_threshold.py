"""Otsu thresholding from block-wise histograms, checked against scikit-image."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from skimage.filters import threshold_otsu

from terrascan.core.threshold import Histogram, ValueRange, otsu, otsu_threshold
from terrascan.errors import InvalidInputError


def _bimodal(seed: int, n_low: int = 40_000, n_high: int = 15_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low = rng.normal(0.1, 0.05, n_low)
    high = rng.normal(0.55, 0.12, n_high)
    return np.concatenate([low, high]).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("bins", [64, 256])
def test_otsu_agrees_with_skimage(seed: int, bins: int) -> None:
    values = _bimodal(seed, n_high=10_000 + 5_000 * seed)
    width = (float(values.max()) - float(values.min())) / bins
    expected = threshold_otsu(values, nbins=bins)
    assert abs(otsu(values, bins=bins) - expected) <= width


def test_otsu_ignores_nan_and_inf() -> None:
    values = _bimodal(5).reshape(-1, 100)
    with_gaps = values.copy()
    with_gaps[::7, ::3] = np.nan
    with_gaps[1, 1] = np.inf
    finite = with_gaps[np.isfinite(with_gaps)]
    width = (float(finite.max()) - float(finite.min())) / 256
    assert abs(otsu(with_gaps) - threshold_otsu(finite)) <= width


def test_blockwise_histograms_merge_to_the_whole() -> None:
    values = _bimodal(6).reshape(110, 500)
    values[3:9, 10:40] = np.nan
    first_pass = functools.reduce(
        ValueRange.merge, (ValueRange().update(b) for b in np.array_split(values, 7))
    )
    assert first_pass.minimum == np.nanmin(values)
    assert first_pass.maximum == np.nanmax(values)
    assert first_pass.count == np.isfinite(values).sum()
    empty = Histogram.from_range(first_pass, 128)
    partial = [
        Histogram(empty.lower, empty.upper, 128).update(b) for b in np.array_split(values, 7)
    ]
    merged = functools.reduce(Histogram.merge, partial)
    whole = Histogram(empty.lower, empty.upper, 128).update(values)
    np.testing.assert_array_equal(merged.counts, whole.counts)
    assert otsu_threshold(merged) == otsu(values, bins=128)


def test_histogram_counts_match_numpy() -> None:
    values = np.random.default_rng(7).normal(size=50_000)
    hist = Histogram(-2.0, 3.0, 50).update(values[(values >= -2) & (values <= 3)])
    expected, edges = np.histogram(values, bins=50, range=(-2.0, 3.0))
    np.testing.assert_array_equal(hist.counts, expected)
    np.testing.assert_allclose(hist.edges, edges)


def test_out_of_range_values_go_to_edge_bins() -> None:
    hist = Histogram(0.0, 1.0, 4).update(np.array([-5.0, 0.1, 0.5, 1.0, 7.0, np.nan]))
    np.testing.assert_array_equal(hist.counts, [2, 0, 1, 2])
    assert hist.total == 5


def test_threshold_separates_two_clusters() -> None:
    values = np.array([0.0] * 60 + [0.1] * 40 + [0.9] * 30 + [1.0] * 70)
    t = otsu(values, bins=100)
    assert 0.1 <= t < 0.9
    # foreground is value > t
    assert (values > t).sum() == 100


def test_single_value_and_empty_inputs() -> None:
    assert otsu(np.full((5, 5), 0.3)) == pytest.approx(0.3)
    hist = Histogram(0.0, 1.0, 10).update(np.full(9, 0.42))
    assert otsu_threshold(hist) == pytest.approx(0.5)  # upper edge: nothing is foreground
    with pytest.raises(InvalidInputError):
        otsu(np.full(4, np.nan))
    with pytest.raises(InvalidInputError):
        otsu_threshold(Histogram(0.0, 1.0, 10))


def test_histogram_validation() -> None:
    with pytest.raises(InvalidInputError):
        Histogram(1.0, 1.0)
    with pytest.raises(InvalidInputError):
        Histogram(0.0, np.inf)
    with pytest.raises(InvalidInputError):
        Histogram(0.0, 1.0, bins=1)
    with pytest.raises(InvalidInputError, match="merge"):
        Histogram(0.0, 1.0, 10).merge(Histogram(0.0, 2.0, 10))
