"""Readers: multi-band files, STAC items, resampling, windows, budgets and refusals."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import rasterio
from affine import Affine
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from terrascan.errors import InvalidInputError, NotFoundError, TooLargeError, UnsupportedFormatError
from terrascan.io.grid import Grid, parse_crs
from terrascan.io.raster import Raster, open_reader, read_bands
from terrascan.io.sources import resolve_href

from . import synthetic

S2_SCENE = "sentinel2-l2a-S2A_29RKH_20200219"


def as_reflectance(dn: npt.NDArray[Any], scale: float, offset: float) -> npt.NDArray[np.float32]:
    """DN -> value in float32, NaN where DN == 0 (the synthetic nodata)."""
    out = dn.astype(np.float32) * np.float32(scale) + np.float32(offset)
    out[dn == 0] = np.nan
    return out


def bilinear_upsample_2x(a: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Bilinear 2x upsampling with pixel-centre alignment, edges clamped.

    Output pixel 2k samples input coordinate k - 0.25 and 2k + 1 samples k + 0.25, so the
    weights are (0.25, 0.75) towards the neighbour on that side.
    """
    a = a.astype(np.float64)

    def along(x: npt.NDArray[np.float64], axis: int) -> npt.NDArray[np.float64]:
        prev = np.concatenate(
            [np.take(x, [0], axis), np.take(x, range(x.shape[axis] - 1), axis)], axis
        )
        nxt = np.concatenate(
            [np.take(x, range(1, x.shape[axis]), axis), np.take(x, [-1], axis)], axis
        )
        even, odd = 0.25 * prev + 0.75 * x, 0.75 * x + 0.25 * nxt
        out = np.stack([even, odd], axis=axis + 1)
        shape = list(x.shape)
        shape[axis] *= 2
        return out.reshape(shape)

    return along(along(a, 0), 1)


# --- value object -----------------------------------------------------------------------


def test_raster_value_object_checks_invariants() -> None:
    r = Raster(np.ones((4, 5), np.uint16), Affine(10, 0, 0, 0, -10, 0), "EPSG:32629", ["red"])
    assert r.data.shape == (1, 4, 5) and r.data.dtype == np.float32
    assert r.band_names == ("red",) and r.grid.shape == (4, 5)
    assert r.bounds == (0.0, -40.0, 50.0, 0.0)
    assert math.isnan(r.nodata)
    with pytest.raises(InvalidInputError, match="band names"):
        Raster(np.ones((2, 4, 5)), Affine.identity(), "EPSG:32629", ["red"])
    with pytest.raises(InvalidInputError, match="repeat"):
        Raster(np.ones((2, 4, 5)), Affine.identity(), "EPSG:32629", ["red", "red"])
    with pytest.raises(InvalidInputError, match="no band 'nir'"):
        r.band("nir")


# --- multi-band files ---------------------------------------------------------------------


def test_multiband_file_with_mapping_nodata_becomes_nan(tmp_path: Path) -> None:
    path, data = synthetic.nodata_edges(tmp_path)
    raster = read_bands(path, ["red", "nir"], mapping="red=3,nir=4")
    assert raster.band_names == ("red", "nir")
    assert raster.data.shape == (2, 200, 300)
    np.testing.assert_array_equal(raster.band("red"), as_reflectance(data[2], 1.0, 0.0))
    np.testing.assert_array_equal(raster.band("nir"), as_reflectance(data[3], 1.0, 0.0))
    assert (
        np.isnan(raster.data[:, :10]).all() and not np.isnan(raster.data[:, 10:-10, 10:-10]).any()
    )
    with rasterio.open(path) as src:
        assert raster.transform == src.transform and raster.crs == src.crs


def test_mapping_dict_and_sensor_defaults(tmp_path: Path) -> None:
    path, data = synthetic.nodata_edges(tmp_path)
    raster = read_bands(
        path, ["red", "nir"], mapping={"red": 3, "nir08": 4}, sensor="landsat-c2-l2"
    )
    # Landsat C2 L2 defaults (the file carries no scale/offset): DN * 2.75e-5 - 0.2; nir -> nir08.
    np.testing.assert_allclose(
        raster.band("red"), as_reflectance(data[2], 2.75e-5, -0.2), rtol=1e-6
    )
    np.testing.assert_allclose(
        raster.band("nir"), as_reflectance(data[3], 2.75e-5, -0.2), rtol=1e-6
    )


def test_file_scale_offset_metadata_wins(tmp_path: Path) -> None:
    data = synthetic.smooth_field(40, 50, seed=5)[np.newaxis].repeat(2, axis=0)
    path = synthetic.write_raster(
        tmp_path / "scaled.tif", data, nodata=0, scales=[0.5, 1.0], offsets=[10.0, 0.0]
    )
    raster = read_bands(path, ["red", "nir"], mapping="red=1,nir=2", sensor="sentinel-2-l2a")
    np.testing.assert_allclose(raster.band("red"), data[0] * 0.5 + 10.0, rtol=1e-6)
    # No metadata on band 2: the Sentinel-2 default (unknown baseline: 1e-4, -0.1) applies.
    np.testing.assert_allclose(raster.band("nir"), data[1] * 1e-4 - 0.1, rtol=1e-5, atol=1e-7)


def test_band_descriptions_name_the_bands(tmp_path: Path) -> None:
    path, data = synthetic.described(tmp_path)
    raster = read_bands(path, ["red", "nir"], sensor="sentinel-2-l1c")
    np.testing.assert_allclose(raster.band("nir"), data[0] * 1e-4 - 0.1, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(raster.band("red"), data[1] * 1e-4 - 0.1, rtol=1e-5, atol=1e-7)
    with pytest.raises(InvalidInputError, match="'green' is not named"):
        read_bands(path, ["green"])


def test_mapping_errors(tmp_path: Path) -> None:
    path, _ = synthetic.nodata_edges(tmp_path)
    with pytest.raises(InvalidInputError, match="out of range"):
        read_bands(path, ["red"], mapping="red=5")
    with pytest.raises(InvalidInputError, match="unknown band name"):
        read_bands(path, ["vegetation"], mapping="red=1")
    with pytest.raises(InvalidInputError, match="'nir' is not named"):
        read_bands(path, ["red", "nir"], mapping="red=3")


# --- STAC items, two resolutions --------------------------------------------------------


def test_item_bands_resampled_onto_finest_grid(tmp_path: Path) -> None:
    scene = synthetic.two_resolutions(tmp_path)
    raster = read_bands(scene["item"], ["red", "swir16", "scl"])
    assert raster.data.shape == (3, 200, 200)
    assert raster.transform == synthetic.utm_transform(10.0)

    np.testing.assert_allclose(
        raster.band("red"), as_reflectance(scene["red"], 1e-4, -0.1), rtol=1e-5, atol=1e-7
    )
    # swir16: 20 m -> 10 m bilinear, then scale/offset; compare away from edges and nodata.
    expected = bilinear_upsample_2x(scene["swir16"]) * 1e-4 - 0.1
    got = raster.band("swir16")
    inner = np.s_[2:-2, 2:-2]
    near_nodata = np.zeros((200, 200), bool)
    near_nodata[96:108, 96:108] = True
    check = np.zeros((200, 200), bool)
    check[inner] = True
    check &= ~near_nodata
    np.testing.assert_allclose(got[check], expected[check], rtol=1e-5, atol=2e-6)
    assert np.isnan(got[100:104, 100:104]).all()  # the 2x2 nodata block at 20 m

    # scl: nearest, never scaled: each 20 m class repeated over 2 x 2 pixels at 10 m.
    np.testing.assert_array_equal(raster.band("scl"), np.kron(scene["scl"], np.ones((2, 2))))


def test_item_dict_with_absolute_hrefs_and_relative_needs_base(tmp_path: Path) -> None:
    scene = synthetic.two_resolutions(tmp_path)
    item = json.loads(scene["item"].read_text())
    with pytest.raises(InvalidInputError, match="relative href"):
        read_bands(item, ["red"])
    for asset in item["assets"].values():
        asset["href"] = str(scene["folder"] / asset["href"])
    raster = read_bands(item, ["red"])
    assert raster.data.shape == (1, 200, 200)


def test_item_without_raster_bands_uses_profile_defaults(tmp_path: Path) -> None:
    scene = synthetic.two_resolutions(tmp_path)
    item = synthetic.stac_item({"red": "B04.tif"}, scale=None, offset=None, baseline="02.14")
    path = scene["folder"] / "old_item.json"
    path.write_text(json.dumps(item))
    raster = read_bands(path, ["red"])
    np.testing.assert_allclose(
        raster.band("red"), as_reflectance(scene["red"], 1e-4, 0.0), rtol=1e-5, atol=1e-7
    )


def test_item_missing_band(tmp_path: Path) -> None:
    scene = synthetic.two_resolutions(tmp_path)
    with pytest.raises(InvalidInputError, match="no asset for band 'nir'"):
        read_bands(scene["item"], ["nir"])
    with pytest.raises(InvalidInputError, match="mapping applies to raster files"):
        read_bands(scene["item"], ["red"], mapping="red=1")


# --- windows, bounds, target grids ------------------------------------------------------


def test_bounds_in_wgs84_are_clipped_and_snapped(tmp_path: Path) -> None:
    path, data = synthetic.nodata_edges(tmp_path)
    t = synthetic.utm_transform(10.0)
    # A box from pixel (col 50, row 40) to (col 120, row 90), given in lon/lat, slightly inside.
    left, top = t @ (50.2, 40.2)
    right, bottom = t @ (119.8, 89.8)
    bounds = transform_bounds("EPSG:32629", "EPSG:4326", left, bottom, right, top)
    raster = read_bands(path, ["red"], mapping="red=3", bounds=bounds)
    col0, row0 = ~t @ (raster.transform.c, raster.transform.f)
    # The reprojected box is a little larger than the UTM one; it still covers it exactly.
    assert col0 <= 50 and row0 <= 40 and col0 >= 48 and row0 >= 38
    c, r = round(col0), round(row0)
    np.testing.assert_array_equal(
        raster.band("red"), data[2, r : r + raster.height, c : c + raster.width].astype(np.float32)
    )
    assert r + raster.height >= 90 and c + raster.width >= 120


def test_bounds_in_native_crs_and_outside(tmp_path: Path) -> None:
    path, data = synthetic.nodata_edges(tmp_path)
    t = synthetic.utm_transform(10.0)
    left, top = t @ (250, 150)
    right, bottom = t @ (400, 300)  # extends past the 300 x 200 raster
    raster = read_bands(
        path, ["red"], mapping="red=3", bounds=(left, bottom, right, top), bounds_crs="EPSG:32629"
    )
    assert (raster.height, raster.width) == (50, 50)
    np.testing.assert_array_equal(raster.band("red")[5:-10, :40], data[2, 155:190, 250:290])
    far = (left + 1e6, bottom, right + 1e6, top)
    with pytest.raises(InvalidInputError, match="does not intersect"):
        read_bands(path, ["red"], mapping="red=3", bounds=far, bounds_crs="EPSG:32629")


def test_pixel_window(tmp_path: Path) -> None:
    path, data = synthetic.nodata_edges(tmp_path)
    raster = read_bands(path, ["nir"], mapping="nir=4", window=Window(20, 30, 40, 10))
    np.testing.assert_array_equal(raster.band("nir"), data[3, 30:40, 20:60])
    assert raster.transform == synthetic.utm_transform(10.0) @ Affine.translation(20, 30)


def test_resolution_coarser_averages(tmp_path: Path) -> None:
    data = synthetic.smooth_field(64, 64, seed=9)
    path = synthetic.write_raster(tmp_path / "plain.tif", data, nodata=0)
    raster = read_bands(path, ["red"], mapping="red=1", resolution=20.0)
    assert raster.data.shape == (1, 32, 32)
    expected = data.astype(np.float64).reshape(32, 2, 32, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(raster.band("red"), expected, rtol=1e-5)


def test_reprojection_to_target_crs(tmp_path: Path) -> None:
    path, _ = synthetic.nodata_edges(tmp_path)
    raster = read_bands(path, ["red"], mapping="red=3", dst_crs="EPSG:4326", resolution=0.0002)
    assert raster.crs == parse_crs("EPSG:4326")
    assert raster.transform.a == pytest.approx(0.0002)
    valid = raster.band("red")[~np.isnan(raster.band("red"))]
    assert valid.size > 0.5 * 200 * 300 * (10 / 20.0) ** 2  # most of the scene is there
    assert valid.min() >= 400 and valid.max() <= 4100


def test_explicit_grid(tmp_path: Path) -> None:
    path, data = synthetic.nodata_edges(tmp_path)
    # 20 x 20 pixels from (col -5, row 5): the first 5 columns lie outside the raster.
    grid = Grid("EPSG:32629", synthetic.utm_transform(10.0) @ Affine.translation(-5, 5), 20, 20)
    raster = read_bands(path, ["red"], mapping="red=3", grid=grid)
    red = raster.band("red")
    assert raster.transform == grid.transform and red.shape == (20, 20)
    assert np.isnan(red[:, :5]).all()  # outside the raster
    assert np.isnan(red[:5, :]).all() and np.isnan(red[:, 5:15][:, :5]).all()  # nodata border
    np.testing.assert_array_equal(red[5:, 15:], data[2, 10:25, 10:15].astype(np.float32))
    with pytest.raises(InvalidInputError, match="either a target grid"):
        read_bands(path, ["red"], mapping="red=3", grid=grid, resolution=20.0)


# --- block reader -----------------------------------------------------------------------


def test_block_reader_aligns_windows_to_tiles(tmp_path: Path) -> None:
    scene = synthetic.two_resolutions(tmp_path)
    full = read_bands(scene["item"], ["red", "swir16"])
    with open_reader(scene["item"], ["red", "swir16"], window=Window(30, 70, 150, 120)) as reader:
        profile = reader.profile
        assert (profile.width, profile.height) == (150, 120)
        assert profile.block_shape == (64, 64)
        windows = list(reader.block_windows())
        covered = np.zeros((120, 150), int)
        for w in windows:
            covered[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] += 1
            block = reader.read(w)
            assert set(block) == {"red", "swir16"} and block["red"].dtype == np.float32
            rows = slice(70 + w.row_off, 70 + w.row_off + w.height)
            cols = slice(30 + w.col_off, 30 + w.col_off + w.width)
            np.testing.assert_array_equal(block["red"], full.band("red")[rows, cols])
            np.testing.assert_allclose(block["swir16"], full.band("swir16")[rows, cols], rtol=1e-6)
        assert (covered == 1).all()
        # Tile edges of the 10 m source lie at multiples of 64: windows start and stop there.
        assert windows[0] == Window(0, 0, 64 - 30, 128 - 70)
        assert windows[1] == Window(64 - 30, 0, 64, 128 - 70)
        assert len(windows) == 2 * 3
        with pytest.raises(InvalidInputError, match="exceeds"):
            reader.read(Window(100, 100, 100, 100))


def test_striped_file_blocks_are_whole_strips(tmp_path: Path) -> None:
    path, data = synthetic.striped(tmp_path)
    with open_reader(path, ["red", "green", "blue"], mapping="red=1,green=2,blue=3") as reader:
        rows, cols = reader.profile.block_shape
        assert cols == 700 and rows % 8 == 0 and rows >= 256
        total = 0
        for w in reader.block_windows():
            total += w.height * w.width
            np.testing.assert_array_equal(
                reader.read(w)["green"],
                data[1, w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width],
            )
        assert total == 1300 * 700


# --- budgets and refusals ---------------------------------------------------------------


def test_huge_declared_raster_refused_before_reading(tmp_path: Path) -> None:
    path = synthetic.huge_sparse(tmp_path)
    start = time.perf_counter()
    with pytest.raises(TooLargeError, match="100000 x 100000"):
        read_bands(path, ["red"], mapping="red=1")
    with pytest.raises(TooLargeError):
        open_reader(path, ["red"], mapping="red=1")
    assert time.perf_counter() - start < 2.0


def test_output_budget(tmp_path: Path) -> None:
    path, _ = synthetic.nodata_edges(tmp_path)
    with pytest.raises(TooLargeError, match="requested read"):
        read_bands(path, ["red", "nir"], mapping="red=3,nir=4", max_pixels=100_000)
    raster = read_bands(path, ["red"], mapping="red=3", max_pixels=60_000)
    assert raster.data.size == 60_000


def test_png_named_tif_refused(tmp_path: Path) -> None:
    path = synthetic.png_named_tif(tmp_path)
    with pytest.raises(UnsupportedFormatError, match="accepted formats"):
        read_bands(path, ["red"], mapping="red=1")


def test_vrt_named_tif_refused(tmp_path: Path) -> None:
    target, _ = synthetic.nodata_edges(tmp_path)
    path = synthetic.vrt_named_tif(tmp_path, target)
    with pytest.raises(UnsupportedFormatError):
        read_bands(path, ["red"], mapping="red=1")


def test_missing_and_ungeoreferenced(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        read_bands(tmp_path / "nope.tif", ["red"], mapping="red=1")
    with pytest.raises(NotFoundError):
        read_bands(tmp_path / "nope.json", ["red"])
    plain = synthetic.write_raster(tmp_path / "plain.tif", np.ones((1, 8, 8), np.uint8), crs=None)
    with pytest.raises(InvalidInputError, match="no coordinate reference system"):
        read_bands(plain, ["red"], mapping="red=1")


def test_not_an_item(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        read_bands(bad, ["red"])
    bad.write_text('{"type": "Feature"}')
    with pytest.raises(InvalidInputError, match="not a STAC item"):
        read_bands(bad, ["red"])


@pytest.mark.parametrize(
    "text",
    [
        "http://www.opengis.net/def/crs/EPSG/0/4326",
        "/usr/share/proj/epsg",
        "+init=epsg:4326",
        "+proj=longlat +datum=WGS84",
        'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]]]',
        "EPSG:abc",
        "EPSG:4326 ",
        "ESRI:102003",
        "EPSG:999999",
    ],
)
def test_crs_only_as_epsg_code(text: str, tmp_path: Path) -> None:
    if text == "EPSG:4326 ":  # surrounding blanks are tolerated
        assert parse_crs(text) == parse_crs("EPSG:4326")
        return
    with pytest.raises(InvalidInputError):
        parse_crs(text)


def test_crs_refused_in_reader_arguments(tmp_path: Path) -> None:
    path, _ = synthetic.nodata_edges(tmp_path)
    with pytest.raises(InvalidInputError, match="EPSG"):
        read_bands(path, ["red"], mapping="red=3", bounds=(0, 0, 1, 1), bounds_crs="file:///etc/x")
    with pytest.raises(InvalidInputError, match="EPSG"):
        read_bands(path, ["red"], mapping="red=3", dst_crs="/tmp/crs.wkt")
    assert parse_crs("epsg:32629").to_epsg() == 32629


def test_href_resolution(tmp_path: Path) -> None:
    hosts = ["sentinel-cogs.s3.us-west-2.amazonaws.com", "usgs-landsat"]
    url = "https://sentinel-cogs.s3.us-west-2.amazonaws.com/a/B04.tif"
    assert resolve_href(url, allowed_hosts=hosts) == "/vsicurl/" + url
    assert resolve_href("s3://usgs-landsat/c2/x_SR_B4.TIF", allowed_hosts=hosts) == (
        "/vsis3/usgs-landsat/c2/x_SR_B4.TIF"
    )
    assert resolve_href("B04.tif", base=tmp_path) == str(tmp_path / "B04.tif")
    assert resolve_href(f"file://{tmp_path}/B04.tif") == str(tmp_path / "B04.tif")
    refused = [
        (url, ()),  # no allow-list
        ("https://evil.example.com/B04.tif", hosts),
        ("https://user:pw@sentinel-cogs.s3.us-west-2.amazonaws.com/B04.tif", hosts),
        ("s3://other-bucket/B04.tif", hosts),
        ("ftp://sentinel-cogs.s3.us-west-2.amazonaws.com/B04.tif", hosts),
        ("/vsicurl/https://evil.example.com/B04.tif", hosts),
        ("/vsizip//tmp/a.zip/B04.tif", hosts),
        ("file://remote-host/share/B04.tif", hosts),
    ]
    for href, allowed in refused:
        with pytest.raises(InvalidInputError):
            resolve_href(href, allowed_hosts=allowed)
    inside = tmp_path / "data"
    assert resolve_href("data/B04.tif", base=tmp_path, local_roots=[inside]).startswith(str(inside))
    with pytest.raises(InvalidInputError, match="outside the allowed folders"):
        resolve_href("../B04.tif", base=inside, local_roots=[inside])


def test_remote_item_asset_refused_without_allowed_host(tmp_path: Path) -> None:
    item = synthetic.stac_item({"red": "https://example.com/B04.tif"}, scale=1e-4, offset=0.0)
    with pytest.raises(InvalidInputError, match="not in the allowed hosts"):
        read_bands(item, ["red"])
    with pytest.raises(InvalidInputError, match="STAC client"):
        read_bands("https://example.com/item.json", ["red"], allowed_hosts=["example.com"])
    with pytest.raises(InvalidInputError, match="not in the allowed hosts"):
        read_bands("https://example.com/scene.tif", ["red"], mapping="red=1")


# --- real data ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s2_item(fixtures_dir: Path) -> dict[str, Any]:
    """The real Earth Search item, its asset hrefs pointed at the decimated local files."""
    scene = fixtures_dir / S2_SCENE
    item: dict[str, Any] = json.loads((scene / "S2A_29RKH_20200219_0_L2A.json").read_text())
    for asset in item["assets"].values():
        local = scene / asset["href"].rsplit("/", 1)[-1]
        if local.exists():
            asset["href"] = str(local)
    return item


def test_sentinel2_item_real_scene(s2_item: dict[str, Any], fixtures_dir: Path) -> None:
    scene = fixtures_dir / S2_SCENE
    raster = read_bands(s2_item, ["red", "nir", "swir16", "scl"])
    assert raster.data.shape == (4, 1098, 1098)
    with rasterio.open(scene / "B04.tif") as b04, rasterio.open(scene / "B11.tif") as b11:
        assert (b11.width, b11.height) == (549, 549)
        assert raster.transform == b04.transform and raster.crs == b04.crs
        red_dn = b04.read(1)
        swir_dn = b11.read(1)

    # Scale 0.0001 applied (baseline 02.14: no offset): reflectance mostly within 0..1.
    red = raster.band("red")
    np.testing.assert_allclose(red, as_reflectance(red_dn, 1e-4, 0.0), rtol=1e-6)
    valid = red[~np.isnan(red)]
    assert 0.1 < np.median(valid) < 0.6 and np.mean((valid >= 0) & (valid <= 1)) > 0.99

    # 20 m swir16 on the 10 m grid matches an independent bilinear upsampling.
    expected = bilinear_upsample_2x(swir_dn) * 1e-4
    inner = np.s_[4:-4, 4:-4]
    ok = (swir_dn.repeat(2, 0).repeat(2, 1) > 0)[inner]
    np.testing.assert_allclose(
        raster.band("swir16")[inner][ok], expected[inner][ok], rtol=1e-4, atol=1e-6
    )

    # NDVI over bare desert (SCL 5, not vegetated) computed in numpy.
    nir = raster.band("nir")
    ndvi = (nir - red) / (nir + red)
    desert = raster.band("scl") == 5
    assert desert.mean() > 0.5
    assert 0.04 <= float(np.nanmedian(ndvi[desert])) <= 0.09
