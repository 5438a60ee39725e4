"""A Sentinel-2 L1C-like scene for cloud-mask tests: the real Sentinel-2 scene's bands (a bright
desert, the hardest background for a brightness-based detector) with thick clouds planted in
known rectangles, plus a cirrus band (B10, absent from L2A products) at clear-sky level outside
them. Files are written to a temporary folder; the fixtures are only read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

SCENE = "sentinel2-l2a-S2A_29RKH_20200219"
# asset key (common name) -> the fixture file's band id, in s2cloudless's order
MODEL_BANDS = {
    "coastal": "B01",
    "blue": "B02",
    "red": "B04",
    "rededge1": "B05",
    "nir": "B08",
    "nir08": "B8A",
    "nir09": "B09",
    "cirrus": "B10",
    "swir16": "B11",
    "swir22": "B12",
}
# Thick-cloud top-of-atmosphere reflectance per model band (typical of optically thick cloud).
CLOUD = np.array([0.45, 0.48, 0.50, 0.52, 0.55, 0.55, 0.35, 0.08, 0.38, 0.26])
CLEAR_CIRRUS = 0.002
ORIGIN = (199980.0, 2800020.0)  # EPSG:32629, shared by every band
COARSE = 600.0  # the fixture's B01 pixel (decimated 10x from 60 m)
# Planted clouds in pixels of the 600 m grid (rows, cols).
PATCHES = [(slice(40, 60), slice(60, 100)), (slice(120, 150), slice(20, 45))]


def patch_mask(shape: tuple[int, int], scale: int) -> np.ndarray:
    """The planted clouds on a grid ``scale`` times finer than the 600 m one."""
    mask = np.zeros(shape, bool)
    for rows, cols in PATCHES:
        mask[rows.start * scale : rows.stop * scale, cols.start * scale : cols.stop * scale] = True
    return mask


def write_l1c_scene(fixtures_dir: Path, folder: Path) -> dict[str, Any]:
    """Write the band files into ``folder`` and return the STAC item (absolute local hrefs)."""
    scene = fixtures_dir / SCENE
    assets = {}
    for index, (name, band_id) in enumerate(MODEL_BANDS.items()):
        source = scene / ("B01.tif" if band_id == "B10" else f"{band_id}.tif")
        with rasterio.open(source) as src:
            profile = src.profile
            dn = src.read(1).astype(np.float64)
            scale = round(COARSE / src.res[0])
        if band_id == "B10":
            dn = np.where(dn > 0, CLEAR_CIRRUS * 10000, 0)
        inside = patch_mask(dn.shape, scale)
        dn[inside] = 0.2 * dn[inside] + 0.8 * CLOUD[index] * 10000
        path = folder / f"{band_id}.tif"
        profile.update(driver="GTiff")
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(np.round(dn).astype(profile["dtype"]), 1)
        assets[name] = {
            "href": str(path),
            "type": "image/tiff; application=geotiff",
            "roles": ["data"],
            "raster:bands": [{"scale": 0.0001, "offset": 0, "nodata": 0}],
        }
    item: dict[str, Any] = json.loads((scene / "S2A_29RKH_20200219_0_L2A.json").read_text())
    item.update(collection="sentinel-2-l1c", assets=assets, links=[])
    item["properties"].pop("proj:shape", None)
    item["properties"].pop("proj:transform", None)
    return item
