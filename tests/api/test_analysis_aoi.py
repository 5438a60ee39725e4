"""Analyses clipped to an AOI: the result covers the AOI's bounding window on the scene's grid
and is nodata outside the AOI's polygon.

The expected window and mask are computed here without TerraScan's code: the AOI's lon/lat
ring is projected with pyproj, the window is its bounds floored/ceiled onto the 10 m grid, and
a pixel is inside when shapely says its centre is (GDAL's rasterisation rule)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
from fastapi.testclient import TestClient
from rasterio.io import MemoryFile
from shapely.geometry import Polygon

from tests.api._accounts import Account, account_settings, open_client, signup
from tests.api._analysis import (
    CRS,
    TRANSFORM,
    ndvi,
    scene,
    upload,
    wait_for,
    with_change,
    write_scene,
)

#: A pentagon in UTM metres over the scene (64 x 64 pixels of 10 m from 500000, 5000000),
#: crossing the planted change (rows 20..36, cols 24..40) and with no vertex on the grid.
PENTAGON_UTM = [
    (500123.4, 4999781.3),
    (500402.7, 4999733.9),
    (500471.1, 4999552.6),
    (500287.2, 4999437.8),
    (500151.9, 4999590.4),
]
TO_LONLAT = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
TO_UTM = pyproj.Transformer.from_crs("EPSG:4326", CRS, always_xy=True)


@dataclass
class Setup:
    client: TestClient
    alice: Account
    bob: Account
    before: np.ndarray
    after: np.ndarray
    imagery: tuple[str, str]
    aoi: dict[str, Any]


def _lonlat_ring(points: list[tuple[float, float]]) -> list[list[float]]:
    ring = [list(TO_LONLAT.transform(x, y)) for x, y in points]
    return [*ring, ring[0]]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = Path(tmp_path_factory.mktemp("analysis-aoi"))
    with open_client(account_settings(root)) as client:
        alice = signup(client, "alice@example.org")
        bob = signup(client, "bob@example.org")
        before, after = scene(3), with_change(scene(3))
        ids = (
            upload(client, alice, write_scene(root / "before.tif", before), "before"),
            upload(client, alice, write_scene(root / "after.tif", after), "after"),
        )
        geometry = {"type": "Polygon", "coordinates": [_lonlat_ring(PENTAGON_UTM)]}
        made = client.post(
            "/api/v1/aois", json={"name": "field", "geometry": geometry}, headers=alice.headers
        )
        assert made.status_code == 201, made.text
        yield Setup(client, alice, bob, before, after, ids, made.json())


def expected_clip(aoi: dict[str, Any]) -> tuple[slice, slice, np.ndarray]:
    """Rows, columns of the AOI's window on the scene's grid and its inside mask, from the AOI
    as the API returns it (lon/lat), projected with pyproj."""
    ring = aoi["geometry"]["coordinates"][0]
    polygon = Polygon([TO_UTM.transform(lon, lat) for lon, lat in ring])
    west, south, east, north = polygon.bounds
    x0, y0, size = TRANSFORM.c, TRANSFORM.f, TRANSFORM.a
    cols = slice(math.floor((west - x0) / size), math.ceil((east - x0) / size))
    rows = slice(math.floor((y0 - north) / size), math.ceil((y0 - south) / size))
    xs = x0 + (np.arange(cols.start, cols.stop) + 0.5) * size
    ys = y0 - (np.arange(rows.start, rows.stop) + 0.5) * size
    gx, gy = np.meshgrid(xs, ys)
    inside = shapely.contains_xy(polygon, gx, gy)
    return rows, cols, inside


def _run(s: Setup, url: str, body: dict[str, Any]) -> dict[str, Any]:
    started = s.client.post(f"/api/v1/analysis/{url}", json=body, headers=s.alice.headers)
    assert started.status_code == 202, started.text
    job = wait_for(s.client, s.alice, started.json()["id"])
    assert job["status"] == "completed", job
    return job


def _raster(s: Setup, job_id: str) -> tuple[np.ndarray, Any, Any]:
    response = s.client.get(
        f"/api/v1/analysis/results/{job_id}/export?format=geotiff", headers=s.alice.headers
    )
    assert response.status_code == 200, response.text
    with MemoryFile(response.content) as memfile, memfile.open() as src:
        return src.read(1), src.transform, src.nodata


def test_spectral_index_is_clipped_to_the_aoi(setup: Setup) -> None:
    job = _run(
        setup,
        "spectral-index",
        {"imagery_id": setup.imagery[0], "index_name": "ndvi", "aoi_id": setup.aoi["id"]},
    )
    rows, cols, inside = expected_clip(setup.aoi)
    assert 0 < inside.sum() < inside.size  # the mask is not trivial
    values, transform, _ = _raster(setup, job["id"])
    assert values.shape == inside.shape
    assert (
        transform.c == TRANSFORM.c + cols.start * 10
        and transform.f == TRANSFORM.f - rows.start * 10
    )
    expected = np.where(inside, ndvi(setup.before)[rows, cols], np.nan)
    np.testing.assert_allclose(values, expected, rtol=1e-6, equal_nan=True)
    assert job["results_summary"]["aoi"] == {"id": setup.aoi["id"], "pixels": int(inside.sum())}


def test_change_detection_is_clipped_to_the_aoi(setup: Setup) -> None:
    job = _run(
        setup,
        "change-detection",
        {
            "imagery_id_before": setup.imagery[0],
            "imagery_id_after": setup.imagery[1],
            "method": "diff",
            "threshold": 0.3,
            "coregister": False,
            "aoi_id": setup.aoi["id"],
        },
    )
    rows, cols, inside = expected_clip(setup.aoi)
    mask, _, nodata = _raster(setup, job["id"])
    changed = np.abs(ndvi(setup.after) - ndvi(setup.before))[rows, cols] > 0.3
    expected = np.where(inside, changed.astype(np.uint8), 255)
    assert nodata == 255
    np.testing.assert_array_equal(mask, expected)
    assert (changed & inside).any() and (changed & ~inside).any()  # the AOI cuts the change
    summary = job["results_summary"]
    assert summary["changed_pixels"] == int((changed & inside).sum())
    assert summary["valid_pixels"] == int(inside.sum())
    features = setup.client.get(
        f"/api/v1/analysis/results/{job['id']}/features", headers=setup.alice.headers
    ).json()["features"]
    area = sum(f["properties"]["area_m2"] for f in features)
    assert area == pytest.approx((changed & inside).sum() * 100, rel=0.02)


def test_another_organisations_aoi_is_404(setup: Setup, tmp_path: Path) -> None:
    """Bob, with his own scenes, names Alice's AOI: 404 (a problem document), no job."""
    client, bob = setup.client, setup.bob
    theirs = [
        upload(client, bob, write_scene(tmp_path / f"{n}.tif", data), n)
        for n, data in (("b1", setup.before), ("b2", setup.after))
    ]
    aoi = setup.aoi["id"]
    for url, body in (
        ("spectral-index", {"imagery_id": theirs[0], "index_name": "ndvi", "aoi_id": aoi}),
        (
            "change-detection",
            {"imagery_id_before": theirs[0], "imagery_id_after": theirs[1], "aoi_id": aoi},
        ),
    ):
        response = client.post(f"/api/v1/analysis/{url}", json=body, headers=bob.headers)
        assert response.status_code == 404, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/v1/jobs", headers=bob.headers).json()["items"] == []


def test_an_aoi_off_the_scene_fails_the_job_with_a_reason(setup: Setup) -> None:
    far = {
        "type": "Polygon",
        "coordinates": [[[10, 45], [10.01, 45], [10.01, 45.01], [10, 45.01], [10, 45]]],
    }
    made = setup.client.post(
        "/api/v1/aois", json={"name": "far", "geometry": far}, headers=setup.alice.headers
    )
    started = setup.client.post(
        "/api/v1/analysis/spectral-index",
        json={"imagery_id": setup.imagery[0], "index_name": "ndvi", "aoi_id": made.json()["id"]},
        headers=setup.alice.headers,
    )
    assert started.status_code == 202
    job = wait_for(setup.client, setup.alice, started.json()["id"])
    assert job["status"] == "failed" and "overlap" in job["error_message"]
