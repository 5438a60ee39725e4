"""Phase-correlation co-registration recovers known sub-pixel shifts."""

from __future__ import annotations

import numpy as np
import pytest

from terrascan.core.coregistration import (
    Shift,
    align_to_reference,
    estimate_shift,
    shift_image,
)
from terrascan.errors import InvalidInputError

SIZE = 192


def textured(dy: float = 0.0, dx: float = 0.0, seed: int = 0) -> np.ndarray:
    """A sum of random Gaussian blobs evaluated analytically at (y - dy, x - dx).

    The shifted image is computed from the formula, not by resampling, so it is an exact,
    non-periodic translation of the unshifted one.
    """
    rng = np.random.default_rng(seed)
    n = 250
    cy, cx = rng.uniform(-15, SIZE + 15, (2, n))
    sigma = rng.uniform(1.5, 6.0, n)
    amplitude = rng.normal(0.0, 1.0, n)
    y = np.arange(SIZE)[:, None] - dy
    x = np.arange(SIZE)[None, :] - dx
    image = np.zeros((SIZE, SIZE))
    for i in range(n):
        gy = np.exp(-((y - cy[i]) ** 2) / (2 * sigma[i] ** 2))
        gx = np.exp(-((x - cx[i]) ** 2) / (2 * sigma[i] ** 2))
        image += amplitude[i] * gy * gx
    return image


@pytest.mark.parametrize(("dy", "dx"), [(3.4, -2.7), (-7.25, 11.6), (0.3, 0.15), (0.0, 0.0)])
def test_recovers_known_shift(dy: float, dx: float) -> None:
    reference, target = textured(), textured(dy, dx)
    found = estimate_shift(reference, target)
    assert isinstance(found, Shift)
    assert abs(found.dy - dy) < 0.1
    assert abs(found.dx - dx) < 0.1


def test_recovers_shift_with_nan_borders_and_float32() -> None:
    reference = textured(seed=1).astype(np.float32)
    target = textured(3.4, -2.7, seed=1).astype(np.float32)
    target[:4, :] = np.nan  # like a reprojected edge
    target[60:70, 80:95] = np.nan  # a masked cloud
    dy, dx = estimate_shift(reference, target)
    assert abs(dy - 3.4) < 0.1 and abs(dx + 2.7) < 0.1


def test_recovers_shift_in_noise() -> None:
    rng = np.random.default_rng(5)
    reference = textured(seed=5) + rng.normal(0.0, 0.05, (SIZE, SIZE))
    target = textured(-5.6, 8.2, seed=5) + rng.normal(0.0, 0.05, (SIZE, SIZE))
    target[100:115, 30:50] = np.nan
    dy, dx = estimate_shift(reference, target)
    assert abs(dy + 5.6) < 0.1 and abs(dx - 8.2) < 0.1


def test_pure_phase_correlation_on_clean_images() -> None:
    dy, dx = estimate_shift(textured(seed=6), textured(3.4, -2.7, seed=6), lowpass=None)
    assert abs(dy - 3.4) < 0.1 and abs(dx + 2.7) < 0.1
    coarse = estimate_shift(textured(seed=6), textured(3.4, -2.7, seed=6), upsample_factor=1)
    assert coarse == (3.0, -3.0)


def test_shift_image_bilinear_integer_shift_matches_slicing() -> None:
    image = np.arange(100, dtype=np.float32).reshape(10, 10)
    shifted = shift_image(image, 2, -3)
    np.testing.assert_array_equal(shifted[2:, :7], image[:8, 3:])
    assert np.isnan(shifted[:2]).all() and np.isnan(shifted[:, 7:]).all()


def test_shift_image_bilinear_half_pixel_is_neighbour_mean() -> None:
    image = np.random.default_rng(2).random((12, 12)).astype(np.float32)
    shifted = shift_image(image, 0.5, 0.0)
    np.testing.assert_allclose(shifted[1:], (image[:-1] + image[1:]) / 2, rtol=1e-6)
    assert np.isnan(shifted[0]).all()


def test_fourier_shift_round_trip_through_estimate() -> None:
    reference = textured(seed=3)
    moved = shift_image(reference, 4.3, -1.6, method="fourier")
    assert np.isnan(moved[:4]).all() and np.isnan(moved[:, -1]).all()
    dy, dx = estimate_shift(reference, moved)
    assert abs(dy - 4.3) < 0.1 and abs(dx + 1.6) < 0.1


def test_align_to_reference_puts_target_on_reference_grid() -> None:
    reference, target = textured(seed=4), textured(3.4, -2.7, seed=4)
    shift = estimate_shift(reference, target)
    aligned = align_to_reference(target, shift, method="fourier")
    inner = (slice(10, -10), slice(10, -10))
    before = np.abs(target[inner] - reference[inner]).mean()
    after = np.abs(aligned[inner] - reference[inner]).mean()
    assert after < 0.05 * before
    assert np.isnan(aligned[-3:]).all()  # sampled from below the target's last row


def test_errors() -> None:
    with pytest.raises(InvalidInputError, match="shape"):
        estimate_shift(np.ones((16, 16)), np.ones((16, 17)))
    with pytest.raises(InvalidInputError, match="2-D"):
        estimate_shift(np.ones((2, 16, 16)), np.ones((2, 16, 16)))
    with pytest.raises(InvalidInputError, match="featureless"):
        estimate_shift(np.ones((16, 16)), np.ones((16, 16)))
    with pytest.raises(InvalidInputError, match="method"):
        shift_image(np.ones((16, 16)), 1.0, 1.0, method="cubic")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="finite"):
        shift_image(np.ones((16, 16)), float("nan"), 1.0)
    with pytest.raises(InvalidInputError, match="lowpass"):
        estimate_shift(np.ones((16, 16)), np.ones((16, 16)), lowpass=0.0)
    with pytest.raises(InvalidInputError, match="upsample_factor"):
        estimate_shift(np.ones((16, 16)), np.ones((16, 16)), upsample_factor=0)
