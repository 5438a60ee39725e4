"""Change detection over scenes: index differencing and CVA with Otsu (against
``skimage.filters.threshold_otsu``) or a given threshold, post-classification with its
transition matrix, all against independent numpy; grids and sizes are checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import rasterio
from affine import Affine
from rio_cogeo.cogeo import cog_validate
from skimage.filters import threshold_otsu as skimage_otsu

from terrascan.core.change import cva_magnitude
from terrascan.core.threshold import Histogram
from terrascan.engine import RasterSource, detect_change
from terrascan.errors import InvalidInputError
from tests.io import synthetic

from . import scenes

PIXEL_AREA = 100.0  # 10 m x 10 m


def read(path: Path) -> npt.NDArray[Any]:
    with rasterio.open(path) as src:
        data: npt.NDArray[Any] = src.read(1)
    return data


def ndvi64(dn: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    nir, red = (
        scenes.reflectance(dn[3]).astype(np.float64),
        scenes.reflectance(dn[2]).astype(np.float64),
    )
    return (nir - red) / (nir + red)


def threshold_otsu(values: npt.NDArray[Any]) -> float:
    """scikit-image's Otsu threshold over 256 bins (the independent reference)."""
    return float(skimage_otsu(values, nbins=256))  # type: ignore[no-untyped-call]


def bin_width(values: npt.NDArray[Any], bins: int = 256) -> float:
    return float((values.max() - values.min()) / bins)


def expected_mask(score: npt.NDArray[Any], threshold: float) -> npt.NDArray[np.uint8]:
    mask = np.where(score > threshold, 1, 0).astype(np.uint8)
    mask[np.isnan(score)] = 255
    return mask


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any, Any]:
    return scenes.changed_pair(tmp_path_factory.mktemp("pair"))


def test_diff_with_otsu_matches_skimage_and_numpy(pair: Any, tmp_path: Path) -> None:
    before, after, b, a = pair
    out, score = tmp_path / "diff.tif", tmp_path / "score.tif"
    result = detect_change(before, after, "diff", out, bands=scenes.MAPPING, score_path=score)

    d = ndvi64(a) - ndvi64(b)
    magnitude = np.abs(d)[np.isfinite(d)]
    t = result.summary.threshold
    assert t is not None
    assert abs(t - threshold_otsu(magnitude)) <= bin_width(magnitude)
    # The mask is |d| > t computed by numpy on the engine's float32 difference.
    d32 = read(score)
    np.testing.assert_allclose(d32, d, rtol=0, atol=1e-6, equal_nan=True)
    mask = read(out)
    np.testing.assert_array_equal(mask, expected_mask(np.abs(d32), t))
    # Most of the changed rectangle is found, little outside it.
    inside = np.zeros(mask.shape, bool)
    inside[400:700, 450:900] = True
    assert (mask[inside] == 1).mean() > 0.95 and (mask[~inside] == 1).mean() < 0.05
    s = result.summary
    assert s.changed_pixels == int((mask == 1).sum())
    assert s.valid_pixels == int((mask != 255).sum())
    assert s.changed_area_m2 == pytest.approx(s.changed_pixels * PIXEL_AREA)
    assert result.index == "ndvi" and result.output.crs == "EPSG:32629"
    assert cog_validate(str(out), quiet=True)[0]
    with rasterio.open(out) as src, rasterio.open(before) as ref:
        assert src.dtypes == ("uint8",) and src.nodata == 255
        assert src.transform == ref.transform and src.crs == ref.crs


def test_diff_with_a_given_threshold_is_one_pass(pair: Any, tmp_path: Path) -> None:
    before, after, b, a = pair
    progress: list[float] = []
    result = detect_change(
        before, after, "diff", tmp_path / "m.tif", bands=scenes.MAPPING, index_name="ndvi",
        threshold=0.1, progress=lambda f, _m: progress.append(f),
    )  # fmt: skip
    d = (ndvi64(a) - ndvi64(b)).astype(np.float32)
    np.testing.assert_array_equal(read(tmp_path / "m.tif"), expected_mask(np.abs(d), 0.1))
    assert result.summary.threshold == 0.1
    assert progress == sorted(progress) and progress[-1] == 1.0


def test_cva_with_otsu_matches_skimage_and_numpy(pair: Any, tmp_path: Path) -> None:
    before, after, b, a = pair
    out, score = tmp_path / "cva.tif", tmp_path / "mag.tif"
    # Per-date sources carry the mapping; ``bands`` picks the bands of the change vector.
    result = detect_change(
        RasterSource(before, mapping=scenes.MAPPING), RasterSource(after, mapping=scenes.MAPPING),
        "cva", out, bands=["red", "nir"], score_path=score, direction_path=tmp_path / "dir.tif",
    )  # fmt: skip
    assert result.bands == ("red", "nir")
    diffs = [
        scenes.reflectance(a[i]).astype(np.float64) - scenes.reflectance(b[i]).astype(np.float64)
        for i in (2, 3)
    ]
    magnitude = np.sqrt(diffs[0] ** 2 + diffs[1] ** 2)
    finite = magnitude[np.isfinite(magnitude)]
    t = result.summary.threshold
    assert t is not None and abs(t - threshold_otsu(finite)) <= bin_width(finite)
    m32 = read(score)
    np.testing.assert_allclose(m32, magnitude, rtol=1e-5, atol=1e-7, equal_nan=True)
    np.testing.assert_array_equal(read(out), expected_mask(m32, t))
    angle = np.degrees(np.arctan2(diffs[1], diffs[0])) % 360
    got = read(tmp_path / "dir.tif")
    ok = np.isfinite(angle) & (magnitude > 1e-3)
    np.testing.assert_allclose(got[ok], angle[ok], atol=1e-2)


def test_cva_bands_from_the_mapping_and_every_band_of_plain_files(
    pair: Any, tmp_path: Path
) -> None:
    before, after, b, a = pair
    result = detect_change(
        before, after, "cva", tmp_path / "m.tif", bands=scenes.MAPPING, threshold=0.05
    )
    assert result.bands == scenes.BAND_ORDER
    diffs = [
        scenes.reflectance(a[i]).astype(np.float64) - scenes.reflectance(b[i]).astype(np.float64)
        for i in range(4)
    ]
    magnitude = np.sqrt(sum(d**2 for d in diffs))
    mask = read(tmp_path / "m.tif")
    near = np.abs(magnitude - 0.05) < 1e-5  # float32 rounding at the threshold
    np.testing.assert_array_equal(mask[~near], expected_mask(magnitude, 0.05)[~near])
    # No mapping: every band, by number (the DN themselves, scale 1e-4 from the file).
    result = detect_change(before, after, "cva", tmp_path / "all.tif", threshold=0.05)
    assert result.bands == ("1", "2", "3", "4")
    np.testing.assert_array_equal(read(tmp_path / "all.tif")[~near], mask[~near])


def test_postclass_mask_and_transition_matrix(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    before = rng.integers(1, 5, (1, 700, 1100)).astype(np.uint8)
    after = before.copy()
    after[0, 100:300, 500:800] = 4
    after[0, 600:, :] = rng.integers(1, 6, (100, 1100))
    before[0, :3, :] = 0  # nodata
    pb = synthetic.write_raster(tmp_path / "b.tif", before, nodata=0)
    pa = synthetic.write_raster(tmp_path / "a.tif", after, nodata=0)
    result = detect_change(pb, pa, "postclass", tmp_path / "pc.tif")

    valid = (before[0] != 0) & (after[0] != 0)
    expected = np.where(before[0] != after[0], 1, 0).astype(np.uint8)
    expected[~valid] = 255
    np.testing.assert_array_equal(read(tmp_path / "pc.tif"), expected)
    matrix = result.transitions
    assert matrix is not None and matrix.classes == (1, 2, 3, 4, 5)
    for i, c_from in enumerate(matrix.classes):
        for j, c_to in enumerate(matrix.classes):
            count = int(np.sum(valid & (before[0] == c_from) & (after[0] == c_to)))
            assert matrix.counts[i, j] == count
    s = result.summary
    assert s.threshold is None and s.changed_pixels == int((expected == 1).sum())
    assert s.valid_pixels == int(valid.sum())


def test_mismatched_inputs_are_refused(pair: Any, tmp_path: Path) -> None:
    before, _after, b, _a = pair
    small = synthetic.write_raster(tmp_path / "small.tif", b[:, :500, :600], nodata=0)
    with pytest.raises(InvalidInputError, match="same size"):
        detect_change(before, small, "diff", tmp_path / "m.tif", bands=scenes.MAPPING)
    moved = synthetic.write_raster(
        tmp_path / "moved.tif", b, nodata=0, transform=Affine(10, 0, 0, 0, -10, 0)
    )
    with pytest.raises(InvalidInputError, match="different grids"):
        detect_change(before, moved, "cva", tmp_path / "m.tif", bands=scenes.MAPPING)
    with pytest.raises(InvalidInputError, match="threshold"):
        detect_change(
            before, before, "diff", tmp_path / "m.tif", bands=scenes.MAPPING, threshold=-1
        )
    with pytest.raises(InvalidInputError, match="method"):
        detect_change(before, before, "ratio", tmp_path / "m.tif")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="exactly 2 bands"):
        detect_change(before, before, "cva", tmp_path / "m.tif", bands=scenes.MAPPING,
                      direction_path=tmp_path / "d.tif")  # fmt: skip
    assert not (tmp_path / "m.tif").exists()


def test_histogram_kernel_bins_like_numpy() -> None:
    """The compiled Histogram.update the engine relies on bins exactly as numpy.histogram."""
    rng = np.random.default_rng(0)
    values = rng.normal(0, 1, (600, 700)).astype(np.float32)
    values[::9, ::4] = np.nan
    finite = values[np.isfinite(values)].astype(np.float64)
    histogram = Histogram(float(finite.min()), float(finite.max()), 256).update(values)
    expected, _ = np.histogram(finite, bins=256, range=(finite.min(), finite.max()))
    np.testing.assert_array_equal(histogram.counts, expected)


def test_cva_kernel_equals_the_numpy_path() -> None:
    """The compiled CVA magnitude the engine uses gives the numpy expression's float32 bits."""
    rng = np.random.default_rng(1)
    before = rng.random((3, 300, 400)).astype(np.float32)
    after = rng.random((3, 300, 400)).astype(np.float32)
    before[1, ::9, ::4] = np.nan
    fast = cva_magnitude(list(before), list(after))
    total = np.zeros((300, 400), np.float32)
    for b, a in zip(before, after, strict=True):
        d = a - b
        total += d * d
    np.testing.assert_array_equal(fast, np.sqrt(total))
