"""The streaming COG writer: exact round trips in any block order, overviews, metadata, the
TIFF variants it can produce (BigTIFF, DEFLATE, no georeferencing), validity and clean-up."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rio_cogeo.cogeo import cog_validate

from terrascan.errors import InvalidInputError
from terrascan.io import cog_stream
from terrascan.io.cog_stream import StreamingCogWriter
from terrascan.io.grid import Grid

from . import synthetic
from .test_cog import nanmean_2x2

TRANSFORM = synthetic.utm_transform(10.0)


def grid(width: int, height: int) -> Grid:
    return Grid("EPSG:32629", TRANSFORM, width, height)


def write_shuffled(writer: StreamingCogWriter, data: npt.NDArray[Any], seed: int = 0) -> None:
    windows = list(writer.block_windows())
    random.Random(seed).shuffle(windows)
    for w in windows:
        r, c = int(w.row_off), int(w.col_off)
        writer.write(data[:, r : r + int(w.height), c : c + int(w.width)], w)


def assert_valid(path: Path) -> None:
    assert cog_validate(str(path), quiet=True) == (True, [], [])


@pytest.mark.parametrize(
    ("dtype", "nodata"),
    [("uint16", 0), ("float32", math.nan), ("uint8", 255), ("int16", -9999), ("float64", None)],
)
def test_round_trip_in_any_order(dtype: str, nodata: float | None, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    data = (rng.normal(100, 30, (2, 1100, 1300))).astype(dtype)
    if np.issubdtype(np.dtype(dtype), np.floating):
        data[0, :7, :9] = np.nan
    path = tmp_path / f"{dtype}.tif"
    with StreamingCogWriter(path, grid=grid(1300, 1100), count=2, dtype=dtype, nodata=nodata,
                            band_names=["a", "b"], tags={"k": "v"}) as writer:  # fmt: skip
        write_shuffled(writer, data)
    assert_valid(path)
    with rasterio.open(path) as src:
        np.testing.assert_array_equal(src.read(), data)
        assert src.dtypes == (dtype, dtype) and src.descriptions == ("a", "b")
        assert src.crs == "EPSG:32629" and src.transform == TRANSFORM
        assert src.tags()["k"] == "v" and src.block_shapes[0] == (512, 512)
        assert src.profile["compress"] == "zstd" and src.profile["interleave"] == "band"
        if nodata is None or not math.isnan(nodata):
            assert src.nodata == nodata
        else:
            assert math.isnan(src.nodata)
        assert src.overviews(1) == [2, 4]


def test_overviews_average_valid_pixels(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    data = rng.random((1, 1030, 2100)).astype(np.float32)
    data[0, 100:300, 200:260] = np.nan
    path = tmp_path / "ovr.tif"
    with StreamingCogWriter(path, grid=grid(2100, 1030), count=1, dtype="float32",
                            nodata=math.nan) as writer:  # fmt: skip
        write_shuffled(writer, data, seed=3)
    with rasterio.open(path, OVERVIEW_LEVEL=0) as level1:
        expected = nanmean_2x2(data[0])
        np.testing.assert_allclose(level1.read(1), expected, rtol=1e-6, equal_nan=True)
    with rasterio.open(path, OVERVIEW_LEVEL=1) as level2:
        np.testing.assert_allclose(
            level2.read(1), nanmean_2x2(expected.astype(np.float32)), rtol=1e-5, equal_nan=True
        )
    with rasterio.open(path) as src:
        assert src.overviews(1) == [2, 4, 8]


def test_missing_blocks_read_as_nodata(tmp_path: Path) -> None:
    data = np.full((1, 1100, 1100), 7, np.uint8)
    path = tmp_path / "sparse.tif"
    with StreamingCogWriter(path, grid=grid(1100, 1100), count=1, dtype="uint8", nodata=0,
                            overview_resampling="nearest") as writer:  # fmt: skip
        for w in list(writer.block_windows())[1:]:  # the first tile is never written
            writer.write(data[:, : int(w.height), : int(w.width)], w)
    assert_valid(path)
    with rasterio.open(path) as src:
        values = src.read(1)
        assert (values[:512, :512] == 0).all() and (values[512:, :] == 7).all()
        overview = src.read(1, out_shape=(550, 550))
        assert (overview[300:, :] == 7).all()


def test_bigtiff_deflate_and_copy_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rarely taken paths: BigTIFF (forced here with a tiny limit), DEFLATE, and the copy
    used where the file system cannot insert a range in place."""
    monkeypatch.setattr(cog_stream, "_CLASSIC_LIMIT", 1000)
    monkeypatch.setattr(cog_stream, "_insert_range", lambda fd, length: False)
    data = synthetic.smooth_field(700, 900, 4)[np.newaxis]
    path = tmp_path / "big.tif"
    with StreamingCogWriter(path, grid=grid(900, 700), count=1, dtype="uint16", nodata=0,
                            compress="deflate") as writer:  # fmt: skip
        write_shuffled(writer, data)
    assert path.read_bytes()[:4] == b"II+\x00"
    assert_valid(path)
    with rasterio.open(path) as src:
        np.testing.assert_array_equal(src.read(), data)
        assert src.profile["compress"] == "deflate"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.tif"]


def test_without_georeferencing(tmp_path: Path) -> None:
    data = np.arange(600 * 700, dtype=np.uint32).reshape(1, 600, 700)
    path = tmp_path / "plain.tif"
    with StreamingCogWriter(path, grid=None, size=(600, 700), count=1, dtype="uint32") as writer:
        write_shuffled(writer, data)
    with pytest.warns(NotGeoreferencedWarning), rasterio.open(path) as src:
        assert src.crs is None
        np.testing.assert_array_equal(src.read(), data)


def test_bad_blocks_and_abort(tmp_path: Path) -> None:
    path = tmp_path / "x.tif"
    writer = StreamingCogWriter(path, grid=grid(1100, 1000), count=1, dtype="uint16")
    with pytest.raises(InvalidInputError, match="whole 512"):
        writer.write(np.zeros((1, 100, 100), np.uint16), rasterio.windows.Window(10, 0, 100, 100))
    with pytest.raises(InvalidInputError, match="does not fit"):
        writer.write(np.zeros((2, 512, 512), np.uint16), rasterio.windows.Window(0, 0, 512, 512))
    with pytest.raises(InvalidInputError, match="cannot write"):
        writer.write(np.zeros((1, 512, 512), np.float32), rasterio.windows.Window(0, 0, 512, 512))
    writer.write(np.zeros((1, 512, 1024), np.uint16), rasterio.windows.Window(0, 0, 1024, 512))
    with pytest.raises(InvalidInputError, match="already written"):
        writer.write(np.zeros((1, 512, 512), np.uint16), rasterio.windows.Window(512, 0, 512, 512))
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InvalidInputError, match="folder"):
        StreamingCogWriter(tmp_path / "no" / "x.tif", grid=grid(10, 10), count=1, dtype="uint8")
