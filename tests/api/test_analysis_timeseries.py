"""Time series over HTTP: NDVI over every ready scene of an AOI, or at a point, per date.

Four scenes of one place with known, different values (one with nodata pixels) are uploaded
out of date order, plus a scene elsewhere (never listed) and a scene without a NIR band (listed
as skipped). Expected statistics are numpy over the uploaded arrays inside the AOI, whose pixels
are found here with shapely (a pixel is inside when its centre is)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from affine import Affine
from fastapi.testclient import TestClient
from shapely.geometry import Polygon

from tests.api._accounts import Account, account_settings, open_client, signup
from tests.api._analysis import CRS, SIZE, TRANSFORM, wait_for

TO_LONLAT = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
TO_UTM = pyproj.Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
AOI_UTM = [
    (500101.3, 4999903.2),
    (500387.9, 4999871.6),
    (500342.2, 4999612.4),
    (500133.8, 4999650.7),
]
POINT_PIXEL = (30, 17)  # row, col
NODATA = 0
DATES = ["2024-05-01", "2024-03-15", "2024-08-20", "2024-01-10"]  # upload order


def make_scene(seed: int, nir_level: int, holes: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = np.empty((4, SIZE, SIZE), dtype="uint16")
    data[0] = rng.integers(400, 1200, (SIZE, SIZE))
    data[1] = rng.integers(500, 1100, (SIZE, SIZE))
    data[2] = rng.integers(300, 900, (SIZE, SIZE))
    data[3] = rng.integers(nir_level, nir_level + 1500, (SIZE, SIZE))
    if holes:  # a cloud masked to nodata across the AOI
        data[:, 5:25, 10:30] = NODATA
    return data


def write(path: Path, data: np.ndarray, names: list[str], transform: Affine = TRANSFORM) -> Path:
    profile = {
        "driver": "GTiff", "width": SIZE, "height": SIZE, "count": len(names),
        "dtype": "uint16", "crs": CRS, "transform": transform, "nodata": NODATA,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data[: len(names)])
        for index, name in enumerate(names, start=1):
            dst.set_band_description(index, name)
    return path


def upload(client: TestClient, who: Account, path: Path, acquired: str) -> str:
    response = client.post(
        "/api/v1/imagery/upload",
        headers=who.headers,
        files={"file": (path.name, path.read_bytes(), "image/tiff")},
        data={"name": path.stem, "acquired": acquired},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def ndvi(data: np.ndarray) -> np.ndarray:
    red, nir = data[0].astype("float64"), data[3].astype("float64")
    with np.errstate(invalid="ignore"):  # 0 / 0 in the nodata holes
        out = (nir - red) / (nir + red)
    out[(data[0] == NODATA) | (data[3] == NODATA)] = np.nan
    return out


@dataclass
class Setup:
    client: TestClient
    alice: Account
    bob: Account
    scenes: dict[str, tuple[str, np.ndarray]]  # date -> (imagery id, data)
    no_nir: str
    elsewhere: str
    aoi: dict[str, Any]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = Path(tmp_path_factory.mktemp("analysis-timeseries"))
    names = ["red", "green", "blue", "nir"]
    with open_client(account_settings(root)) as client:
        alice = signup(client, "alice@example.org")
        bob = signup(client, "bob@example.org")
        scenes = {}
        for number, date in enumerate(DATES):
            data = make_scene(number, 1500 + 800 * number, holes=number == 2)
            path = write(root / f"scene-{date}.tif", data, names)
            scenes[date] = (upload(client, alice, path, date), data)
        no_nir = upload(
            client, alice, write(root / "rgb.tif", make_scene(9, 2000, False), names[:3]),
            "2024-06-01",
        )  # fmt: skip
        far = Affine(10, 0, 600000, 0, -10, 5100000)
        elsewhere = upload(
            client, alice, write(root / "far.tif", make_scene(8, 2000, False), names, far),
            "2024-04-01",
        )  # fmt: skip
        ring = [list(TO_LONLAT.transform(x, y)) for x, y in AOI_UTM]
        geometry = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
        made = client.post(
            "/api/v1/aois", json={"name": "field", "geometry": geometry}, headers=alice.headers
        )
        assert made.status_code == 201, made.text
        yield Setup(client, alice, bob, scenes, no_nir, elsewhere, made.json())


def inside_mask(aoi: dict[str, Any]) -> np.ndarray:
    polygon = Polygon(
        [TO_UTM.transform(lon, lat) for lon, lat in aoi["geometry"]["coordinates"][0]]
    )
    centres = (np.arange(SIZE) + 0.5) * 10
    gx, gy = np.meshgrid(TRANSFORM.c + centres, TRANSFORM.f - centres)
    return shapely.contains_xy(polygon, gx, gy)


def _run(s: Setup, body: dict[str, Any]) -> dict[str, Any]:
    started = s.client.post("/api/v1/analysis/timeseries", json=body, headers=s.alice.headers)
    assert started.status_code == 202, started.text
    assert started.json()["job_type"] == "timeseries"
    job = wait_for(s.client, s.alice, started.json()["id"])
    assert job["status"] == "completed", job
    return job


def test_series_over_an_aoi_matches_numpy(setup: Setup) -> None:
    job = _run(setup, {"index_name": "ndvi", "aoi_id": setup.aoi["id"]})
    summary = job["results_summary"]
    assert summary["index_name"] == "ndvi"
    series = summary["series"]
    ordered = sorted(DATES)
    assert [e["imagery_id"] for e in series] == [setup.scenes[d][0] for d in ordered]
    assert [e["acquired"][:10] for e in series] == ordered
    assert setup.elsewhere not in str(summary)
    assert [s["imagery_id"] for s in summary["skipped"]] == [setup.no_nir]
    inside = inside_mask(setup.aoi)
    assert 0 < inside.sum() < inside.size
    for entry, date in zip(series, ordered, strict=True):
        values = ndvi(setup.scenes[date][1])[inside]
        valid = values[np.isfinite(values)]
        assert entry["count"] == valid.size
        assert entry["valid_fraction"] == pytest.approx(valid.size / inside.sum())
        assert entry["mean"] == pytest.approx(valid.mean(), rel=1e-5)
        assert entry["median"] == pytest.approx(np.median(valid), rel=1e-5)
        assert entry["std"] == pytest.approx(valid.std(), rel=1e-4)
    fractions = [e["valid_fraction"] for e in series]
    assert fractions.count(1.0) == 3 and 0 < min(fractions) < 1  # the scene with a cloud


def test_series_at_a_point_and_within_dates(setup: Setup) -> None:
    row, col = POINT_PIXEL
    x, y = TRANSFORM * (col + 0.3, row + 0.6)
    lon, lat = TO_LONLAT.transform(x, y)
    job = _run(
        setup,
        {"index_name": "ndvi", "point": [lon, lat], "datetime": "2024-02-01/2024-12-31"},
    )
    series = job["results_summary"]["series"]
    dates = [d for d in sorted(DATES) if d >= "2024-02"]
    assert [e["imagery_id"] for e in series] == [setup.scenes[d][0] for d in dates]
    for entry, date in zip(series, dates, strict=True):
        value = ndvi(setup.scenes[date][1])[row, col]
        assert entry["count"] == 1 and entry["valid_fraction"] == 1.0
        assert entry["mean"] == pytest.approx(value, rel=1e-6)
        assert entry["median"] == pytest.approx(value, rel=1e-6) and entry["std"] == 0


def test_bad_timeseries_requests_are_refused(setup: Setup) -> None:
    client, alice, aoi = setup.client, setup.alice, setup.aoi["id"]
    for body in (
        {"index_name": "ndvi"},
        {"index_name": "ndvi", "aoi_id": aoi, "point": [15, 45]},
        {"index_name": "xyz", "aoi_id": aoi},
        {"index_name": "ndvi", "point": [15, 95]},
        {"index_name": "ndvi", "point": [200, 45]},
        {"index_name": "ndvi", "point": [15]},
        {"index_name": "ndvi", "aoi_id": aoi, "datetime": "2024-05-01/2024-01-01"},
        {"index_name": "ndvi", "aoi_id": aoi, "datetime": "yesterday"},
    ):
        response = client.post("/api/v1/analysis/timeseries", json=body, headers=alice.headers)
        assert response.status_code == 422, (body, response.text)
    response = client.post(
        "/api/v1/analysis/timeseries",
        content='{"index_name": "ndvi", "point": [NaN, 45]}',
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    other = client.post(
        "/api/v1/analysis/timeseries",
        json={"index_name": "ndvi", "aoi_id": aoi},
        headers=setup.bob.headers,
    )
    assert other.status_code == 404


def test_another_organisation_sees_none_of_the_scenes(setup: Setup) -> None:
    """Bob's series at the same point lists none of Alice's scenes."""
    client, bob = setup.client, setup.bob
    lon, lat = TO_LONLAT.transform(500200.0, 4999800.0)
    started = client.post(
        "/api/v1/analysis/timeseries",
        json={"index_name": "ndvi", "point": [lon, lat]},
        headers=bob.headers,
    )
    assert started.status_code == 202
    job = wait_for(client, bob, started.json()["id"])
    assert job["status"] == "completed" and job["results_summary"]["series"] == []
