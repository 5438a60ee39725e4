"""Small generated rasters for the io tests, each named after the quirk it exercises.

Every helper writes into a folder the test owns (``tmp_path``) and returns the path(s) plus
the arrays it wrote, so tests compute expected values from those arrays in numpy.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning

import terrascan  # noqa: F401  (safe GDAL defaults before rasterio is used)

CRS = "EPSG:32629"
#: Upper-left corner shared by every synthetic raster (UTM 29N, as the real Sentinel-2 tile).
ORIGIN = (199980.0, 2800020.0)


def utm_transform(res: float, origin: tuple[float, float] = ORIGIN) -> Affine:
    return Affine(res, 0.0, origin[0], 0.0, -res, origin[1])


def smooth_field(
    rows: int, cols: int, seed: int, low: int = 500, high: int = 4000
) -> npt.NDArray[np.uint16]:
    """A smooth random uint16 field (so bilinear and nearest differ), values in [low, high]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols]
    field = np.sin(x / 7.0 + rng.uniform(0, 6)) + np.cos(y / 5.0 + rng.uniform(0, 6))
    field += rng.normal(0, 0.3, (rows, cols))
    scaled = (field - field.min()) / (field.max() - field.min())
    result: npt.NDArray[np.uint16] = (low + scaled * (high - low)).round().astype(np.uint16)
    return result


def write_raster(
    path: Path,
    data: npt.NDArray[Any],
    *,
    transform: Affine | None = None,
    crs: str | None = CRS,
    nodata: float | None = None,
    descriptions: Sequence[str | None] | None = None,
    tiled: bool = True,
    blocksize: int = 256,
    scales: Sequence[float] | None = None,
    offsets: Sequence[float] | None = None,
    **extra: Any,
) -> Path:
    """Write a (band, row, col) array as a GeoTIFF at ``path``."""
    array = data if data.ndim == 3 else data[np.newaxis]
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "count": array.shape[0],
        "height": array.shape[1],
        "width": array.shape[2],
        "dtype": array.dtype.name,
        "crs": crs,
        "transform": transform if transform is not None else utm_transform(10.0),
        "nodata": nodata,
        **extra,
    }
    if tiled:
        profile |= {"tiled": True, "blockxsize": blocksize, "blockysize": blocksize}
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        if crs is None:  # deliberately not georeferenced
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            profile.pop("transform")
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(array)
            if descriptions:
                for i, name in enumerate(descriptions, start=1):
                    if name:
                        dst.set_band_description(i, name)
            if scales is not None:
                dst.scales = tuple(scales)
            if offsets is not None:
                dst.offsets = tuple(offsets)
    return path


def nodata_edges(tmp_path: Path, border: int = 10) -> tuple[Path, npt.NDArray[np.uint16]]:
    """``nodata_edges.tif``: 4 bands (blue, green, red, nir order), 300 x 200, 10 m, uint16,
    with a ``border``-pixel frame of nodata 0 around valid data."""
    rows, cols = 200, 300
    data = np.stack([smooth_field(rows, cols, seed) for seed in range(4)])
    data[:, :border, :] = 0
    data[:, -border:, :] = 0
    data[:, :, :border] = 0
    data[:, :, -border:] = 0
    path = write_raster(tmp_path / "nodata_edges.tif", data, nodata=0)
    return path, data


def described(tmp_path: Path) -> tuple[Path, npt.NDArray[np.uint16]]:
    """``described.tif``: 3 bands whose descriptions name them ("nir", "B04", "red" order is
    nir, Sentinel-2 band id of red, none)."""
    data = np.stack([smooth_field(64, 80, seed) for seed in (10, 11, 12)])
    path = write_raster(tmp_path / "described.tif", data, descriptions=["nir", "B04", None])
    return path, data


def striped(tmp_path: Path) -> tuple[Path, npt.NDArray[np.uint8]]:
    """``striped.tif``: untiled, 8 rows per strip, 3 bands uint8, 700 x 1300."""
    rng = np.random.default_rng(7)
    data = rng.integers(1, 255, (3, 1300, 700), dtype=np.uint8)
    path = write_raster(tmp_path / "striped.tif", data, tiled=False, blockysize=8)
    return path, data


def two_resolutions(tmp_path: Path) -> dict[str, Any]:
    """``two_resolutions/``: a Sentinel-2-like item with red at 10 m (200 x 200), swir16 and
    scl at 20 m (100 x 100), same origin, 64 x 64 tiles, nodata 0, and ``item.json`` with
    relative hrefs and ``raster:bands`` scale 1e-4 / offset -0.1 (baseline 05.00)."""
    folder = tmp_path / "two_resolutions"
    red = smooth_field(200, 200, seed=1)
    red[0:4, 0:4] = 0
    swir = smooth_field(100, 100, seed=2)
    swir[50:52, 50:52] = 0
    scl = np.random.default_rng(3).integers(1, 12, (100, 100)).astype(np.uint8)
    for name, array, res in (("B04", red, 10.0), ("B11", swir, 20.0), ("SCL", scl, 20.0)):
        write_raster(
            folder / f"{name}.tif", array, transform=utm_transform(res), nodata=0, blocksize=64
        )
    item = stac_item(
        {"red": "B04.tif", "swir16": "B11.tif", "scl": "SCL.tif"},
        scale=1e-4,
        offset=-0.1,
        baseline="05.00",
    )
    (folder / "item.json").write_text(json.dumps(item))
    return {"folder": folder, "item": folder / "item.json", "red": red, "swir16": swir, "scl": scl}


def stac_item(
    hrefs: dict[str, str],
    *,
    scale: float | None,
    offset: float | None,
    baseline: str = "05.00",
    collection: str = "sentinel-2-l2a",
) -> dict[str, Any]:
    """A minimal STAC item with one asset per band; ``scale``/``offset`` ``None`` leave them
    out of ``raster:bands`` (so profile defaults apply)."""
    assets: dict[str, Any] = {}
    for key, href in hrefs.items():
        band: dict[str, Any] = {"nodata": 0, "data_type": "uint16"}
        if key != "scl":
            if scale is not None:
                band["scale"] = scale
            if offset is not None:
                band["offset"] = offset
        assets[key] = {
            "href": href,
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "roles": ["data"],
            "raster:bands": [band],
        }
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": "synthetic",
        "collection": collection,
        "properties": {"s2:processing_baseline": baseline, "datetime": "2024-01-01T00:00:00Z"},
        "geometry": None,
        "assets": assets,
        "links": [],
    }


def huge_sparse(tmp_path: Path, size: int = 100_000) -> Path:
    """``huge_sparse.tif``: a header claiming ``size`` x ``size`` pixels with no pixel written
    (a few hundred KB of empty tile indexes)."""
    path = tmp_path / "huge_sparse.tif"
    profile = {
        "driver": "GTiff",
        "count": 1,
        "height": size,
        "width": size,
        "dtype": "uint8",
        "crs": CRS,
        "transform": utm_transform(10.0),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "sparse_ok": True,
        "bigtiff": "YES",
    }
    with rasterio.open(path, "w", **profile):
        pass
    return path


def png_named_tif(tmp_path: Path) -> Path:
    """``png_named.tif``: a PNG file with a .tif name."""
    path = tmp_path / "png_named.tif"
    data = np.arange(64, dtype=np.uint8).reshape(1, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(
            path, "w", driver="PNG", count=1, height=8, width=8, dtype="uint8"
        ) as dst:
            dst.write(data)
    return path


def vrt_named_tif(tmp_path: Path, target: Path) -> Path:
    """``vrt_named.tif``: a VRT (XML) that would read ``target`` as its pixels, named .tif."""
    path = tmp_path / "vrt_named.tif"
    path.write_text(
        '<VRTDataset rasterXSize="8" rasterYSize="8">'
        '<VRTRasterBand dataType="Byte" band="1"><SimpleSource>'
        f'<SourceFilename relativeToVRT="0">{target}</SourceFilename>'
        "<SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>"
    )
    return path
