"""Zonal statistics over HTTP: of an imagery band, of an index computed on the fly and of a
finished index job, over GeoJSON polygons (overlapping ones and a MultiPolygon included) and
over AOIs; the zone table as CSV and JSON; bad inputs refused before any job runs.

Expected values: each zone is rasterised alone with ``rasterio.features.rasterize`` on the
uploaded scene's grid and summarised with numpy."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
from fastapi.testclient import TestClient
from rasterio.features import rasterize
from rasterio.warp import transform_geom

from tests.api._accounts import Account, account_settings, open_client, signup
from tests.api._analysis import CRS, SIZE, TRANSFORM, ndvi, scene, upload, wait_for, write_scene

TO_LONLAT = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)


def _ring(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    """A lon/lat ring of the UTM rectangle (x0, y0)-(x1, y1), shifted off the pixel centres."""
    corners = [(x0, y0), (x1, y0 + 7.3), (x1, y1), (x0 + 3.1, y1)]
    ring = [list(TO_LONLAT.transform(x, y)) for x, y in corners]
    return [*ring, ring[0]]


def _feature(geometry: dict[str, Any], fid: Any = None, name: str | None = None) -> dict[str, Any]:
    feature: dict[str, Any] = {
        "type": "Feature",
        "properties": {"name": name} if name else {},
        "geometry": geometry,
    }
    if fid is not None:
        feature["id"] = fid
    return feature


def _polygon(*box: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [_ring(*box)]}


ZONES = {
    "type": "FeatureCollection",
    "features": [
        _feature(_polygon(500031.2, 4999612.7, 500212.9, 4999801.1), "north-west", "NW field"),
        # overlaps the first one
        _feature(_polygon(500150.4, 4999550.2, 500333.3, 4999700.6)),
        _feature(
            {
                "type": "MultiPolygon",
                "coordinates": [
                    [_ring(500401.1, 4999402.3, 500511.7, 4999499.9)],
                    [_ring(500520.6, 4999600.2, 500610.4, 4999690.8)],
                ],
            },
            7,
        ),
        # half outside the scene (east of 500640)
        _feature(_polygon(500580.5, 4999380.1, 500700.2, 4999450.7), "edge"),
    ],
}


@dataclass
class Setup:
    client: TestClient
    alice: Account
    bob: Account
    data: np.ndarray
    imagery: str
    index_job: dict[str, Any]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = Path(tmp_path_factory.mktemp("analysis-zonal"))
    with open_client(account_settings(root)) as client:
        alice = signup(client, "alice@example.org")
        bob = signup(client, "bob@example.org")
        data = scene(5)
        imagery = upload(client, alice, write_scene(root / "scene.tif", data), "scene")
        started = client.post(
            "/api/v1/analysis/spectral-index",
            json={"imagery_id": imagery, "index_name": "ndvi"},
            headers=alice.headers,
        )
        job = wait_for(client, alice, started.json()["id"])
        assert job["status"] == "completed", job
        yield Setup(client, alice, bob, data, imagery, job)


def expected_rows(values: np.ndarray, collection: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for index, feature in enumerate(collection["features"]):
        geometry = transform_geom("EPSG:4326", CRS, feature["geometry"])
        inside = rasterize([(geometry, 1)], out_shape=(SIZE, SIZE), transform=TRANSFORM) == 1
        picked = values[inside].astype(np.float64)
        picked = picked[np.isfinite(picked)]
        rows.append(
            {
                "zone": str(feature.get("id", index)),
                "name": (feature.get("properties") or {}).get("name"),
                "count": int(picked.size),
                "mean": picked.mean(),
                "median": np.median(picked),
                "std": picked.std(),
                "min": picked.min(),
                "max": picked.max(),
                "p10": np.percentile(picked, 10),
                "p90": np.percentile(picked, 90),
            }
        )
    return rows


def _run(s: Setup, body: dict[str, Any]) -> dict[str, Any]:
    started = s.client.post("/api/v1/analysis/zonal-stats", json=body, headers=s.alice.headers)
    assert started.status_code == 202, started.text
    assert started.json()["job_type"] == "zonal-stats"
    job = wait_for(s.client, s.alice, started.json()["id"])
    assert job["status"] == "completed", job
    return job


def _check(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [r["zone"] for r in got] == [r["zone"] for r in expected]
    for row, want in zip(got, expected, strict=True):
        assert row["name"] == want["name"] and row["count"] == want["count"] > 0
        for key in ("mean", "median", "std", "min", "max", "p10", "p90"):
            assert row[key] == pytest.approx(want[key], rel=1e-5, abs=1e-6), (row["zone"], key)


def test_zones_of_an_imagery_band(setup: Setup) -> None:
    job = _run(setup, {"imagery_id": setup.imagery, "band": "nir", "features": ZONES})
    expected = expected_rows(setup.data[3], ZONES)
    assert expected[0]["count"] + expected[1]["count"] > 0
    _check(job["results_summary"]["zones"], expected)
    assert job["results_summary"]["layers"] == 2  # the overlapping zones took two passes
    assert job["results_url"] == f"/api/v1/analysis/results/{job['id']}"


def test_zones_of_an_index_on_the_fly_and_of_an_index_job_agree_with_numpy(setup: Setup) -> None:
    expected = expected_rows(ndvi(setup.data), ZONES)
    on_the_fly = _run(setup, {"imagery_id": setup.imagery, "band": "ndvi", "features": ZONES})
    from_job = _run(
        setup, {"job_id": setup.index_job["id"], "features": ZONES, "percentiles": [10, 90]}
    )
    _check(on_the_fly["results_summary"]["zones"], expected)
    _check(from_job["results_summary"]["zones"], expected)


def test_zones_from_aois_and_other_percentiles(setup: Setup) -> None:
    client, alice = setup.client, setup.alice
    aois = []
    for feature in ZONES["features"][:2]:
        made = client.post(
            "/api/v1/aois",
            json={"name": f"aoi {len(aois)}", "geometry": feature["geometry"]},
            headers=alice.headers,
        )
        assert made.status_code == 201, made.text
        aois.append(made.json())
    job = _run(
        setup,
        {"imagery_id": setup.imagery, "band": "red", "aoi_ids": [a["id"] for a in aois],
         "percentiles": [25, 50, 97.5]},
    )  # fmt: skip
    zones = job["results_summary"]["zones"]
    assert [z["zone"] for z in zones] == [a["id"] for a in aois]
    assert [z["name"] for z in zones] == ["aoi 0", "aoi 1"]
    red = setup.data[0].astype(np.float64)
    for zone, aoi in zip(zones, aois, strict=True):
        geometry = transform_geom("EPSG:4326", CRS, aoi["geometry"])
        inside = rasterize([(geometry, 1)], out_shape=(SIZE, SIZE), transform=TRANSFORM) == 1
        values = red[inside]
        assert zone["count"] == values.size > 0
        assert set(zone) >= {"p25", "p50", "p97.5"} and "p10" not in zone
        assert zone["mean"] == pytest.approx(values.mean())
        for q in (25, 50, 97.5):
            assert zone[f"p{q}"] == pytest.approx(np.percentile(values, q)), q


def test_the_zone_table_downloads_as_csv_and_json(setup: Setup) -> None:
    job = _run(setup, {"imagery_id": setup.imagery, "band": "nir", "features": ZONES})
    url = f"/api/v1/analysis/results/{job['id']}/zones"
    response = setup.client.get(url, headers=setup.alice.headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith(
        f'attachment; filename="zonal-stats-{job["id"]}.csv"'
    )
    table = list(csv.DictReader(io.StringIO(response.text)))
    header = response.text.splitlines()[0].split(",")
    assert header == ["zone", "name", "count", "mean", "median", "std", "min", "max", "p10", "p90"]
    expected = expected_rows(setup.data[3], ZONES)
    assert [r["zone"] for r in table] == [e["zone"] for e in expected]
    for row, want in zip(table, expected, strict=True):
        assert int(row["count"]) == want["count"]
        assert float(row["mean"]) == pytest.approx(want["mean"])
        assert row["name"] == (want["name"] or "")
    as_json = setup.client.get(url, params={"format": "json"}, headers=setup.alice.headers)
    assert as_json.status_code == 200
    assert as_json.json() == job["results_summary"]["zones"]
    assert '.json"' in as_json.headers["content-disposition"]


def test_table_results_are_readable_but_have_no_raster(setup: Setup) -> None:
    """A zonal-stats result is at results_url; its tile, export and feature routes answer 404
    (never 500); an index job has no zone table."""
    client, alice = setup.client, setup.alice
    job = _run(setup, {"imagery_id": setup.imagery, "band": "nir", "features": ZONES})
    base = f"/api/v1/analysis/results/{job['id']}"
    read = client.get(base, headers=alice.headers)
    assert read.status_code == 200 and read.json()["results_summary"]["zones"]
    for url in (
        f"{base}/WebMercatorQuad/tilejson.json",
        f"{base}/tiles/WebMercatorQuad/0/0/0.png",
        f"{base}/export?format=geotiff",
        f"{base}/features",
        f"/api/v1/analysis/results/{setup.index_job['id']}/zones",
    ):
        assert client.get(url, headers=alice.headers).status_code == 404, url
    for url in (base, f"{base}/zones"):
        assert client.get(url, headers=setup.bob.headers).status_code == 404


def _square(lon: float = 15.0, lat: float = 45.1, size: float = 0.01) -> list[list[float]]:
    return [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]


def _collection(*geometries: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [_feature(g) for g in geometries]}


def test_bad_zonal_requests_are_refused(setup: Setup) -> None:
    client, alice, imagery = setup.client, setup.alice, setup.imagery
    ok = _collection({"type": "Polygon", "coordinates": [_square()]})
    many_vertices = [[15.0 + i * 1e-7, 45.1] for i in range(150_000)]
    many_vertices = [*many_vertices, [15.0, 45.2], many_vertices[0]]
    bad: list[tuple[int, Any]] = [
        (422, {"imagery_id": imagery, "job_id": setup.index_job["id"], "features": ok}),
        (422, {"features": ok}),
        (422, {"imagery_id": imagery, "features": ok}),  # no band
        (422, {"imagery_id": imagery, "band": "lidar", "features": ok}),
        (422, {"imagery_id": imagery, "band": "swir16", "features": ok}),  # not in the scene
        (422, {"imagery_id": imagery, "band": "nir"}),  # no zones
        (422, {"imagery_id": imagery, "band": "nir", "features": ok, "aoi_ids": []}),
        (422, {"imagery_id": imagery, "band": "nir", "features": ok, "percentiles": [101]}),
        (422, {"imagery_id": imagery, "band": "nir", "features": {"type": "Feature"}}),
        (
            422,
            {"imagery_id": imagery, "band": "nir",
             "features": _collection({"type": "Point", "coordinates": [15, 45]})},
        ),
        (
            422,  # latitude beyond 90
            {"imagery_id": imagery, "band": "nir",
             "features": _collection({"type": "Polygon", "coordinates": [_square(lat=89.995)]})},
        ),
        (
            422,  # a bow tie
            {"imagery_id": imagery, "band": "nir", "features": _collection(
                {"type": "Polygon",
                 "coordinates": [[[15, 45], [15.01, 45.01], [15.01, 45], [15, 45.01], [15, 45]]]}
            )},
        ),
        (
            413,
            {"imagery_id": imagery, "band": "nir",
             "features": _collection({"type": "Polygon", "coordinates": [many_vertices]})},
        ),
        (
            413,
            {"imagery_id": imagery, "band": "nir",
             "features": _collection(*[{"type": "Polygon", "coordinates": [_square()]}] * 1001)},
        ),
        (
            413,  # 17 copies of one square: 17 passes over the raster, one more than allowed
            {"imagery_id": imagery, "band": "nir",
             "features": _collection(*[{"type": "Polygon", "coordinates": [_square()]}] * 17)},
        ),
    ]  # fmt: skip
    for status, body in bad:
        response = client.post("/api/v1/analysis/zonal-stats", json=body, headers=alice.headers)
        assert response.status_code == status, (status, response.text[:300])
        assert response.headers["content-type"].startswith("application/problem+json")
    for text in ("NaN", "Infinity"):  # JSON that Python's parser accepts
        body = json.dumps({"imagery_id": imagery, "band": "nir", "features": ok})
        body = body.replace("[15.01, 45.1]", f"[15.01, {text}]", 1)
        assert text in body
        response = client.post(
            "/api/v1/analysis/zonal-stats",
            content=body,
            headers={**alice.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text
    assert client.get(
        "/api/v1/jobs", params={"job_type": "zonal-stats", "status": "failed"},
        headers=alice.headers,
    ).json()["items"] == []  # fmt: skip


def test_other_organisations_ids_are_404(setup: Setup, tmp_path: Path) -> None:
    client, bob = setup.client, setup.bob
    ok = _collection({"type": "Polygon", "coordinates": [_square()]})
    own = upload(client, bob, write_scene(tmp_path / "b.tif", setup.data), "b")
    aoi = client.post(
        "/api/v1/aois",
        json={"name": "a", "geometry": ok["features"][0]["geometry"]},
        headers=setup.alice.headers,
    ).json()["id"]
    for body in (
        {"imagery_id": setup.imagery, "band": "nir", "features": ok},
        {"job_id": setup.index_job["id"], "features": ok},
        {"imagery_id": own, "band": "nir", "aoi_ids": [aoi]},
    ):
        response = client.post("/api/v1/analysis/zonal-stats", json=body, headers=bob.headers)
        assert response.status_code == 404, response.text
