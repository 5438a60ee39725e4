"""COG writer: validity, exact round trips, overviews, metadata, streaming, conversion."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_validate

from terrascan.errors import InvalidInputError, TooLargeError, UnsupportedFormatError
from terrascan.io.cog import (
    CogWriter,
    convert_to_cog,
    overview_factors,
    write_cog,
    write_raster_cog,
)
from terrascan.io.grid import Grid
from terrascan.io.raster import Raster

from . import synthetic

TRANSFORM = synthetic.utm_transform(10.0)


def assert_valid_cog(path: Path) -> None:
    valid, errors, warnings = cog_validate(str(path), quiet=True)
    assert valid and errors == [] and warnings == [], (errors, warnings)


def nanmean_2x2(a: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Independent 2 x 2 block mean ignoring NaN (odd edges padded with NaN)."""
    rows, cols = a.shape
    padded = np.full((rows + rows % 2, cols + cols % 2), np.nan)
    padded[:rows, :cols] = a
    cells = padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2)
    total = np.nansum(cells, axis=(1, 3))
    count = (~np.isnan(cells)).sum(axis=(1, 3))
    out = np.full(total.shape, np.nan)
    np.divide(total, count, out=out, where=count > 0)
    return out


def read_overview(path: Path, level: int) -> npt.NDArray[Any]:
    with rasterio.open(path, OVERVIEW_LEVEL=level) as ovr:
        data: npt.NDArray[Any] = ovr.read()
    return data


def uint16_bands(rows: int = 1000, cols: int = 1100) -> npt.NDArray[np.uint16]:
    data = np.stack([synthetic.smooth_field(rows, cols, seed) for seed in (1, 2, 3)])
    data[:, :7, :] = 0
    return data


def test_overview_factors() -> None:
    assert overview_factors(512, 512) == []
    assert overview_factors(513, 100) == [2]
    assert overview_factors(1098, 1098) == [2, 4]
    assert overview_factors(10980, 10980) == [2, 4, 8, 16, 32]


def test_uint16_round_trip_is_exact(tmp_path: Path) -> None:
    data = uint16_bands()
    out = write_cog(
        tmp_path / "u16.tif",
        data,
        transform=TRANSFORM,
        crs="EPSG:32629",
        nodata=0,
        band_names=["red", "green", "nir"],
    )
    assert_valid_cog(out)
    with rasterio.open(out) as cog:
        np.testing.assert_array_equal(cog.read(), data)
        assert cog.dtypes == ("uint16",) * 3 and cog.nodata == 0
        assert cog.descriptions == ("red", "green", "nir")
        assert cog.transform == TRANSFORM and cog.crs.to_epsg() == 32629
        assert cog.overviews(1) == [2, 4]
        assert cog.block_shapes[0] == (512, 512)
        structure = cog.tags(ns="IMAGE_STRUCTURE")
        assert structure["COMPRESSION"] == "ZSTD" and structure["PREDICTOR"] == "2"
        assert structure["INTERLEAVE"] == "BAND"
    # The first overview is the nodata-aware 2 x 2 mean, rounded.
    expected = nanmean_2x2(np.where(data[1] == 0, np.nan, data[1].astype(float)))
    np.testing.assert_array_equal(read_overview(out, 0)[1], np.nan_to_num(np.floor(expected + 0.5)))


def test_float32_nan_round_trip_and_overviews(tmp_path: Path) -> None:
    data = synthetic.smooth_field(1300, 1100, seed=4).astype(np.float32) / 7.0
    data[100:300, 50:90] = np.nan
    data[1299, :] = np.nan
    raster = Raster(data, TRANSFORM, "EPSG:32629", ["ndvi"])
    out = write_raster_cog(tmp_path / "ndvi.tif", raster)
    assert_valid_cog(out)
    with rasterio.open(out) as cog:
        assert cog.dtypes == ("float32",) and math.isnan(cog.nodata)
        assert cog.descriptions == ("ndvi",)
        assert cog.overviews(1) == [2, 4]
        np.testing.assert_array_equal(cog.read(1), data)  # NaN positions included
        assert cog.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "3"
    expected = nanmean_2x2(data.astype(np.float64))
    np.testing.assert_allclose(read_overview(out, 0)[0], expected, rtol=1e-6, equal_nan=True)
    level2 = read_overview(out, 1)[0]
    assert level2.shape == (325, 275)
    np.testing.assert_allclose(level2[:-1], nanmean_2x2(expected)[:-1], rtol=1e-5, equal_nan=True)


def test_block_stream_on_disk_in_any_order(tmp_path: Path) -> None:
    data = uint16_bands(1200, 1300)
    grid = Grid("EPSG:32629", TRANSFORM, 1300, 1200)
    out = tmp_path / "streamed.tif"
    with CogWriter(
        out,
        grid=grid,
        count=3,
        dtype="uint16",
        nodata=0,
        band_names=["red", "green", "nir"],
        memory_limit=0,  # stage on disk, as for outputs larger than memory
    ) as writer:
        windows = list(writer.block_windows())
        assert windows[0] == Window(0, 0, 512, 512) and len(windows) == 9
        random.Random(0).shuffle(windows)
        for w in windows:
            writer.write(
                data[:, w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width], w
            )
    assert_valid_cog(out)
    with rasterio.open(out) as cog:
        np.testing.assert_array_equal(cog.read(), data)
        assert cog.overviews(1) == [2, 4]
    expected = nanmean_2x2(np.where(data[0] == 0, np.nan, data[0].astype(float)))
    np.testing.assert_array_equal(read_overview(out, 0)[0], np.nan_to_num(np.floor(expected + 0.5)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["streamed.tif"]  # no staging left


def test_unaligned_blocks_fall_back_to_gdal_overviews(tmp_path: Path) -> None:
    data = synthetic.smooth_field(700, 900, seed=8).astype(np.float32)
    grid = Grid("EPSG:32629", TRANSFORM, 900, 700)
    out = tmp_path / "odd_blocks.tif"
    with CogWriter(out, grid=grid, count=1, dtype="float32", nodata=math.nan) as writer:
        for w in grid.block_windows((333, 301)):
            writer.write(data[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width], w)
    assert_valid_cog(out)
    with rasterio.open(out) as cog:
        np.testing.assert_array_equal(cog.read(1), data)
        assert cog.overviews(1) == [2]


def test_deflate_and_pixel_interleave(tmp_path: Path) -> None:
    data = uint16_bands(600, 600)
    out = write_cog(
        tmp_path / "deflate.tif",
        data,
        transform=TRANSFORM,
        crs="EPSG:32629",
        nodata=0,
        compress="deflate",
        interleave="pixel",
    )
    assert_valid_cog(out)
    with rasterio.open(out) as cog:
        structure = cog.tags(ns="IMAGE_STRUCTURE")
        assert structure["COMPRESSION"] == "DEFLATE" and structure["PREDICTOR"] == "2"
        assert structure["INTERLEAVE"] == "PIXEL"
        np.testing.assert_array_equal(cog.read(), data)


def test_small_raster_has_no_overviews(tmp_path: Path) -> None:
    data = np.arange(200 * 300, dtype=np.uint8).reshape(200, 300)
    out = write_cog(tmp_path / "small.tif", data, transform=TRANSFORM, crs="EPSG:4326")
    assert_valid_cog(out)
    with rasterio.open(out) as cog:
        assert cog.overviews(1) == [] and cog.crs.to_epsg() == 4326
        np.testing.assert_array_equal(cog.read(1), data)


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    grid = Grid("EPSG:32629", TRANSFORM, 600, 600)
    out = tmp_path / "never.tif"
    with (
        pytest.raises(RuntimeError),
        CogWriter(out, grid=grid, count=1, dtype="uint8", memory_limit=0) as w,
    ):
        w.write(np.ones((512, 512), np.uint8), Window(0, 0, 512, 512))
        raise RuntimeError("the engine failed")
    assert list(tmp_path.iterdir()) == []


def test_writer_rejects_bad_blocks(tmp_path: Path) -> None:
    grid = Grid("EPSG:32629", TRANSFORM, 100, 100)
    with CogWriter(tmp_path / "x.tif", grid=grid, count=2, dtype="uint8") as writer:
        with pytest.raises(InvalidInputError, match="does not fit"):
            writer.write(np.ones((1, 10, 10), np.uint8), Window(0, 0, 10, 10))
        with pytest.raises(InvalidInputError, match="outside"):
            writer.write(np.ones((2, 10, 10), np.uint8), Window(95, 0, 10, 10))
        with pytest.raises(InvalidInputError, match="cannot write float"):
            writer.write(np.ones((2, 10, 10), np.float32), Window(0, 0, 10, 10))
    with pytest.raises(InvalidInputError, match="compression"):
        CogWriter(tmp_path / "y.tif", grid=grid, count=1, dtype="uint8", compress="lzw")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="EPSG"):
        write_cog(tmp_path / "z.tif", np.ones((4, 4)), transform=TRANSFORM, crs="+init=epsg:4326")
    with pytest.raises(InvalidInputError, match="not a valid uint16"):
        CogWriter(tmp_path / "n.tif", grid=grid, count=1, dtype="uint16", nodata=-9999)
    with pytest.raises(InvalidInputError, match="not a valid uint8"):
        CogWriter(tmp_path / "n.tif", grid=grid, count=1, dtype="uint8", nodata=math.nan)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tif"]


def test_convert_landsat_rgb(tmp_path: Path, fixtures_dir: Path) -> None:
    src_path = fixtures_dir / "landsat7-rgb-byte" / "RGB.byte.tif"
    out = convert_to_cog(src_path, tmp_path / "rgb_cog.tif")
    assert_valid_cog(out)
    with rasterio.open(src_path) as src, rasterio.open(out) as cog:
        np.testing.assert_array_equal(cog.read(), src.read())
        assert cog.crs == src.crs and cog.transform == src.transform
        assert cog.nodata == src.nodata == 0 and cog.dtypes == src.dtypes
        assert cog.colorinterp == src.colorinterp
        assert cog.overviews(1) == [2] and cog.block_shapes[0] == (512, 512)


def test_convert_refuses_disguised_and_huge_inputs(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFormatError):
        convert_to_cog(synthetic.png_named_tif(tmp_path), tmp_path / "a.tif")
    with pytest.raises(TooLargeError):
        convert_to_cog(synthetic.huge_sparse(tmp_path), tmp_path / "b.tif")
    assert not (tmp_path / "a.tif").exists() and not (tmp_path / "b.tif").exists()


def test_convert_striped_float_with_descriptions(tmp_path: Path) -> None:
    data = np.random.default_rng(1).normal(size=(2, 900, 800)).astype(np.float32)
    data[0, :5] = -9999.0
    src = synthetic.write_raster(
        tmp_path / "striped_float.tif",
        data,
        nodata=-9999.0,
        tiled=False,
        descriptions=["red", "nir"],
        transform=Affine(30, 0, 300000, 0, -30, 4000000),
    )
    out = convert_to_cog(src, tmp_path / "striped_float_cog.tif", compress="deflate")
    assert_valid_cog(out)
    with rasterio.open(out) as cog:
        np.testing.assert_array_equal(cog.read(), data)
        assert cog.nodata == -9999.0 and cog.descriptions == ("red", "nir")
        assert cog.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "3"
    level1 = read_overview(out, 0)[0]
    expected = nanmean_2x2(np.where(data[0] == -9999.0, np.nan, data[0]).astype(np.float64))
    np.testing.assert_allclose(level1, np.nan_to_num(expected, nan=-9999.0), rtol=1e-5, atol=1e-6)
