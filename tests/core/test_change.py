"""Change detection on synthetic rasters with planted changes of known size."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from terrascan.core.change import (
    MASK_NODATA,
    ChangeSummary,
    TransitionMatrix,
    change_mask,
    cva_change,
    cva_direction,
    cva_magnitude,
    difference_change,
    index_difference,
    postclass_change,
    postclass_mask,
)
from terrascan.core.threshold import Histogram, ValueRange, otsu_threshold
from terrascan.errors import InvalidInputError

SHAPE = (120, 150)
REGION = (slice(30, 60), slice(50, 90))  # 30 x 40 = 1200 pixels


def _ndvi_pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    before = (0.6 + rng.normal(0, 0.02, SHAPE)).astype(np.float32)
    after = (before + rng.normal(0, 0.02, SHAPE)).astype(np.float32)
    after[REGION] -= 0.5  # cleared vegetation
    return before, after


def test_index_difference_is_after_minus_before() -> None:
    before, after = np.array([[0.2, np.nan]]), np.array([[0.5, 0.1]])
    result = index_difference(before, after)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, [[0.3, np.nan]], rtol=1e-6)


def test_difference_change_finds_planted_region_with_otsu() -> None:
    before, after = _ndvi_pair()
    result = difference_change(before, after, pixel_area_m2=100.0)
    expected = np.zeros(SHAPE, dtype=np.uint8)
    expected[REGION] = 1
    np.testing.assert_array_equal(result.mask, expected)
    summary = result.summary
    assert summary.method == "diff"
    assert summary.threshold is not None and 0.05 < summary.threshold < 0.45
    assert summary.changed_pixels == 1200
    assert summary.valid_pixels == SHAPE[0] * SHAPE[1]
    assert summary.changed_fraction == pytest.approx(1200 / (SHAPE[0] * SHAPE[1]))
    assert summary.changed_area_m2 == pytest.approx(120_000.0)


def test_nan_pixels_are_nodata_and_not_counted() -> None:
    before, after = _ndvi_pair(1)
    before[0:10, :] = np.nan  # 1500 pixels, outside the region
    after[REGION[0], 50:55] = np.nan  # 150 pixels inside the region
    result = difference_change(before, after, threshold=0.25)
    assert (result.mask[0:10] == MASK_NODATA).all()
    assert (result.mask[REGION[0], 50:55] == MASK_NODATA).all()
    assert result.summary.changed_pixels == 1200 - 150
    assert result.summary.valid_pixels == SHAPE[0] * SHAPE[1] - 1500 - 150
    assert result.summary.changed_area_m2 is None
    assert result.summary.threshold == 0.25


def test_given_threshold_matches_independent_count() -> None:
    rng = np.random.default_rng(2)
    before, after = rng.random((50, 60)), rng.random((50, 60))
    result = difference_change(before, after, threshold=0.3)
    diff = after.astype(np.float32) - before.astype(np.float32)
    assert result.summary.changed_pixels == int((np.abs(diff) > 0.3).sum())
    np.testing.assert_array_equal(result.mask, (np.abs(diff) > 0.3).astype(np.uint8))


def test_blockwise_two_pass_equals_whole_array() -> None:
    before, after = _ndvi_pair(3)
    before[5, 5] = np.nan
    rows = [slice(r, r + 32) for r in range(0, SHAPE[0], 32)]
    diffs = [np.abs(index_difference(before[r], after[r])) for r in rows]
    value_range = functools.reduce(ValueRange.merge, (ValueRange().update(d) for d in diffs))
    hist = functools.reduce(
        Histogram.merge, (Histogram.from_range(value_range).update(d) for d in diffs)
    )
    threshold = otsu_threshold(hist)
    summaries = [
        ChangeSummary.from_mask(change_mask(d, threshold), "diff", threshold, 100.0) for d in diffs
    ]
    merged = functools.reduce(ChangeSummary.merge, summaries)
    whole = difference_change(before, after, pixel_area_m2=100.0).summary
    assert merged == whole


def test_change_mask_values() -> None:
    score = np.array([-0.5, -0.1, 0.0, 0.1, 0.2, 0.5, np.nan], dtype=np.float32)
    np.testing.assert_array_equal(change_mask(score, 0.1), [0, 0, 0, 0, 1, 1, 255])
    np.testing.assert_array_equal(change_mask(score, 0.1, absolute=True), [1, 0, 0, 0, 1, 1, 255])
    out = np.zeros(7, dtype=np.uint8)
    assert change_mask(score, 0.1, out) is out
    with pytest.raises(InvalidInputError):
        change_mask(score, float("nan"))


def test_cva_magnitude_matches_numpy() -> None:
    rng = np.random.default_rng(4)
    before, after = rng.random((3, 20, 30)), rng.random((3, 20, 30))
    before[1, 2, 3] = np.nan
    expected = np.sqrt(((after.astype(np.float32) - before.astype(np.float32)) ** 2).sum(axis=0))
    result = cva_magnitude(before, after)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, expected, rtol=1e-6)
    assert np.isnan(result[2, 3])
    listed = cva_magnitude(list(before), list(after))  # a sequence of 2-D bands works too
    np.testing.assert_array_equal(listed, result)


def test_cva_direction_known_angles() -> None:
    d1 = np.array([1.0, 0.0, -1.0, 0.0, 1.0, -1.0, 0.0, np.nan])
    d2 = np.array([0.0, 1.0, 0.0, -1.0, 1.0, -1e-9, 0.0, 1.0])
    zeros = np.zeros_like(d1)
    angle = cva_direction([zeros, zeros], [d1, d2])
    np.testing.assert_allclose(angle[:5], [0.0, 90.0, 180.0, 270.0, 45.0], atol=1e-5)
    assert 0.0 <= angle[5] < 360.0
    assert angle[6] == 0.0
    assert np.isnan(angle[7])
    with pytest.raises(InvalidInputError, match="exactly 2"):
        cva_direction(np.zeros((3, 2, 2)), np.zeros((3, 2, 2)))


def test_cva_change_finds_planted_region() -> None:
    rng = np.random.default_rng(5)
    before = rng.normal(0.2, 0.01, (4, *SHAPE)).astype(np.float32)
    after = before + rng.normal(0, 0.01, before.shape).astype(np.float32)
    after[:, REGION[0], REGION[1]] += np.array([0.1, -0.1, 0.15, 0.05], np.float32)[:, None, None]
    result = cva_change(before, after, pixel_area_m2=900.0)
    assert result.summary.method == "cva"
    assert result.summary.changed_pixels == 1200
    assert result.mask[REGION].all()
    assert result.summary.changed_area_m2 == pytest.approx(1200 * 900.0)
    assert result.direction is None


def test_cva_errors() -> None:
    with pytest.raises(InvalidInputError, match="bands"):
        cva_magnitude(np.zeros((2, 4, 4)), np.zeros((3, 4, 4)))
    with pytest.raises(InvalidInputError):
        cva_magnitude([], [])
    with pytest.raises(InvalidInputError, match="non-negative"):
        cva_change(np.zeros((2, 4, 4)), np.ones((2, 4, 4)), threshold=-1.0)
    with pytest.raises(InvalidInputError, match="otsu"):
        cva_change(np.zeros((2, 4, 4)), np.ones((2, 4, 4)), threshold="mean")  # type: ignore[arg-type]


# ---- post-classification -------------------------------------------------------------------

BEFORE_CLASSES = np.array([[1, 1, 2], [2, 3, 3], [0, 1, 2]], dtype=np.uint8)
AFTER_CLASSES = np.array([[1, 2, 2], [3, 3, 1], [1, 0, 2]], dtype=np.uint8)


def test_transition_matrix_of_known_pair() -> None:
    matrix = TransitionMatrix.from_arrays(BEFORE_CLASSES, AFTER_CLASSES, nodata=0)
    assert matrix.classes == (1, 2, 3)
    # rows before, columns after: 1->1, 1->2, 2->2, 2->3, 3->3, 3->1, 2->2 (0 pixels skipped)
    expected = np.array([[1, 1, 0], [0, 2, 1], [1, 0, 1]])
    np.testing.assert_array_equal(matrix.counts, expected)
    assert matrix.valid_pixels == 7
    assert matrix.changed_pixels == 3


def test_postclass_change_mask_and_summary() -> None:
    result = postclass_change(BEFORE_CLASSES, AFTER_CLASSES, nodata=0, pixel_area_m2=10.0)
    expected = np.array([[0, 1, 0], [1, 0, 1], [255, 255, 0]], dtype=np.uint8)
    np.testing.assert_array_equal(result.mask, expected)
    assert result.summary.to_dict() == {
        "method": "postclass",
        "threshold": None,
        "changed_pixels": 3,
        "valid_pixels": 7,
        "changed_fraction": 3 / 7,
        "pixel_area_m2": 10.0,
        "changed_area_m2": 30.0,
    }
    assert result.transitions is not None
    assert result.transitions.to_dict()["classes"] == [1, 2, 3]
    np.testing.assert_array_equal(postclass_mask(BEFORE_CLASSES, AFTER_CLASSES), expected != 0)


def test_transition_matrix_without_nodata_counts_every_value() -> None:
    matrix = TransitionMatrix.from_arrays(BEFORE_CLASSES, AFTER_CLASSES)
    assert matrix.classes == (0, 1, 2, 3)
    assert matrix.valid_pixels == 9
    assert matrix.counts[0, 1] == 1 and matrix.counts[1, 0] == 1


def test_transition_blocks_with_different_classes_merge() -> None:
    rng = np.random.default_rng(8)
    before = rng.choice([10, 20, 30, 40], size=(40, 40)).astype(np.int16)
    before[:20][before[:20] == 40] = 30  # class 40 only in the bottom half
    after = before.copy()
    after[rng.random((40, 40)) < 0.3] = 50
    blocks = [TransitionMatrix.from_arrays(before[r : r + 20], after[r : r + 20]) for r in (0, 20)]
    assert blocks[0].classes != blocks[1].classes
    merged = blocks[0].merge(blocks[1])
    whole = TransitionMatrix.from_arrays(before, after)
    assert merged.classes == whole.classes
    np.testing.assert_array_equal(merged.counts, whole.counts)
    # independent count of one transition
    i, j = whole.classes.index(30), whole.classes.index(50)
    assert whole.counts[i, j] == int(((before == 30) & (after == 50)).sum())


def test_transition_matrix_errors() -> None:
    with pytest.raises(InvalidInputError, match="not among classes"):
        TransitionMatrix.from_arrays(BEFORE_CLASSES, AFTER_CLASSES, classes=[1, 2])
    with pytest.raises(InvalidInputError, match="integer"):
        TransitionMatrix.from_arrays(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(InvalidInputError, match="sorted"):
        TransitionMatrix((2, 1), np.zeros((2, 2), dtype=np.int64))


def test_summary_errors() -> None:
    with pytest.raises(InvalidInputError, match="0, 1 and 255"):
        ChangeSummary.from_mask(np.array([0, 1, 2], dtype=np.uint8), "diff", 0.1)
    with pytest.raises(InvalidInputError, match="uint8"):
        ChangeSummary.from_mask(np.array([0, 1]), "diff", 0.1)
    with pytest.raises(InvalidInputError, match="merge"):
        ChangeSummary("diff", 0.1, 1, 2).merge(ChangeSummary("diff", 0.2, 1, 2))
    with pytest.raises(InvalidInputError, match="pixel_area"):
        ChangeSummary("diff", 0.1, 1, 2, pixel_area_m2=-3.0)
    empty = ChangeSummary.from_mask(np.full(4, 255, dtype=np.uint8), "cva", 0.1)
    assert empty.valid_pixels == 0 and empty.changed_fraction is None
