"""Small generated scenes for the engine tests, each named after what it exercises.

Sizes are chosen so that a run has several blocks and ragged right and bottom edges (blocks are
512 x 512); every helper returns the paths and the arrays it wrote, so tests compute expected
values with numpy from those arrays.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tests.io import synthetic

#: 4 bands in this order in the multi-band scenes.
BAND_ORDER = ("blue", "green", "red", "nir")
MAPPING = "blue=1,green=2,red=3,nir=4"
#: A mapping string for the 6-band scenes (adds swir16, swir22).
MAPPING6 = "blue=1,green=2,red=3,nir=4,swir16=5,swir22=6"
ROWS, COLS = 1100, 1300  # 3 x 3 blocks with ragged edges


def reflectance_bands(
    seed: int, count: int = 4, rows: int = ROWS, cols: int = COLS
) -> npt.NDArray[np.uint16]:
    """``count`` smooth uint16 bands (DN = reflectance x 10000) with a few nodata (0) pixels."""
    data = np.stack([synthetic.smooth_field(rows, cols, seed * 10 + i) for i in range(count)])
    data[:, 5:9, 17:40] = 0  # nodata run inside the first block
    data[:, rows - 3 :, cols - 50 :] = 0  # and in the ragged corner block
    return data


def multiband(tmp_path: Path, name: str = "scene.tif", seed: int = 1, count: int = 4,
              **kw: Any) -> tuple[Path, npt.NDArray[np.uint16]]:  # fmt: skip
    """``scene.tif``: ``count`` uint16 bands, nodata 0, 256-pixel tiles, scale 1e-4."""
    data = reflectance_bands(seed, count)
    path = synthetic.write_raster(
        tmp_path / name, data, nodata=0, scales=[1e-4] * count, offsets=[0.0] * count, **kw
    )
    return path, data


def changed_pair(
    tmp_path: Path, count: int = 4
) -> tuple[Path, Path, npt.NDArray[Any], npt.NDArray[Any]]:
    """``before.tif`` / ``after.tif``: the same scene, with vegetation lost in a rectangle that
    spans block edges (red up, nir down) and noise everywhere else."""
    before = reflectance_bands(2, count)
    after = before.astype(np.int32)
    rng = np.random.default_rng(5)
    after += rng.integers(-60, 60, after.shape)
    after[2, 400:700, 450:900] += 900
    after[3, 400:700, 450:900] -= 900
    after = np.clip(after, 1, 10000).astype(np.uint16)
    after[before == 0] = 0
    kw: dict[str, Any] = {"nodata": 0, "scales": [1e-4] * count, "offsets": [0.0] * count}
    b = synthetic.write_raster(tmp_path / "before.tif", before, **kw)
    a = synthetic.write_raster(tmp_path / "after.tif", after, **kw)
    return b, a, before, after


def reflectance(dn: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """DN x 1e-4 as float32, NaN where DN is 0 (the readers' convention)."""
    values = dn.astype(np.float32) * np.float32(1e-4)
    values[dn == 0] = np.nan
    return values


def polygon(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def zones_file(path: Path, features: list[dict[str, Any]], crs: str | None = None) -> Path:
    collection: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if crs is not None:
        collection["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(collection))
    return path
