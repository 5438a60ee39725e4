"""s2cloudless cloud masks for Sentinel-2 L1C, on the real scene with planted clouds
(:mod:`tests.l1c_scene`). Expectations come from calling s2cloudless directly on a stack read
independently with rasterio, and from the planted rectangles."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from typer.testing import CliRunner

from terrascan.cli.app import app
from terrascan.core.clouds import s2cloudless_mask, s2cloudless_probability
from terrascan.engine import detect_clouds
from terrascan.errors import InvalidInputError
from tests.l1c_scene import COARSE, MODEL_BANDS, ORIGIN, write_l1c_scene
from tests.l1c_scene import patch_mask as _patch_mask

s2cloudless = pytest.importorskip("s2cloudless")


@pytest.fixture(scope="module")
def l1c_item(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Sentinel-2 L1C-like item: the real bands with planted clouds, written to tmp."""
    folder = tmp_path_factory.mktemp("l1c")
    path = folder / "item.json"
    path.write_text(json.dumps(write_l1c_scene(fixtures_dir, folder)))
    return path


def _independent_stack(item_path: Path) -> np.ndarray:
    """Every model band averaged (or kept) onto the 600 m grid by rasterio alone."""
    item = json.loads(item_path.read_text())
    layers = []
    for name in MODEL_BANDS:
        with rasterio.open(item["assets"][name]["href"]) as src:
            dn = src.read(1, out_shape=(183, 183), resampling=Resampling.average, masked=True)
        layers.append(np.ma.filled(dn.astype(np.float64) * 1e-4, np.nan))
    return np.stack(layers).astype(np.float32)


def test_probability_matches_s2cloudless_called_directly(l1c_item: Path) -> None:
    stack = _independent_stack(l1c_item)
    detector = s2cloudless.S2PixelCloudDetector(all_bands=False)
    expected = detector.get_cloud_probability_maps(np.moveaxis(stack, 0, -1)[np.newaxis])[0]
    got = s2cloudless_probability(stack)
    valid = np.all(np.isfinite(stack), axis=0)
    np.testing.assert_allclose(got[valid], expected[valid], atol=1e-6)
    assert np.isnan(got[~valid]).all()


def test_mask_finds_planted_clouds_over_desert(l1c_item: Path, tmp_path: Path) -> None:
    result = detect_clouds(l1c_item, tmp_path / "clouds.tif")
    with rasterio.open(tmp_path / "clouds.tif") as src:
        mask = src.read(1)
        assert src.res == pytest.approx((COARSE, COARSE))
        assert (src.transform.c, src.transform.f) == pytest.approx(ORIGIN)
        assert src.nodata == 255
    planted = _patch_mask(mask.shape, 1)
    # the rim of a patch mixes cloud and ground after averaging and dilation
    from scipy.ndimage import binary_dilation

    rim = binary_dilation(planted, iterations=4) & ~planted
    observed = mask != 255
    assert (mask[planted] == 1).mean() > 0.97
    false_alarms = (mask[~planted & ~rim & observed] == 1).mean()
    assert false_alarms < 0.02
    assert result.masked_pixels == int((mask == 1).sum())
    assert result.cloud_fraction == pytest.approx((mask == 1).sum() / observed.sum())


def test_mask_equals_postprocessed_independent_probability(l1c_item: Path, tmp_path: Path) -> None:
    detect_clouds(l1c_item, tmp_path / "clouds.tif")
    with rasterio.open(tmp_path / "clouds.tif") as src:
        mask = src.read(1)
    stack = _independent_stack(l1c_item)
    detector = s2cloudless.S2PixelCloudDetector(
        threshold=0.4, average_over=4, dilation_size=2, all_bands=False
    )
    valid = np.all(np.isfinite(stack), axis=0)
    filled = np.where(valid[..., None], np.moveaxis(stack, 0, -1), 0)
    prob = np.where(valid, detector.get_cloud_probability_maps(filled[np.newaxis])[0], 0)
    expected = detector.get_mask_from_prob(prob[np.newaxis].astype(np.float32))[0]
    agree = (mask[valid] == expected[valid]).mean()
    assert agree > 0.999


def test_cli_applies_the_mask_to_bands_on_their_own_grid(l1c_item: Path, tmp_path: Path) -> None:
    out = tmp_path / "masked.tif"
    run = CliRunner().invoke(
        app,
        ["mask", str(l1c_item), "-o", str(out), "--quality", "s2cloudless",
         "--select", "red,nir", "--json"],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    summary = json.loads(run.output)
    assert summary["quality_band"] == "s2cloudless"
    item = json.loads(l1c_item.read_text())
    with rasterio.open(out) as src:
        assert src.res == pytest.approx((100.0, 100.0))
        masked = src.read()
    with rasterio.open(item["assets"]["red"]["href"]) as src:
        red = src.read(1).astype(np.float32) * np.float32(1e-4)
        red[src.read(1) == 0] = np.nan
    inside = _patch_mask(red.shape, 6)
    assert np.isnan(masked[0][inside]).mean() > 0.97
    clear = ~inside & np.isfinite(masked[0])
    assert clear.mean() > 0.8
    np.testing.assert_allclose(masked[0][clear], red[clear], rtol=1e-6)


def test_bad_parameters_are_usage_errors() -> None:
    with pytest.raises(InvalidInputError):
        s2cloudless_probability(np.zeros((9, 4, 4), np.float32))
    with pytest.raises(InvalidInputError):
        s2cloudless_mask(np.zeros((4, 4), np.float32), threshold=1.5)
    prob = np.full((6, 6), 0.9, np.float32)
    prob[0, 0] = math.nan
    mask = s2cloudless_mask(prob, average_over=0, dilation_size=0)
    assert mask[0, 0] == 255 and (mask.ravel()[1:] == 1).all()
