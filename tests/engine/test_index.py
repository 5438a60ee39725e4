"""Spectral indices over scenes: every index against independent numpy, block-wise results equal
to whole-array results, the output's grid, type and nodata, progress, statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from terrascan.core.indices import INDICES
from terrascan.engine import compute_index
from terrascan.errors import InvalidInputError, NotFoundError

from . import scenes


def expected_index(name: str, bands: dict[str, npt.NDArray[Any]]) -> npt.NDArray[np.float64]:
    """The index formulas written out in float64 numpy, independently of terrascan.core."""
    b = {k: v.astype(np.float64) for k, v in bands.items()}
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "evi":
            den = b["nir"] + 6 * b["red"] - 7.5 * b["blue"] + 1
            return 2.5 * (b["nir"] - b["red"]) / den
        first, second = {
            "ndvi": ("nir", "red"),
            "ndwi": ("green", "nir"),
            "ndbi": ("swir16", "nir"),
            "nbr": ("nir", "swir22"),
        }[name]
        return (b[first] - b[second]) / (b[first] + b[second])


def denominator(name: str, bands: dict[str, npt.NDArray[Any]]) -> npt.NDArray[np.float64]:
    b = {k: v.astype(np.float64) for k, v in bands.items()}
    if name == "evi":
        return b["nir"] + 6 * b["red"] - 7.5 * b["blue"] + 1
    return np.ones(b["nir"].shape)


def magnitude(name: str, bands: dict[str, npt.NDArray[Any]]) -> npt.NDArray[np.float64]:
    b = {k: np.abs(v.astype(np.float64)) for k, v in bands.items()}
    if name == "evi":
        total: npt.NDArray[np.float64] = b["nir"] + 6 * b["red"] + 7.5 * b["blue"] + 1
        return total
    return np.full(b["nir"].shape, 2.0)


def read(path: Path) -> tuple[npt.NDArray[Any], Any]:
    with rasterio.open(path) as src:
        return src.read(1), src.profile


@pytest.fixture(scope="module")
def six_band(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, npt.NDArray[np.uint16]]:
    return scenes.multiband(tmp_path_factory.mktemp("six"), count=6)


@pytest.mark.parametrize("name", sorted(INDICES))
def test_every_index_matches_numpy(
    name: str, six_band: tuple[Path, npt.NDArray[np.uint16]], tmp_path: Path
) -> None:
    path, dn = six_band
    out = tmp_path / f"{name}.tif"
    result = compute_index(path, name, out, bands=scenes.MAPPING6, workers=2)

    names = ("blue", "green", "red", "nir", "swir16", "swir22")
    bands = {n: scenes.reflectance(dn[i]) for i, n in enumerate(names)}
    expected = expected_index(name, bands)
    values, profile = read(out)
    assert values.dtype == np.float32 and np.isnan(profile["nodata"])
    # Where the float64 denominator is within float32 rounding of 0, float32 gives 0 (NaN) or
    # a huge ratio: those pixels say nothing about the formula and are left out.
    conditioned = np.abs(denominator(name, bands)) > 1e-5
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(np.isnan(values)[conditioned], ~finite[conditioned])
    ok = finite & conditioned
    # float32 rounding of the denominator's terms, relative to the denominator.
    rtol = 4e-7 * (1 + magnitude(name, bands)[ok] / np.abs(denominator(name, bands)[ok]))
    assert np.all(np.abs(values[ok] - expected[ok]) <= rtol * np.abs(expected[ok]) + 1e-6)
    finite = np.isfinite(values)
    # Statistics of the summary, from numpy.
    stats = result.statistics
    assert stats.valid_pixels == int(finite.sum())
    assert stats.nodata_pixels == int((~finite).sum())
    assert stats.mean == pytest.approx(float(values[finite].astype(np.float64).mean()), rel=1e-9)
    assert stats.std == pytest.approx(float(values[finite].astype(np.float64).std()), rel=1e-7)
    assert stats.minimum == float(values[finite].min())
    assert stats.maximum == float(values[finite].max())


def test_blockwise_equals_whole_array_and_keeps_the_grid(tmp_path: Path) -> None:
    """The engine's blocks (3 x 3, ragged edges, 2 workers) give the core function's whole-array
    result bit for bit, and the output is a valid COG on the input's grid."""
    path, dn = scenes.multiband(tmp_path)
    out = tmp_path / "ndvi.tif"
    compute_index(path, "ndvi", out, bands=scenes.MAPPING, workers=2)
    whole = INDICES["ndvi"].compute(
        {"nir": scenes.reflectance(dn[3]), "red": scenes.reflectance(dn[2])}
    )
    values, profile = read(out)
    np.testing.assert_array_equal(values, whole)
    with rasterio.open(path) as src:
        assert profile["crs"] == src.crs and profile["transform"] == src.transform
        assert (profile["width"], profile["height"]) == (src.width, src.height)
    assert cog_validate(str(out), quiet=True) == (True, [], [])
    with rasterio.open(out) as cog:
        assert cog.descriptions == ("ndvi",) and cog.overviews(1) == [2, 4]


def test_one_worker_and_strips_give_the_same_result(tmp_path: Path) -> None:
    path, dn = scenes.multiband(tmp_path, "striped.tif", tiled=False, blockysize=16)
    out = tmp_path / "ndwi.tif"
    compute_index(path, "ndwi", out, bands=scenes.MAPPING, workers=1)
    expected = INDICES["ndwi"].compute(
        {"green": scenes.reflectance(dn[1]), "nir": scenes.reflectance(dn[3])}
    )
    np.testing.assert_array_equal(read(out)[0], expected)


def test_progress_is_monotonic_and_ends_at_one(tmp_path: Path) -> None:
    path, _ = scenes.multiband(tmp_path)
    calls: list[tuple[float, str]] = []
    compute_index(
        path,
        "ndvi",
        tmp_path / "o.tif",
        bands=scenes.MAPPING,
        progress=lambda f, m: calls.append((f, m)),
    )
    fractions = [f for f, _ in calls]
    assert len(fractions) >= 5
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(0 <= f <= 1 for f in fractions) and all(isinstance(m, str) for _, m in calls)


def test_usage_errors(tmp_path: Path) -> None:
    path, _ = scenes.multiband(tmp_path)
    with pytest.raises(InvalidInputError, match="out of range"):
        compute_index(path, "ndvi", tmp_path / "o.tif", bands="red=3,nir=9")
    with pytest.raises(InvalidInputError, match="unknown index"):
        compute_index(path, "ndxi", tmp_path / "o.tif", bands=scenes.MAPPING)
    with pytest.raises(InvalidInputError, match="not named"):
        compute_index(path, "ndvi", tmp_path / "o.tif")
    with pytest.raises(NotFoundError):
        compute_index(tmp_path / "missing.tif", "ndvi", tmp_path / "o.tif", bands=scenes.MAPPING)
    with pytest.raises(InvalidInputError, match="overwrite"):
        compute_index(path, "ndvi", path, bands=scenes.MAPPING)
    with pytest.raises(InvalidInputError, match="folder"):
        compute_index(path, "ndvi", tmp_path / "no" / "o.tif", bands=scenes.MAPPING)
    assert not (tmp_path / "o.tif").exists()
