"""Ingesting the real Sentinel-2 scene through HTTP range requests, checked pixel for pixel
against reading the same files directly with rasterio and the item's scale and offset."""

from __future__ import annotations

import math
import uuid
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window

from terrascan.catalog.models import ImageryStatus
from terrascan.catalog.repositories import ImageryRepository
from terrascan.errors import InvalidInputError
from terrascan.io.remote import RedirectRefusedError
from terrascan.io.scene import AssetAccess
from terrascan.jobs.ingest import aoi_geometry, ingest_scene, record_dict
from tests.ingest.conftest import ServedScene, Workspace, with_collection
from tests.stac_standin import Server

#: Over the north-east of the tile, where the scene has clouds and cirrus.
CLOUDY_AOI = (-11.05, 25.05, -10.90, 25.20)
ORIGIN_X, ORIGIN_Y, RES = 199980.0, 2800020.0, 100.0
SCL_INVALID = [0, 1, 3, 8, 9, 10]
FILES = {"blue": "B02.tif", "green": "B03.tif", "red": "B04.tif", "nir": "B08.tif"}


def _ingest(
    scene: ServedScene,
    ws: Workspace,
    bands: list[str],
    item: Any = None,
    aoi: tuple[float, ...] = CLOUDY_AOI,
    **kw: Any,
) -> Any:
    return ingest_scene(
        item or scene.item,
        aoi_geometry(bbox=aoi),
        org_id=ws.org_id,
        catalog=ws.catalog,
        store=ws.store,
        access=AssetAccess((scene.server.host,)),
        bands=bands,
        **kw,
    )


def _read_output(ws: Workspace, key: str) -> tuple[npt.NDArray[np.float32], Any]:
    path = ws.store.gdal_path(key).path
    with rasterio.open(path) as src:
        meta = SimpleNamespace(
            descriptions=src.descriptions,
            crs=src.crs,
            res=src.res,
            nodata=src.nodata,
            dtypes=src.dtypes,
            transform=src.transform,
            width=src.width,
            height=src.height,
            bounds=src.bounds,
        )
        return src.read(), meta


def _native_window(transform: Any, width: int, height: int) -> Window:
    col = (transform.c - ORIGIN_X) / RES
    row = (ORIGIN_Y - transform.f) / RES
    assert col == int(col) and row == int(row), "output grid is not a window of the 100 m grid"
    return Window(int(col), int(row), width, height)


def _scl_on_grid(folder: Path, window: Window) -> npt.NDArray[np.uint8]:
    """SCL (200 m) picked by nearest neighbour for each 100 m pixel of ``window``."""
    with rasterio.open(folder / "SCL.tif") as src:
        scl = src.read(1)
    rows = (np.arange(window.height) + window.row_off) // 2
    cols = (np.arange(window.width) + window.col_off) // 2
    return scl[np.ix_(rows, cols)]


def _expected_band(
    folder: Path,
    name: str,
    window: Window,
    scale: float,
    offset: float,
    invalid: npt.NDArray[np.bool_],
) -> npt.NDArray[np.float32]:
    with rasterio.open(folder / name) as src:
        dn = src.read(1, window=window)
    value = dn.astype(np.float32) * np.float32(scale) + np.float32(offset)
    value[(dn == 0) | invalid] = np.nan
    return value


def test_ingest_matches_direct_reads_pixel_for_pixel(
    served_s2: ServedScene, workspace: Workspace
) -> None:
    progress: list[float] = []
    outcome = _ingest(
        served_s2,
        workspace,
        ["blue", "green", "red", "nir", "swir16"],
        progress=lambda pct, msg: progress.append(pct),
    )
    row = outcome.record
    assert outcome.created and row.status == ImageryStatus.READY and row.error is None
    data, src = _read_output(workspace, row.storage_key)
    assert src.descriptions == ("blue", "green", "red", "nir", "swir16")
    assert src.crs.to_epsg() == 32629 and src.res == (RES, RES)
    assert math.isnan(src.nodata) and src.dtypes[0] == "float32"

    # The grid covers the AOI (to the pixel) and no more.
    window = _native_window(src.transform, src.width, src.height)
    west, south, east, north = transform_bounds("EPSG:4326", "EPSG:32629", *CLOUDY_AOI)
    left, bottom, right, top = src.bounds
    assert left <= west < left + RES and right - RES < east <= right
    assert bottom <= south < bottom + RES and top - RES < north <= top

    scl = _scl_on_grid(served_s2.folder, window)
    invalid = np.isin(scl, SCL_INVALID) | (scl >= 12)
    assert 0.05 < invalid.mean() < 0.95, "the AOI should hold both clouds and clear land"
    assets = served_s2.item["assets"]
    for index, (name, file) in enumerate(FILES.items()):
        raster_band = assets[name]["raster:bands"][0]
        expected = _expected_band(
            served_s2.folder, file, window, raster_band["scale"], raster_band["offset"], invalid
        )
        np.testing.assert_array_equal(np.isnan(data[index]), np.isnan(expected), err_msg=name)
        np.testing.assert_allclose(data[index], expected, rtol=1e-6, err_msg=name)
    assert np.isnan(data[:, invalid]).all(), "masked pixels must be nodata in every band"

    # swir16 (200 m) is resampled bilinearly onto the 100 m grid.
    with rasterio.open(served_s2.folder / "B11.tif") as b11:
        swir = np.full((src.height, src.width), np.nan, np.float32)
        reproject(
            b11.read(1),
            swir,
            src_transform=b11.transform,
            src_crs=b11.crs,
            src_nodata=0,
            dst_transform=src.transform,
            dst_crs=src.crs,
            dst_nodata=np.nan,
            resampling=Resampling.bilinear,
        )
    swir = swir * np.float32(1e-4)
    swir[invalid] = np.nan
    both = np.isfinite(swir) & np.isfinite(data[4])
    assert both.mean() > 0.9 * (~invalid).mean()
    np.testing.assert_allclose(data[4][both], swir[both], atol=2e-4)

    # Cloud cover over the AOI, from SCL: cloud classes over observed pixels.
    observed = ~np.isin(scl, [0, 1])
    cloud = 100.0 * np.isin(scl, [8, 9, 10]).sum() / observed.sum()
    assert row.cloud_cover == pytest.approx(cloud, abs=1e-3)
    record = record_dict(row)
    assert record["bands"] == ["blue", "green", "red", "nir", "swir16"]
    assert record["crs"] == "EPSG:32629" and record["resolution"] == RES
    assert record["acquired_at"] == "2020-02-19T11:34:25.405000Z"
    assert record["size_bytes"] == workspace.store.list(f"imagery/{workspace.org_id}")[0].size
    assert "storage_key" not in record

    # Only byte ranges were fetched: never whole files.
    for file in ("B02.tif", "B04.tif", "B08.tif"):  # 4 internal tiles each; the AOI needs 1-2
        sent = served_s2.server.bytes_sent.get(f"/cogs/{file}", 0)
        assert 0 < sent < served_s2.file_size(file), file
    assert all("Range" in r.headers for r in served_s2.server.requests)
    assert progress == sorted(progress) and progress[-1] == 100.0

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a PNG has no georeference
        thumb = rasterio.open(workspace.store.gdal_path(row.thumbnail_key).path, driver="PNG")
    with thumb:
        assert thumb.count == 4 and max(thumb.width, thumb.height) <= 512
        alpha = thumb.read(4)
    assert set(np.unique(alpha)) == {0, 255}


def test_reingesting_the_same_scene_and_aoi_is_a_no_op(
    served_s2: ServedScene, workspace: Workspace
) -> None:
    first = _ingest(served_s2, workspace, ["red", "nir"])
    requests = len(served_s2.server.requests)
    again = _ingest(served_s2, workspace, ["red", "nir"])
    assert not again.created and again.record.id == first.record.id
    assert len(served_s2.server.requests) == requests
    other_aoi = _ingest(served_s2, workspace, ["red", "nir"], aoi=(-11.0, 25.1, -10.95, 25.15))
    assert other_aoi.created and other_aoi.record.id != first.record.id
    with workspace.catalog.session() as session:
        rows = ImageryRepository(session).list(org_id=workspace.org_id)
    assert len(rows) == 2


def test_top_of_atmosphere_scenes_get_dark_object_subtraction(
    served_s2: ServedScene, workspace: Workspace
) -> None:
    item = with_collection(served_s2.item, "sentinel-2-l1c")
    aoi = (-11.9, 24.4, -11.6, 24.7)
    row = _ingest(served_s2, workspace, ["red", "nir"], item=item, aoi=aoi).record
    data, src = _read_output(workspace, row.storage_key)
    window = _native_window(src.transform, src.width, src.height)
    no_mask = np.zeros((src.height, src.width), bool)
    for index, file in enumerate(["B04.tif", "B08.tif"]):
        toa = _expected_band(served_s2.folder, file, window, 1e-4, 0.0, no_mask)
        valid = np.sort(toa[np.isfinite(toa)])
        dark = valid[math.ceil(1e-4 * valid.size) - 1]  # Chavez: the k-th darkest pixel
        assert row.bands["dark_values"][["red", "nir"][index]] == pytest.approx(dark)
        expected = np.maximum(toa - dark, 0)
        np.testing.assert_allclose(data[index], expected, rtol=1e-5, atol=1e-6)
    assert row.bands["quality_band"] is None and row.cloud_cover is None


def test_assets_on_other_hosts_are_never_contacted(
    served_s2: ServedScene, workspace: Workspace, canary: Server
) -> None:
    item = with_collection(served_s2.item, "sentinel-2-l2a")
    item["assets"]["red"]["href"] = f"{canary.url}/B04.tif"
    with pytest.raises(InvalidInputError, match="not in the allowed hosts"):
        _ingest(served_s2, workspace, ["red"], item=item)
    # Same host name, other port: refused by the opener's host:port check too.
    item["assets"]["red"]["href"] = f"http://127.0.0.1:{canary.port}/B04.tif"
    access = AssetAccess(("127.0.0.1:" + str(served_s2.server.port),))
    with pytest.raises(InvalidInputError):
        ingest_scene(
            item,
            aoi_geometry(bbox=CLOUDY_AOI),
            org_id=workspace.org_id,
            catalog=workspace.catalog,
            store=workspace.store,
            access=access,
            bands=["red"],
        )
    assert canary.requests == []
    with workspace.catalog.session() as session:
        [row] = ImageryRepository(session).list(org_id=workspace.org_id)
    assert row.status == ImageryStatus.FAILED and "allowed hosts" in (row.error or "")
    assert workspace.store.list() == []


def test_a_redirect_to_another_host_is_refused(
    served_s2: ServedScene, workspace: Workspace, canary: Server
) -> None:
    served_s2.server.redirects["/cogs/B04.tif"] = f"{canary.url}/B04.tif"
    with pytest.raises(RedirectRefusedError, match="redirected to"):
        _ingest(served_s2, workspace, ["red"])
    assert canary.requests == []
    with workspace.catalog.session() as session:
        [row] = ImageryRepository(session).list(org_id=workspace.org_id)
    assert row.status == ImageryStatus.FAILED


def test_an_aoi_outside_the_scene_is_refused_before_reading(
    served_s2: ServedScene, workspace: Workspace
) -> None:
    with pytest.raises(InvalidInputError, match="does not intersect"):
        _ingest(served_s2, workspace, ["red"], aoi=(10, 10, 11, 11))
    assert served_s2.server.requests == []


def test_a_failed_ingest_can_be_resumed(served_s2: ServedScene, workspace: Workspace) -> None:
    served_s2.server.files.pop("/cogs/B08.tif")
    with pytest.raises(Exception, match="not found"):
        _ingest(served_s2, workspace, ["red", "nir"])
    served_s2.server.files["/cogs/B08.tif"] = served_s2.folder / "B08.tif"
    outcome = _ingest(served_s2, workspace, ["red", "nir"])
    assert outcome.created and outcome.record.status == ImageryStatus.READY
    with workspace.catalog.session() as session:
        assert len(ImageryRepository(session).list(org_id=workspace.org_id)) == 1


def test_records_stay_in_their_organisation(served_s2: ServedScene, workspace: Workspace) -> None:
    row = _ingest(served_s2, workspace, ["red"]).record
    with workspace.catalog.session() as session:
        repo = ImageryRepository(session)
        assert repo.get(row.id, org_id=workspace.org_id).id == row.id
        with pytest.raises(Exception, match="not found"):
            repo.get(row.id, org_id=uuid.uuid4())


def _landsat_item(tmp_path: Path, bucket_server: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Landsat C2 L2 item whose red/nir08/qa_pixel assets are s3:// objects in a stand-in
    for the requester-pays bucket, plus the arrays written."""
    from affine import Affine

    rng = np.random.default_rng(7)
    shape = (96, 96)
    transform = Affine(30.0, 0, 480000.0, 0, -30.0, 4450000.0)
    arrays = {
        "red": rng.integers(7000, 20000, shape).astype(np.uint16),
        "nir08": rng.integers(7000, 30000, shape).astype(np.uint16),
        "qa_pixel": np.full(shape, 21824, np.uint16),  # clear, land
    }
    arrays["qa_pixel"][10:30, 40:70] = 22280  # cloud (bit 3) + dilated cloud (bit 1)
    arrays["qa_pixel"][60:70, 5:20] = 1 << 4  # cloud shadow
    arrays["qa_pixel"][:, 90:] = 1  # fill
    arrays["red"][:, 90:] = 0
    assets = {}
    for name, array in arrays.items():
        path = tmp_path / f"LC08_SR_{name}.TIF"
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=96,
            height=96,
            count=1,
            dtype="uint16",
            crs="EPSG:32613",
            transform=transform,
            nodata=0 if name != "qa_pixel" else 1,
            tiled=True,
            blockxsize=32,
            blockysize=32,
        ) as dst:
            dst.write(array, 1)
        key = f"collection02/level-2/LC08_SR_{name}.TIF"
        bucket_server.files[f"/usgs-landsat/{key}"] = path
        band: dict[str, Any] = {"nodata": 0, "data_type": "uint16"}
        if name != "qa_pixel":
            band |= {"scale": 2.75e-05, "offset": -0.2}
        assets[name] = {
            "href": f"s3://usgs-landsat/{key}",
            "type": "image/tiff",
            "raster:bands": [band],
        }
    west, south, east, north = transform_bounds(
        "EPSG:32613", "EPSG:4326", 480000, 4447120, 482880, 4450000
    )
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": "LC08_L2SP_TEST",
        "collection": "landsat-c2-l2",
        "bbox": [west, south, east, north],
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[west, south], [east, south], [east, north], [west, north], [west, south]]
            ],
        },
        "properties": {
            "datetime": "2023-10-08T17:37:26Z",
            "platform": "landsat-8",
            "eo:cloud_cover": 12.0,
        },
        "assets": assets,
        "links": [],
    }
    return item, arrays


def test_landsat_from_a_requester_pays_bucket_with_qa_pixel_masking(
    tmp_path: Path, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.stac_standin import FileServer

    bucket = FileServer()
    try:
        item, arrays = _landsat_item(tmp_path, bucket)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTEST")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
        access = AssetAccess(
            ("usgs-landsat",),
            s3_options={
                "AWS_S3_ENDPOINT": bucket.host,
                "AWS_HTTPS": "NO",
                "AWS_VIRTUAL_HOSTING": "FALSE",
                "AWS_REGION": "us-west-2",
            },
        )
        aoi = item["bbox"]
        row = ingest_scene(
            item,
            aoi_geometry(bbox=aoi),
            org_id=workspace.org_id,
            catalog=workspace.catalog,
            store=workspace.store,
            access=access,
            bands=["red", "nir"],
        ).record
        reads = [r for r in bucket.requests if r.method == "GET"]
    finally:
        bucket.close()
    assert reads and all(r.headers.get("x-amz-request-payer") == "requester" for r in reads)
    assert all("AWS4-HMAC-SHA256" in r.headers.get("Authorization", "") for r in reads)
    data, meta = _read_output(workspace, row.storage_key)
    assert meta.descriptions == ("red", "nir") and meta.crs.to_epsg() == 32613
    qa = arrays["qa_pixel"]
    invalid = (qa & 0b11111) != 0
    window = (slice(0, meta.height), slice(0, meta.width))
    for index, name in enumerate(["red", "nir08"]):
        dn = arrays[name][window]
        expected = dn.astype(np.float32) * np.float32(2.75e-05) + np.float32(-0.2)
        expected[invalid[window] | (dn == 0)] = np.nan
        np.testing.assert_allclose(data[index], expected, rtol=1e-6)
        np.testing.assert_array_equal(np.isnan(data[index]), np.isnan(expected))
    observed = (qa[window] & 1) == 0
    cloudy = (qa[window] & 0b1110) != 0
    assert row.cloud_cover == pytest.approx(
        100 * (cloudy & observed).sum() / observed.sum(), abs=1e-3
    )


def test_requester_pays_assets_need_aws_credentials(
    tmp_path: Path, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.stac_standin import FileServer

    for variable in (
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    bucket = FileServer()
    try:
        item, _ = _landsat_item(tmp_path, bucket)
        with pytest.raises(InvalidInputError, match="requester-pays"):
            ingest_scene(
                item,
                aoi_geometry(bbox=item["bbox"]),
                org_id=workspace.org_id,
                catalog=workspace.catalog,
                store=workspace.store,
                access=AssetAccess(("usgs-landsat",)),
                bands=["red"],
            )
    finally:
        bucket.close()
    assert bucket.requests == []


def test_a_polygon_aoi_masks_the_window_outside_it(
    served_s2: ServedScene, workspace: Workspace
) -> None:
    from pyproj import Transformer
    from rasterio.features import geometry_mask
    from shapely.geometry import Polygon, mapping, shape

    west, south, east, north = CLOUDY_AOI
    triangle = Polygon([(west, south), (east, south), (west, north), (west, south)])
    row = ingest_scene(
        served_s2.item,
        aoi_geometry(geojson=mapping(triangle)),
        org_id=workspace.org_id,
        catalog=workspace.catalog,
        store=workspace.store,
        access=AssetAccess((served_s2.server.host,)),
        bands=["red", "nir"],
    ).record
    data, src = _read_output(workspace, row.storage_key)
    window = _native_window(src.transform, src.width, src.height)

    # Independently: the triangle's corners in UTM 29N, rasterised by pixel centre.
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32629", always_xy=True)
    corners = [to_utm.transform(x, y) for x, y in triangle.exterior.coords]
    outside = geometry_mask(
        [{"type": "Polygon", "coordinates": [corners]}],
        out_shape=(src.height, src.width),
        transform=src.transform,
    )
    assert 0.3 < outside.mean() < 0.7, "a triangle fills about half of its bounding box"
    scl = _scl_on_grid(served_s2.folder, window)
    invalid = np.isin(scl, SCL_INVALID) | (scl >= 12)
    assert (invalid & ~outside).any() and (~invalid & ~outside).any()
    assets = served_s2.item["assets"]
    for index, (name, file) in enumerate([("red", "B04.tif"), ("nir", "B08.tif")]):
        band = assets[name]["raster:bands"][0]
        direct = _expected_band(
            served_s2.folder, file, window, band["scale"], band["offset"], invalid
        )
        expected = np.where(outside, np.nan, direct)
        np.testing.assert_array_equal(np.isnan(data[index]), np.isnan(expected), err_msg=name)
        assert np.isnan(data[index][outside]).all()
        np.testing.assert_allclose(data[index][~outside], direct[~outside], rtol=1e-6)

    # Cloud cover and the valid share count the triangle's pixels only.
    inside_scl = scl[~outside]
    observed = ~np.isin(inside_scl, [0, 1])
    cloud = 100.0 * np.isin(inside_scl, [8, 9, 10]).sum() / observed.sum()
    assert row.cloud_cover == pytest.approx(cloud, abs=1e-3)
    valid = np.isfinite(data).all(axis=0)[~outside].mean()
    assert row.bands["valid_fraction"] == pytest.approx(valid, abs=1e-6)
    # The recorded footprint is the triangle (the scene covers all of it).
    footprint = shape(record_dict(row)["geometry"])
    assert footprint.symmetric_difference(triangle).area < 1e-9 * triangle.area + 1e-12
