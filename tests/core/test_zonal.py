"""Zonal statistics checked against per-zone numpy reductions."""

from __future__ import annotations

import numpy as np
import pytest

from terrascan.core.zonal import zonal_statistics
from terrascan.errors import InvalidInputError


def _scene() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    values = rng.normal(0.4, 0.2, (90, 110)).astype(np.float32)
    values[rng.random(values.shape) < 0.1] = np.nan
    zones = rng.choice([0, 1, 2, 5, 17], size=values.shape).astype(np.int32)
    zones[:10, :10] = 9  # a zone whose pixels are all NaN
    values[:10, :10] = np.nan
    return values, zones


def test_statistics_match_numpy_per_zone() -> None:
    values, zones = _scene()
    stats = zonal_statistics(values, zones, percentiles=(10, 90, 2.5))
    np.testing.assert_array_equal(stats.zones, [1, 2, 5, 9, 17])
    for i, zone in enumerate(stats.zones):
        inside = values[(zones == zone) & np.isfinite(values)].astype(np.float64)
        assert stats.count[i] == inside.size
        if inside.size == 0:
            assert np.isnan(stats.mean[i]) and np.isnan(stats.median[i])
            assert np.isnan(stats.percentiles[10.0][i])
            continue
        assert stats.mean[i] == pytest.approx(inside.mean(), rel=1e-12)
        assert stats.std[i] == pytest.approx(inside.std(), rel=1e-9)
        assert stats.median[i] == pytest.approx(np.median(inside), rel=1e-12)
        assert stats.minimum[i] == inside.min()
        assert stats.maximum[i] == inside.max()
        for q in (10.0, 90.0, 2.5):
            assert stats.percentiles[q][i] == pytest.approx(np.percentile(inside, q), rel=1e-12)


def test_small_known_answer() -> None:
    values = np.array([[1.0, 2.0, 3.0], [4.0, np.nan, 10.0]])
    zones = np.array([[1, 1, 2], [1, 2, 0]])
    stats = zonal_statistics(values, zones, percentiles=[50])
    np.testing.assert_array_equal(stats.zones, [1, 2])
    np.testing.assert_array_equal(stats.count, [3, 1])
    np.testing.assert_allclose(stats.mean, [7 / 3, 3.0])
    np.testing.assert_allclose(stats.median, [2.0, 3.0])
    np.testing.assert_allclose(stats.std, [np.std([1.0, 2.0, 4.0]), 0.0])
    np.testing.assert_allclose(stats.minimum, [1.0, 3.0])
    np.testing.assert_allclose(stats.maximum, [4.0, 3.0])
    sample = zonal_statistics(values, zones, ddof=1)
    assert sample.std[0] == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1))
    assert np.isnan(sample.std[1])  # one value: no sample deviation


def test_zone_ids_and_custom_nodata_zone() -> None:
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    zones = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [-1, -1, -1, -1]])
    stats = zonal_statistics(values, zones, nodata_zone=-1, zone_ids=[1, 0, 42])
    np.testing.assert_array_equal(stats.zones, [0, 1, 42])
    np.testing.assert_array_equal(stats.count, [4, 4, 0])
    np.testing.assert_allclose(stats.mean[:2], [(0 + 1 + 4 + 5) / 4, (2 + 3 + 6 + 7) / 4])
    records = stats.to_records()
    assert records[2] == {
        "zone": 42,
        "count": 0,
        "mean": None,
        "median": None,
        "std": None,
        "minimum": None,
        "maximum": None,
        "percentiles": {},
    }


def test_errors() -> None:
    with pytest.raises(InvalidInputError, match="same shape"):
        zonal_statistics(np.zeros((2, 2)), np.zeros((2, 3), dtype=int))
    with pytest.raises(InvalidInputError, match="integer"):
        zonal_statistics(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(InvalidInputError, match="percentiles"):
        zonal_statistics(np.zeros((2, 2)), np.ones((2, 2), dtype=int), percentiles=[101])


def test_empty_zones_give_empty_result() -> None:
    stats = zonal_statistics(np.ones((3, 3)), np.zeros((3, 3), dtype=np.uint8))
    assert len(stats) == 0
    assert stats.to_records() == []
