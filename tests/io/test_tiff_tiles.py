"""The GDAL-free tile decoder and the one-pass DN -> float conversion give exactly what GDAL and
the numpy expression give, and refuse what they cannot decode."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from terrascan.io._convert import dn_to_float
from terrascan.io.cog import _decimate
from terrascan.io.cog_stream import _halve
from terrascan.io.tiff_tiles import TiffTiles

from . import synthetic

WINDOWS = (Window(0, 0, 900, 700), Window(512, 512, 388, 188), Window(100, 37, 300, 250))
VARIANTS = [
    (dtype, compress, predictor, bigtiff)
    for dtype, compress, predictor, bigtiff in itertools.product(
        ("uint8", "uint16", "int16", "float32", "float64"),
        ("none", "zstd", "deflate"),
        (1, 2, 3),
        ("NO", "YES"),
    )
    if not (compress == "none" and predictor != 1)
    and not (predictor == 3 and not dtype.startswith("float"))
    and not (predictor == 2 and dtype.startswith("float"))
]


def write(path: Path, data: Any, **options: Any) -> Path:
    return synthetic.write_raster(path, data, interleave="band", **options)


@pytest.mark.parametrize(("dtype", "compress", "predictor", "bigtiff"), VARIANTS)
def test_tiles_decode_as_gdal_reads(
    dtype: str, compress: str, predictor: int, bigtiff: str, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(100, 40, (2, 700, 900)).astype(dtype)
    options: dict[str, Any] = {"compress": compress, "bigtiff": bigtiff, "nodata": 0}
    if predictor != 1:
        options["predictor"] = predictor
    path = write(tmp_path / "t.tif", data, blocksize=256, **options)
    with rasterio.open(path) as src:
        for band in (1, 2):
            tiles = TiffTiles.open(str(path), band, src.nodata)
            assert tiles is not None
            for window in WINDOWS:
                np.testing.assert_array_equal(tiles.read(window), src.read(band, window=window))
            tiles.close()


def test_what_it_cannot_decode_goes_to_gdal(tmp_path: Path) -> None:
    data = np.ones((2, 300, 300), np.uint16)
    lzw = write(tmp_path / "lzw.tif", data, compress="lzw")
    pixel = synthetic.write_raster(tmp_path / "pixel.tif", data, interleave="pixel",
                                   compress="zstd")  # fmt: skip
    strips = write(tmp_path / "strips.tif", data, tiled=False)
    for path in (lzw, pixel, strips, tmp_path / "missing.tif"):
        assert TiffTiles.open(str(path), 1, None) is None
    assert TiffTiles.open("/vsimem/x.tif", 1, None) is None


def test_sparse_tiles_read_as_nodata(tmp_path: Path) -> None:
    path = tmp_path / "sparse.tif"
    profile = {"driver": "GTiff", "width": 600, "height": 600, "count": 1, "dtype": "uint16",
               "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "zstd",
               "sparse_ok": True, "nodata": 7, "crs": "EPSG:32629",
               "transform": synthetic.utm_transform(10)}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((1, 256, 256), 3, np.uint16), window=Window(256, 0, 256, 256))
    with rasterio.open(path) as src:
        tiles = TiffTiles.open(str(path), 1, src.nodata)
        assert tiles is not None
        np.testing.assert_array_equal(tiles.read(Window(0, 0, 600, 600)), src.read(1))


@pytest.mark.parametrize(
    ("dtype", "nodata", "scale", "offset"),
    [("uint16", 0.0, 1e-4, -0.1), ("uint16", None, 2.75e-5, -0.2), ("int16", -9999.0, 1.0, 0.0),
     ("float32", math.nan, 1.0, 0.0), ("float64", -1.0, 0.5, 3.0), ("uint8", 255.0, 1.0, 1.0)],
)  # fmt: skip
def test_one_pass_conversion_equals_numpy(
    dtype: str, nodata: float | None, scale: float, offset: float
) -> None:
    rng = np.random.default_rng(1)
    raw = (rng.random((300, 400)) * 250).astype(dtype)
    if nodata is not None:
        raw.reshape(-1)[::11] = nodata
    expected = raw.astype(np.float32)
    invalid = None
    if nodata is not None:
        invalid = np.isnan(expected) if math.isnan(nodata) else raw == nodata
    if scale != 1.0:
        expected *= np.float32(scale)
    if offset != 0.0:
        expected += np.float32(offset)
    if invalid is not None:
        expected[invalid] = np.nan
    got = dn_to_float(raw, nodata, scale, offset)
    assert got is not None
    np.testing.assert_array_equal(got, expected)


def test_overview_halving_equals_the_cog_writers() -> None:
    rng = np.random.default_rng(2)
    for dtype, nodata in (("float32", math.nan), ("uint16", 0.0), ("int16", None)):
        block = (rng.random((2, 229, 117)) * 100).astype(dtype)
        if dtype == "float32":
            block[0, ::3, ::2] = np.nan
        elif nodata is not None:
            block.reshape(-1)[::7] = int(nodata)
        np.testing.assert_array_equal(
            _halve(block, nodata, "average"), _decimate(block, nodata, "average")
        )


@pytest.mark.parametrize(
    ("dtype", "compress", "predictor"),
    [("uint16", "zstd", 2), ("uint16", "deflate", 1), ("int16", "zstd", 2), ("uint8", "none", 1),
     ("float32", "zstd", 3), ("uint32", "deflate", 2)],
)  # fmt: skip
def test_decoding_to_float_in_one_pass(
    dtype: str, compress: str, predictor: int, tmp_path: Path
) -> None:
    """read_float equals GDAL's read followed by the numpy conversion, sparse tiles included."""
    rng = np.random.default_rng(3)
    data = (rng.random((1, 700, 900)) * 250).astype(dtype)
    data[0, :40, :40] = 5
    options: dict[str, Any] = {"compress": compress, "nodata": 5, "sparse_ok": True}
    if predictor != 1:
        options["predictor"] = predictor
    path = write(tmp_path / "f.tif", data, blocksize=256, **options)
    with rasterio.open(path, "r+") as dst:  # make the last tile sparse
        dst.write(np.full((1, 188, 132), 5, dtype), window=Window(768, 512, 132, 188))
    with rasterio.open(path) as src:
        tiles = TiffTiles.open(str(path), 1, src.nodata)
        assert tiles is not None
        for window in (*WINDOWS, Window(768, 512, 132, 188)):
            raw = src.read(1, window=window)
            for nodata, scale, offset in ((5.0, 1e-4, -0.1), (None, 1.0, 0.0)):
                expected = raw.astype(np.float32)
                if scale != 1.0:
                    expected *= np.float32(scale)
                if offset != 0.0:
                    expected += np.float32(offset)
                if nodata is not None:
                    expected[raw == nodata] = np.nan
                got = tiles.read_float(window, nodata, scale, offset)
                np.testing.assert_array_equal(got, expected)
