"""An analyst's journey through HTTP: upload two scenes, run a spectral index, change detection
by index differencing, change vector analysis and post-classification, zonal statistics of two
results and a time series; every result is checked against numpy on the uploaded arrays.

The after scene differs from the before scene by small noise in green, blue and NIR (below
every threshold), a planted vegetation loss (NIR drops in ``CHANGE``) and a red shift in
``RELABELLED`` (the class band that post-classification compares)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
from fastapi.testclient import TestClient
from rasterio.features import rasterize
from rasterio.io import MemoryFile
from rasterio.warp import transform_geom
from shapely.geometry import Polygon

from tests.api._accounts import Account, account_settings, open_client, signup
from tests.api._analysis import CHANGE, CRS, SIZE, TRANSFORM, ndvi, scene, wait_for, write_scene

RELABELLED = (slice(44, 54), slice(4, 20))
TO_LONLAT = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
#: A quadrilateral over part of the planted change, in UTM metres (no vertex on the grid).
FIELD_UTM = [(500181.7, 4999851.2), (500452.3, 4999822.9), (500431.6, 4999571.4),
             (500207.4, 4999598.8)]  # fmt: skip


def after_scene(before: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(42)
    after = before.astype(np.int32)
    after[1:] += rng.integers(-50, 51, after[1:].shape)
    after[3][CHANGE] = 600
    after[0][RELABELLED] += 7
    return after.astype(np.uint16)


def _lonlat(points: list[tuple[float, float]]) -> dict[str, Any]:
    ring = [list(TO_LONLAT.transform(x, y)) for x, y in points]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


@dataclass
class Journey:
    client: TestClient
    alice: Account
    before: np.ndarray
    after: np.ndarray
    imagery: tuple[str, str]
    field: dict[str, Any]

    def run(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        started = self.client.post(f"/api/v1/analysis/{url}", json=body, headers=self.alice.headers)
        assert started.status_code == 202, started.text
        job = wait_for(self.client, self.alice, started.json()["id"])
        assert job["status"] == "completed", job
        read = self.client.get(job["results_url"], headers=self.alice.headers)
        assert read.status_code == 200 and read.json()["id"] == job["id"]
        return job

    def raster(self, job_id: str) -> np.ndarray:
        response = self.client.get(
            f"/api/v1/analysis/results/{job_id}/export?format=geotiff", headers=self.alice.headers
        )
        assert response.status_code == 200, response.text
        with MemoryFile(response.content) as memfile, memfile.open() as src:
            assert src.transform == TRANSFORM and src.crs.to_string() == CRS
            return np.asarray(src.read(1))


def _upload(client: TestClient, who: Account, path: Path, acquired: str) -> str:
    response = client.post(
        "/api/v1/imagery/upload",
        headers=who.headers,
        files={"file": (path.name, path.read_bytes(), "image/tiff")},
        data={"name": path.stem, "acquired": acquired},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journey]:
    root = Path(tmp_path_factory.mktemp("analysis-journey"))
    with open_client(account_settings(root)) as client:
        alice = signup(client, "alice@example.org")
        before = scene(11)
        after = after_scene(before)
        ids = (
            _upload(client, alice, write_scene(root / "before.tif", before), "2024-04-02"),
            _upload(client, alice, write_scene(root / "after.tif", after), "2024-09-17"),
        )
        made = client.post(
            "/api/v1/aois",
            json={"name": "field", "geometry": _lonlat(FIELD_UTM)},
            headers=alice.headers,
        )
        assert made.status_code == 201, made.text
        yield Journey(client, alice, before, after, ids, made.json())


def _field_pixels(j: Journey) -> np.ndarray:
    """Pixels whose centre lies in the field (shapely on the projected AOI)."""
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    ring = j.field["geometry"]["coordinates"][0]
    polygon = Polygon([to_utm.transform(lon, lat) for lon, lat in ring])
    centres = (np.arange(SIZE) + 0.5) * 10
    gx, gy = np.meshgrid(TRANSFORM.c + centres, TRANSFORM.f - centres)
    return shapely.contains_xy(polygon, gx, gy)


def test_spectral_index(journey: Journey) -> None:
    job = journey.run("spectral-index", {"imagery_id": journey.imagery[0], "index_name": "ndvi"})
    np.testing.assert_allclose(journey.raster(job["id"]), ndvi(journey.before), rtol=1e-5)


def _change(j: Journey, method: str, **extra: Any) -> tuple[dict[str, Any], np.ndarray]:
    body = {"imagery_id_before": j.imagery[0], "imagery_id_after": j.imagery[1],
            "method": method, "coregister": False, **extra}  # fmt: skip
    job = j.run("change-detection", body)
    return job, j.raster(job["id"])


def test_change_by_index_difference(journey: Journey) -> None:
    job, mask = _change(journey, "diff", index_name="ndvi", threshold=0.3)
    expected = np.abs(ndvi(journey.after) - ndvi(journey.before)) > 0.3
    np.testing.assert_array_equal(mask, expected.astype(np.uint8))
    assert expected[CHANGE].all() and expected.sum() == expected[CHANGE].size
    assert job["results_summary"]["changed_pixels"] == expected.sum()


def test_change_vector_analysis(journey: Journey) -> None:
    job, mask = _change(journey, "cva", threshold=1000)
    delta = journey.after.astype(np.float64) - journey.before.astype(np.float64)
    magnitude = np.sqrt((delta**2).sum(axis=0))
    expected = magnitude > 1000
    np.testing.assert_array_equal(mask, expected.astype(np.uint8))
    assert 0 < expected.sum() < expected.size
    assert job["results_summary"]["changed_pixels"] == expected.sum()


def test_change_by_post_classification(journey: Journey) -> None:
    job, mask = _change(journey, "postclass")
    expected = journey.before[0] != journey.after[0]  # band 1 holds the classes
    np.testing.assert_array_equal(mask, expected.astype(np.uint8))
    assert expected[RELABELLED].all() and expected.sum() == expected[RELABELLED].size
    assert job["results_summary"]["changed_pixels"] == expected.sum()


def test_zonal_statistics_of_results(journey: Journey) -> None:
    index = journey.run("spectral-index", {"imagery_id": journey.imagery[1], "index_name": "ndvi"})
    change = journey.run(
        "change-detection",
        {"imagery_id_before": journey.imagery[0], "imagery_id_after": journey.imagery[1],
         "threshold": 0.3, "coregister": False},
    )  # fmt: skip
    geometry = transform_geom("EPSG:4326", CRS, journey.field["geometry"])
    inside = rasterize([(geometry, 1)], out_shape=(SIZE, SIZE), transform=TRANSFORM) == 1
    changed = np.abs(ndvi(journey.after) - ndvi(journey.before)) > 0.3
    for source, values in ((index, ndvi(journey.after)), (change, changed.astype(float))):
        job = journey.run("zonal-stats", {"job_id": source["id"], "aoi_ids": [journey.field["id"]]})
        (zone,) = job["results_summary"]["zones"]
        picked = values[inside].astype(np.float64)
        assert zone["zone"] == journey.field["id"] and zone["count"] == picked.size
        assert zone["mean"] == pytest.approx(picked.mean(), rel=1e-5)
        assert zone["median"] == pytest.approx(np.median(picked), rel=1e-5)
        assert zone["std"] == pytest.approx(picked.std(), rel=1e-4, abs=1e-9)
        assert zone["p90"] == pytest.approx(np.percentile(picked, 90), rel=1e-5)
    assert 0 < changed[inside].mean() < 1  # the field holds part of the change


def test_time_series(journey: Journey) -> None:
    job = journey.run("timeseries", {"index_name": "ndvi", "aoi_id": journey.field["id"]})
    series = job["results_summary"]["series"]
    assert [e["imagery_id"] for e in series] == list(journey.imagery)
    assert [e["acquired"][:10] for e in series] == ["2024-04-02", "2024-09-17"]
    inside = _field_pixels(journey)
    for entry, data in zip(series, (journey.before, journey.after), strict=True):
        values = ndvi(data)[inside].astype(np.float64)
        assert entry["count"] == values.size and entry["valid_fraction"] == 1.0
        assert entry["mean"] == pytest.approx(values.mean(), rel=1e-5)
        assert entry["median"] == pytest.approx(np.median(values), rel=1e-5)
        assert entry["std"] == pytest.approx(values.std(), rel=1e-4)
    assert series[1]["mean"] < series[0]["mean"]  # the vegetation loss shows
