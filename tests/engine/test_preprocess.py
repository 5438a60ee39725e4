"""Zonal statistics, dark-object subtraction, quality masks, co-registration and COG conversion
over generated scenes, against independent numpy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import rasterio
from rasterio.enums import ColorInterp
from rasterio.warp import transform
from rio_cogeo.cogeo import cog_validate

from terrascan.core.coregistration import shift_image
from terrascan.core.masks import scl_cloud_fraction
from terrascan.engine import (
    convert_to_cog,
    coregister,
    correct_dos,
    mask_quality,
    zonal,
)
from terrascan.errors import InvalidInputError
from tests.io import synthetic

from . import scenes

X0, Y0 = synthetic.ORIGIN  # upper-left corner of every synthetic raster, 10 m pixels


def read_all(path: Path) -> npt.NDArray[Any]:
    with rasterio.open(path) as src:
        data: npt.NDArray[Any] = src.read()
    return data


# -- zonal -------------------------------------------------------------------------------


def test_zonal_statistics_per_polygon(tmp_path: Path) -> None:
    path, dn = scenes.multiband(tmp_path)
    nir = scenes.reflectance(dn[3]).astype(np.float64)
    # Two rectangles on pixel edges (UTM), one crossing block edges, one in the nodata corner,
    # and a zone outside the raster.
    zones = scenes.zones_file(tmp_path / "zones.geojson", [
        {"type": "Feature", "properties": {"name": "field"},
         "geometry": scenes.polygon(X0 + 4000, Y0 - 6000, X0 + 6000, Y0 - 4000)},
        {"type": "Feature", "properties": {"name": "corner"},
         "geometry": scenes.polygon(X0 + 12500, Y0 - 11000, X0 + 13000, Y0 - 10950)},
        {"type": "Feature", "properties": {"name": "away"},
         "geometry": scenes.polygon(X0 - 9000, Y0 + 1000, X0 - 8000, Y0 + 2000)},
    ], crs="EPSG:32629")  # fmt: skip
    result = zonal(
        path, zones, "nir", bands=scenes.MAPPING, id_field="name", percentiles=[10, 90], workers=2
    )
    records = {r["zone"]: r for r in result.records()}
    for name, rows, cols in (("field", np.s_[400:600], np.s_[400:600]),
                             ("corner", np.s_[1095:1100], np.s_[1250:1300])):  # fmt: skip
        values = nir[rows, cols]
        values = values[np.isfinite(values)]
        record = records[name]
        assert record["count"] == values.size
        assert record["mean"] == pytest.approx(values.mean(), rel=1e-9)
        assert record["median"] == pytest.approx(np.median(values), rel=1e-9)
        assert record["std"] == pytest.approx(values.std(), rel=1e-6)
        assert record["minimum"] == values.min() and record["maximum"] == values.max()
        assert record["percentiles"][10.0] == pytest.approx(np.percentile(values, 10), rel=1e-9)
    assert records["away"]["count"] == 0 and records["away"]["mean"] is None


def test_zonal_in_wgs84_and_errors(tmp_path: Path) -> None:
    path, _ = scenes.multiband(tmp_path)
    ndvi = tmp_path / "zones.geojson"
    # A lon/lat box around the scene's centre, 2 km wide.
    (west, east), (south, north) = transform(
        "EPSG:32629", "EPSG:4326", [X0 + 5500, X0 + 7500], [Y0 - 6500, Y0 - 4500]
    )
    scenes.zones_file(ndvi, [{"type": "Feature", "id": 7, "properties": {},
                              "geometry": scenes.polygon(west, south, east, north)}])  # fmt: skip
    result = zonal(path, ndvi, "red", bands=scenes.MAPPING)
    count = result.records()[0]["count"]
    assert result.ids == (7,) and 0.9 * 200 * 200 < count < 1.1 * 200 * 200
    scenes.zones_file(ndvi, [{"type": "Feature", "properties": {},
                              "geometry": {"type": "Point", "coordinates": [0, 0]}}])  # fmt: skip
    with pytest.raises(InvalidInputError, match="polygons"):
        zonal(path, ndvi, "red", bands=scenes.MAPPING)


# -- dark-object subtraction -------------------------------------------------------------


def test_dark_object_subtraction(tmp_path: Path) -> None:
    path, dn = scenes.multiband(tmp_path)
    out = tmp_path / "dos.tif"
    result = correct_dos(path, ["red", "nir"], out, bands=scenes.MAPPING, workers=2)
    corrected = read_all(out)
    for i, index in enumerate((2, 3)):
        values = scenes.reflectance(dn[index])
        finite = np.sort(values[np.isfinite(values)].astype(np.float64))
        k = max(1, int(np.ceil(1e-4 * finite.size)))
        exact = finite[k - 1]  # the k-th smallest value (Chavez 1988)
        dark = result.dark_values[i]
        width = (finite[-1] - finite[0]) / 16384
        assert exact - width - 1e-9 <= dark <= exact + 1e-9
        expected = np.maximum(values - np.float32(dark), np.float32(0))
        np.testing.assert_array_equal(corrected[i], expected)
    with rasterio.open(out) as src:
        assert src.descriptions == ("red", "nir") and src.dtypes == ("float32", "float32")


# -- quality masks -----------------------------------------------------------------------


def test_scl_mask_and_cloud_fraction(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    classes = [0, 1, 3, 4, 5, 6, 8, 9, 10, 11]
    shares = [0.05, 0.01, 0.04, 0.3, 0.3, 0.1, 0.05, 0.05, 0.05, 0.05]
    scl = rng.choice(classes, size=(600, 700), p=shares).astype(np.uint8)
    red = scenes.reflectance_bands(3, 1, 600, 700)
    synthetic.write_raster(tmp_path / "SCL.tif", scl, nodata=0, blocksize=256)
    synthetic.write_raster(tmp_path / "B04.tif", red, nodata=0)
    item = synthetic.stac_item({"red": "B04.tif", "scl": "SCL.tif"}, scale=1e-4, offset=0.0)
    (tmp_path / "item.json").write_text(__import__("json").dumps(item))

    result = mask_quality(tmp_path / "item.json", tmp_path / "mask.tif")
    invalid = np.isin(scl, [0, 1, 3, 8, 9, 10])
    none = np.isin(scl, [0, 1])
    expected = np.where(invalid, 1, 0).astype(np.uint8)
    expected[none] = 255
    np.testing.assert_array_equal(read_all(tmp_path / "mask.tif")[0], expected)
    assert result.quality_band == "scl"
    assert result.cloud_fraction == pytest.approx(scl_cloud_fraction(scl), abs=1e-12)
    assert result.masked_pixels == int((invalid & ~none).sum())

    masked = mask_quality(tmp_path / "item.json", tmp_path / "red.tif", apply=["red"],
                          include_snow=True)  # fmt: skip
    red_values = scenes.reflectance(red[0])
    red_values[np.isin(scl, [0, 1, 3, 8, 9, 10, 11])] = np.nan
    np.testing.assert_array_equal(read_all(tmp_path / "red.tif")[0], red_values)
    assert masked.bands == ("red",)


def test_qa_pixel_mask(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    qa = rng.choice([21824, 21952, 22280, 23888, 1, 55052, 30048], size=(300, 400)).astype(
        np.uint16
    )
    path = synthetic.write_raster(tmp_path / "qa.tif", qa, nodata=1, descriptions=["qa_pixel"])
    mask_quality(path, tmp_path / "m.tif", quality_band="qa_pixel")
    bits = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4)
    expected = np.where(qa & bits, 1, 0).astype(np.uint8)
    expected[qa & 1 == 1] = 255
    np.testing.assert_array_equal(read_all(tmp_path / "m.tif")[0], expected)


# -- co-registration ---------------------------------------------------------------------


def test_coregistration_recovers_a_subpixel_shift_blockwise(tmp_path: Path) -> None:
    rows, cols = 1100, 1200
    base = np.stack([synthetic.smooth_field(rows, cols, s).astype(np.float32) for s in (1, 2)])
    dy, dx = 1.3, -2.6
    moved = np.stack([shift_image(band, dy, dx, method="fourier") for band in base])
    moved = np.nan_to_num(moved, nan=0.0)
    ref = synthetic.write_raster(tmp_path / "ref.tif", base, nodata=0)
    tgt = synthetic.write_raster(tmp_path / "tgt.tif", moved, nodata=0)
    result = coregister(ref, tgt, "red", tmp_path / "aligned.tif", bands="red=1,nir=2",
                        output_bands=["red", "nir"], workers=2)  # fmt: skip
    assert result.dy == pytest.approx(dy, abs=0.05) and result.dx == pytest.approx(dx, abs=0.05)
    assert result.shift_x == pytest.approx(result.dx * 10) and result.shift_y == pytest.approx(
        -result.dy * 10
    )
    aligned = read_all(tmp_path / "aligned.tif")
    # Block by block equals the whole-array resampling of the target.
    target = moved.copy()
    target[target == 0] = np.nan
    for i in range(2):
        whole = shift_image(target[i], -result.dy, -result.dx)
        np.testing.assert_array_equal(aligned[i], whole)
    inner = np.s_[20:-20, 20:-20]
    before = np.mean(np.abs(moved[0][inner] - base[0][inner]))
    after = np.nanmean(np.abs(aligned[0][inner] - base[0][inner]))
    assert after < before / 2


# -- COG conversion ----------------------------------------------------------------------


def test_convert_to_cog_keeps_pixels_and_metadata(tmp_path: Path) -> None:
    data = scenes.reflectance_bands(9, 3)
    src = synthetic.write_raster(tmp_path / "plain.tif", data, nodata=0, tiled=False,
                                 descriptions=["blue", "green", "red"])  # fmt: skip
    with rasterio.open(src, "r+") as ds:
        ds.update_tags(mission="test")
    result = convert_to_cog(src, tmp_path / "cog.tif", workers=2)
    assert cog_validate(str(tmp_path / "cog.tif"), quiet=True) == (True, [], [])
    with rasterio.open(tmp_path / "cog.tif") as cog, rasterio.open(src) as ref:
        np.testing.assert_array_equal(cog.read(), data)
        assert cog.descriptions == ("blue", "green", "red") and cog.nodata == 0
        assert cog.tags()["mission"] == "test" and cog.profile["compress"] in ("zstd", "deflate")
        assert cog.transform == ref.transform and cog.crs == ref.crs
        assert cog.block_shapes[0] == (512, 512)
    assert result.count == 3 and result.dtype == "uint16"


def test_convert_rgb_keeps_its_colour_interpretation(tmp_path: Path) -> None:
    rgb = np.random.default_rng(1).integers(0, 255, (3, 600, 700), dtype=np.uint8)
    src = synthetic.write_raster(tmp_path / "rgb.tif", rgb, photometric="RGB")
    convert_to_cog(src, tmp_path / "rgb_cog.tif")
    with rasterio.open(tmp_path / "rgb_cog.tif") as cog:
        assert cog.colorinterp[:3] == (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
        np.testing.assert_array_equal(cog.read(), rgb)
