"""The real Sentinel-2 L2A scene (../shared/fixtures), read through its STAC item."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from terrascan.core.masks import scl_cloud_fraction
from terrascan.engine import compute_index, mask_quality

S2_SCENE = "sentinel2-l2a-S2A_29RKH_20200219"


@pytest.fixture(scope="module")
def s2_item(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Earth Search item with its asset hrefs pointed at the decimated local files."""
    scene = fixtures_dir / S2_SCENE
    item: dict[str, Any] = json.loads((scene / "S2A_29RKH_20200219_0_L2A.json").read_text())
    for asset in item["assets"].values():
        local = scene / asset["href"].rsplit("/", 1)[-1]
        if local.exists():
            asset["href"] = str(local)
    path = tmp_path_factory.mktemp("s2") / "item.json"
    path.write_text(json.dumps(item))
    return path


def test_ndvi_over_the_desert(s2_item: Path, fixtures_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ndvi.tif"
    result = compute_index(s2_item, "ndvi", out)
    scene = fixtures_dir / S2_SCENE
    with rasterio.open(out) as src, rasterio.open(scene / "B04.tif") as b04:
        ndvi = src.read(1)
        assert src.transform == b04.transform and src.crs == b04.crs
        red = b04.read(1).astype(np.float64)
    with rasterio.open(scene / "B08.tif") as b08:
        nir = b08.read(1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = (nir - red) / (nir + red)  # scale 1e-4 and no offset cancel out
    expected[(red == 0) | (nir == 0)] = np.nan
    np.testing.assert_allclose(ndvi, expected, rtol=1e-5, atol=1e-6, equal_nan=True)
    with rasterio.open(scene / "SCL.tif") as scl_src:
        scl = scl_src.read(1).repeat(2, axis=0).repeat(2, axis=1)  # 20 m classes on 10 m
    desert = scl == 5
    assert desert.mean() > 0.5
    median = float(np.nanmedian(ndvi[desert]))
    assert 0.04 <= median <= 0.09
    assert result.statistics.valid_pixels == int(np.isfinite(ndvi).sum())


def test_scl_cloud_fraction(s2_item: Path, fixtures_dir: Path, tmp_path: Path) -> None:
    result = mask_quality(s2_item, tmp_path / "mask.tif")
    with rasterio.open(fixtures_dir / S2_SCENE / "SCL.tif") as src:
        scl = src.read(1)
    # The item says 4.05 % cloud (eo:cloud_cover); SCL classes 8, 9, 10 give 4.06 %.
    assert result.cloud_fraction == pytest.approx(scl_cloud_fraction(scl), abs=1e-12)
    assert result.cloud_fraction is not None and 0.035 < result.cloud_fraction < 0.047
    with rasterio.open(tmp_path / "mask.tif") as mask:
        assert mask.shape == scl.shape and mask.res == (200.0, 200.0)
        assert int((mask.read(1) == 1).sum()) == int(np.isin(scl, [3, 8, 9, 10]).sum())
