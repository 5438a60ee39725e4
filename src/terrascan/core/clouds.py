"""Cloud detection for Sentinel-2 Level-1C with s2cloudless.

s2cloudless (Zupanc et al., Sentinel Hub, 2017; https://github.com/sentinel-hub/sentinel2-cloud-detector)
is a per-pixel LightGBM classifier trained on top-of-atmosphere reflectance of ten bands:
B01, B02, B04, B05, B08, B8A, B09, B10, B11, B12. Its model file ships inside the PyPI package,
so nothing is downloaded. The probability map is post-processed as its authors do: averaged
over a disk of ``average_over`` pixels, thresholded, then dilated by a disk of
``dilation_size`` pixels. The authors run it at 60-160 m; callers choose the grid.

``s2cloudless`` (with LightGBM and OpenCV) is an optional dependency, imported on first use.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from terrascan.core._arrays import Float32Array
from terrascan.errors import InvalidInputError

__all__ = [
    "S2CLOUDLESS_BANDS",
    "S2CLOUDLESS_NODATA",
    "s2cloudless_mask",
    "s2cloudless_probability",
]

#: The model's inputs, in its order, as band common names (Sentinel-2 band ids in comments).
S2CLOUDLESS_BANDS: tuple[str, ...] = (
    "coastal",  # B01
    "blue",  # B02
    "red",  # B04
    "rededge1",  # B05
    "nir",  # B08
    "nir08",  # B8A
    "nir09",  # B09
    "cirrus",  # B10
    "swir16",  # B11
    "swir22",  # B12
)
#: Mask value for pixels with no observation (any input band missing).
S2CLOUDLESS_NODATA = 255


@cache
def _detector(threshold: float, average_over: int, dilation_size: int) -> Any:
    try:
        from s2cloudless.cloud_detector import S2PixelCloudDetector
    except ImportError as exc:  # pragma: no cover - the dependency is declared
        raise InvalidInputError(
            "s2cloudless is not installed: pip install 'terrascan[clouds]'"
        ) from exc
    return S2PixelCloudDetector(
        threshold=threshold,
        average_over=average_over,
        dilation_size=dilation_size,
        all_bands=False,
    )


def _check_stack(stack: npt.ArrayLike) -> Float32Array:
    data = np.asarray(stack, dtype=np.float32)
    if data.ndim != 3 or data.shape[0] != len(S2CLOUDLESS_BANDS):
        raise InvalidInputError(
            f"s2cloudless needs a ({len(S2CLOUDLESS_BANDS)}, rows, cols) stack of "
            f"{', '.join(S2CLOUDLESS_BANDS)}; got shape {data.shape}"
        )
    return data


def s2cloudless_probability(stack: npt.ArrayLike) -> Float32Array:
    """Cloud probability (0-1, float32) of each pixel of a ``(10, rows, cols)`` stack of TOA
    reflectance in :data:`S2CLOUDLESS_BANDS` order; NaN where any band is NaN."""
    data = _check_stack(stack)
    valid = np.all(np.isfinite(data), axis=0)
    probability = np.full(data.shape[1:], np.nan, np.float32)
    if valid.any():
        pixels = np.ascontiguousarray(data[:, valid].T)  # (n, 10): one image row of n pixels
        detector = _detector(0.4, 0, 0)
        probability[valid] = detector.get_cloud_probability_maps(pixels[None, None])[0, 0]
    return probability


def s2cloudless_mask(
    probability: npt.ArrayLike,
    *,
    threshold: float = 0.4,
    average_over: int = 4,
    dilation_size: int = 2,
) -> npt.NDArray[np.uint8]:
    """The cloud mask of a probability map: 1 cloud, 0 clear, 255 no observation (NaN).

    Defaults are the s2cloudless authors' (threshold 0.4, averaging disk 4, dilation disk 2,
    in pixels of the grid the probability was computed on).
    """
    if not 0.0 < threshold < 1.0:
        raise InvalidInputError("the cloud probability threshold must be between 0 and 1")
    if average_over < 0 or dilation_size < 0:
        raise InvalidInputError("averaging and dilation sizes must be 0 or more pixels")
    prob = np.asarray(probability, dtype=np.float32)
    if prob.ndim != 2:
        raise InvalidInputError("the probability map must be two-dimensional")
    missing = ~np.isfinite(prob)
    # No-observation pixels count as clear for the averaging, as the authors' pipeline does
    # with its data mask; they are marked separately afterwards.
    filled = np.where(missing, np.float32(0), prob)[np.newaxis]
    detector = _detector(float(threshold), int(average_over), int(dilation_size))
    mask: npt.NDArray[np.uint8] = np.asarray(detector.get_mask_from_prob(filled)[0], np.uint8)
    mask[missing] = S2CLOUDLESS_NODATA
    return mask
