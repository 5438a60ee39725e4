"""POST /api/v1/imagery/ingest end to end: the STAC API stand-in replays real Earth Search
answers, a range server serves the real Sentinel-2 files, and the ``ingest`` job runs in the
embedded worker. The stored COG is compared with reading the same files directly."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from fastapi.testclient import TestClient
from rasterio.windows import Window
from shapely.geometry import box, mapping

from tests.api._accounts import Account, account_settings, open_client, signup
from tests.api._analysis import wait_for
from tests.stac_standin import (
    S2_SCENE_DIR,
    EarthSearchStandIn,
    FileServer,
    Server,
    serve_s2_item,
)

ITEM_ID = "S2A_29RKH_20200219_0_L2A"
#: Over the north-east of the tile, where the scene has clouds and cirrus (as tests/ingest).
AOI = [-11.05, 25.05, -10.90, 25.20]
ORIGIN_X, ORIGIN_Y, RES = 199980.0, 2800020.0, 100.0
SCL_INVALID = [0, 1, 3, 8, 9, 10]


@dataclass
class World:
    client: TestClient
    alice: Account
    stac: EarthSearchStandIn
    files: FileServer
    canary: Server
    item: dict[str, Any]
    fixtures: Path


@contextmanager
def _world(fixtures: Path, tmp_path: Path) -> Iterator[World]:
    files, canary = FileServer(), Server()
    stac = EarthSearchStandIn(fixtures)
    item = serve_s2_item(fixtures, files)
    stac.add_item(item)
    settings = account_settings(tmp_path, stac_api_url=stac.base, asset_hosts=[files.host])
    try:
        with pytest.MonkeyPatch.context() as env, open_client(settings) as client:
            # The ingest job reads its settings from the worker's environment, as a Celery
            # worker does; the embedded worker runs in this process.
            env.setenv("TERRASCAN_STAC_API_URL", stac.base)
            env.setenv("TERRASCAN_ASSET_HOSTS", files.host)
            alice = signup(client, "ingester@example.org")
            yield World(client, alice, stac, files, canary, item, fixtures)
    finally:
        for server in (files, canary, stac):
            server.close()


@pytest.fixture
def world(fixtures_dir: Path, tmp_path: Path) -> Iterator[World]:
    with _world(fixtures_dir, tmp_path) as value:
        yield value


@pytest.fixture(scope="module")
def quiet_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One app for the refusals (each must leave it untouched)."""
    from tests.conftest import FIXTURES

    if not FIXTURES.is_dir():
        pytest.skip(f"real-data fixtures not found at {FIXTURES}")
    with _world(FIXTURES, tmp_path_factory.mktemp("ingest-refusals")) as value:
        yield value


def _submit(world: World, body: dict[str, Any], who: Account | None = None) -> Any:
    who = who or world.alice
    return world.client.post("/api/v1/imagery/ingest", json=body, headers=who.headers)


def _direct_red(world: World, transform: Any, width: int, height: int) -> np.ndarray:
    """Red reflectance read straight from the fixture files, with SCL-masked pixels as NaN."""
    folder = world.fixtures / S2_SCENE_DIR
    col, row = (transform.c - ORIGIN_X) / RES, (ORIGIN_Y - transform.f) / RES
    assert col == int(col) and row == int(row)
    window = Window(int(col), int(row), width, height)
    with rasterio.open(folder / "B04.tif") as src:
        dn = src.read(1, window=window)
    with rasterio.open(folder / "SCL.tif") as src:
        scl = src.read(1)
    rows = (np.arange(height) + window.row_off) // 2
    cols = (np.arange(width) + window.col_off) // 2
    scl = scl[np.ix_(rows, cols)]
    band = world.item["assets"]["red"]["raster:bands"][0]
    value = dn.astype(np.float32) * np.float32(band["scale"]) + np.float32(band["offset"])
    value[(dn == 0) | np.isin(scl, SCL_INVALID) | (scl >= 12)] = np.nan
    return value


def test_an_ingest_job_fills_the_catalog(world: World) -> None:
    client, alice = world.client, world.alice
    started = _submit(world, {"item_ids": [ITEM_ID], "bbox": AOI, "bands": ["red", "nir"]})
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["job_type"] == "ingest" and job["status"] in ("pending", "queued", "running")
    done = wait_for(client, alice, job["id"], timeout=120)
    assert done["status"] == "completed", done
    summary = done["results_summary"]
    [imagery_id] = summary["imagery_ids"]
    [record] = summary["imagery"]
    assert record["id"] == imagery_id and record["status"] == "ready"
    assert record["scene_id"] == ITEM_ID and record["bands"] == ["red", "nir"]

    # It is found by the catalog search over the AOI, and not outside it.
    page = client.get(
        "/api/v1/imagery/search",
        params={"bbox": ",".join(map(str, AOI))},
        headers=alice.headers,
    ).json()
    assert [f["id"] for f in page["features"]] == [imagery_id]
    elsewhere = client.get(
        "/api/v1/imagery/search", params={"bbox": "10,10,11,11"}, headers=alice.headers
    ).json()
    assert elsewhere["features"] == []

    # The COG it stored holds the real pixels, read through range requests only.
    cog = client.get(f"/api/v1/imagery/{imagery_id}/download", headers=alice.headers)
    assert cog.status_code == 200
    with rasterio.MemoryFile(io.BytesIO(cog.content)) as memfile, memfile.open() as src:
        assert src.descriptions == ("red", "nir") and src.crs.to_epsg() == 32629
        red, transform, shape = src.read(1), src.transform, (src.width, src.height)
    expected = _direct_red(world, transform, *shape)
    np.testing.assert_array_equal(np.isnan(red), np.isnan(expected))
    np.testing.assert_allclose(red, expected, rtol=1e-6)
    assert all("Range" in r.headers for r in world.files.requests)
    assert world.stac.searches[-1]["ids"] == [ITEM_ID]

    # Submitting it again is a no-op: the same record, nothing read.
    reads = len(world.files.requests)
    resubmitted = _submit(world, {"item_ids": [ITEM_ID], "bbox": AOI, "bands": ["red", "nir"]})
    again = wait_for(client, alice, resubmitted.json()["id"])
    assert again["status"] == "completed"
    assert again["results_summary"]["imagery_ids"] == [imagery_id]
    assert again["results_summary"]["imagery"][0]["created"] is False
    assert len(world.files.requests) == reads


def test_an_ingest_by_aoi_id_uses_the_polygon(world: World) -> None:
    client, alice = world.client, world.alice
    west, south, east, north = AOI
    triangle = {
        "type": "Polygon",
        "coordinates": [[[west, south], [east, south], [west, north], [west, south]]],
    }
    aoi = client.post(
        "/api/v1/aois", json={"name": "triangle", "geometry": triangle}, headers=alice.headers
    )
    assert aoi.status_code == 201, aoi.text
    started = _submit(world, {"item_ids": [ITEM_ID], "aoi_id": aoi.json()["id"], "bands": ["red"]})
    assert started.status_code == 202, started.text
    done = wait_for(client, alice, started.json()["id"], timeout=120)
    assert done["status"] == "completed", done
    [record] = done["results_summary"]["imagery"]
    # The north-east half of the window lies outside the triangle: about half is no data.
    assert 0.3 < record["band_info"]["valid_fraction"] <= 1.0
    cog = client.get(f"/api/v1/imagery/{record['id']}/download", headers=alice.headers)
    with rasterio.MemoryFile(io.BytesIO(cog.content)) as memfile, memfile.open() as src:
        red = src.read(1)
    assert np.isnan(red[:3, -3:]).all() and np.isfinite(red[-3:, :3]).any()

    bob = signup(client, "other-ingester@example.org")
    refused = _submit(world, {"item_ids": [ITEM_ID], "aoi_id": aoi.json()["id"]}, who=bob)
    assert refused.status_code == 404


def test_assets_on_hosts_outside_the_allow_list_fail_the_job(world: World) -> None:
    hostile = {**world.item, "id": "S2A_HOSTILE_0_L2A", "assets": {}}
    for name, asset in world.item["assets"].items():
        href = str(asset["href"]).replace(world.files.url, world.canary.url)
        hostile["assets"][name] = {**asset, "href": href}
    world.stac.add_item(hostile)
    started = _submit(world, {"item_ids": [hostile["id"]], "bbox": AOI, "bands": ["red"]})
    assert started.status_code == 202, started.text
    done = wait_for(world.client, world.alice, started.json()["id"], timeout=120)
    assert done["status"] == "failed"
    assert "allowed hosts" in (done["error_message"] or "")
    assert world.canary.requests == []
    failed = world.client.get(
        "/api/v1/imagery/search", params={"status": "failed"}, headers=world.alice.headers
    ).json()
    assert [f["properties"]["scene_id"] for f in failed["features"]] == [hostile["id"]]


GOOD: dict[str, Any] = {"item_ids": [ITEM_ID], "bbox": AOI}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"bbox": AOI},
        {**GOOD, "item_ids": []},
        {**GOOD, "item_ids": [f"S2A_{i}" for i in range(51)]},
        {**GOOD, "item_ids": ["../../etc/passwd"]},
        {"item_ids": [ITEM_ID]},
        {**GOOD, "aoi": mapping(box(*AOI))},
        {**GOOD, "bbox": [1, 2, 3]},
        {**GOOD, "bbox": [10, 0, 5, 5]},
        {**GOOD, "bbox": [0, 0, 1, 95]},
        {**GOOD, "bands": ["red", "ultraviolet"]},
        {**GOOD, "bands": ["red", "red"]},
        {**GOOD, "collections": ["no such collection!"]},
        {**GOOD, "collections": []},
        {**GOOD, "stac_api_url": "http://127.0.0.1:1/v1"},
        {"item_ids": [ITEM_ID], "aoi": {"type": "Point", "coordinates": [0, 0]}},
        {
            "item_ids": [ITEM_ID],
            "aoi": {"type": "Polygon", "coordinates": [[[0, 0], [1, 95], [2, 0], [0, 0]]]},
        },
        {"item_ids": [ITEM_ID], "aoi": {"type": "Polygon", "coordinates": "not coordinates"}},
        {"item_ids": [ITEM_ID], "aoi_id": "not-a-uuid"},
    ],
)
def test_bad_ingest_requests_are_422_and_start_nothing(
    quiet_world: World, body: dict[str, Any]
) -> None:
    world = quiet_world
    response = _submit(world, body)
    assert response.status_code == 422, (body, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    jobs = world.client.get("/api/v1/jobs", headers=world.alice.headers).json()
    assert jobs["items"] == []
    assert world.stac.searches == [] and world.files.requests == []


def test_an_unknown_aoi_id_is_404(quiet_world: World) -> None:
    response = _submit(quiet_world, {"item_ids": [ITEM_ID], "aoi_id": str(uuid.uuid4())})
    assert response.status_code == 404
