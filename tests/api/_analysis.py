"""Helpers for the analysis, tile and export tests: synthetic scenes, uploads, job polling."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import rasterio
from affine import Affine
from fastapi.testclient import TestClient
from pyproj import Transformer

from tests.api._accounts import Account

BANDS = ["red", "green", "blue", "nir"]
SIZE = 64
TRANSFORM = Affine(10, 0, 500000, 0, -10, 5000000)  # UTM 33N, about 45.1N 15E
CRS = "EPSG:32633"
#: Rows/columns of the planted change (vegetation loss: NIR drops).
CHANGE = (slice(20, 36), slice(24, 40))


def scene(seed: int = 0) -> np.ndarray:
    """A textured 4-band uint16 scene (red, green, blue, nir): vegetation everywhere."""
    rng = np.random.default_rng(seed)
    data = np.empty((4, SIZE, SIZE), dtype="uint16")
    data[0] = rng.integers(400, 1000, (SIZE, SIZE))
    data[1] = rng.integers(500, 1100, (SIZE, SIZE))
    data[2] = rng.integers(300, 900, (SIZE, SIZE))
    data[3] = rng.integers(3000, 4000, (SIZE, SIZE))
    return data


def with_change(data: np.ndarray) -> np.ndarray:
    after = data.copy()
    after[3][CHANGE] = 600
    return after


def write_scene(path: Path, data: np.ndarray) -> Path:
    profile = {
        "driver": "GTiff",
        "width": SIZE,
        "height": SIZE,
        "count": 4,
        "dtype": "uint16",
        "crs": CRS,
        "transform": TRANSFORM,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for index, name in enumerate(BANDS, start=1):
            dst.set_band_description(index, name)
    return path


def tall_scene(path: Path, rows: int, cols: int, seed: int = 7) -> np.ndarray:
    """A random 4-band uint16 scene (red, green, blue, nir) of any size, written to ``path``."""
    rng = np.random.default_rng(seed)
    data = np.empty((4, rows, cols), np.uint16)
    data[0] = rng.integers(400, 1200, (rows, cols))
    data[1] = rng.integers(400, 1200, (rows, cols))
    data[2] = rng.integers(300, 900, (rows, cols))
    data[3] = rng.integers(1500, 4500, (rows, cols))
    profile = {
        "driver": "GTiff", "width": cols, "height": rows, "count": 4, "dtype": "uint16",
        "crs": CRS, "transform": TRANSFORM,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for index, name in enumerate(BANDS, start=1):
            dst.set_band_description(index, name)
    return data


def upload(client: TestClient, who: Account, path: Path, name: str) -> str:
    response = client.post(
        "/api/v1/imagery/upload",
        headers=who.headers,
        files={"file": (path.name, path.read_bytes(), "image/tiff")},
        data={"name": name},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def wait_for(client: TestClient, who: Account, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=who.headers).json()
        if job["status"] in ("completed", "failed", "cancelled"):
            return dict(job)
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def ndvi(data: np.ndarray) -> np.ndarray:
    red, nir = data[0].astype("float64"), data[3].astype("float64")
    return ((nir - red) / (nir + red)).astype("float32")


@dataclass
class Journey:
    client: TestClient
    alice: Account
    bob: Account
    before: np.ndarray
    after: np.ndarray
    imagery: tuple[str, str]
    index_job: dict[str, Any]
    change_job: dict[str, Any]


def run_journey(client: TestClient, alice: Account, bob: Account, folder: Path) -> Journey:
    before, after = scene(1), with_change(scene(1))
    ids = (
        upload(client, alice, write_scene(folder / "before.tif", before), "before"),
        upload(client, alice, write_scene(folder / "after.tif", after), "after"),
    )
    started = client.post(
        "/api/v1/analysis/spectral-index",
        json={"imagery_id": ids[0], "index_name": "ndvi"},
        headers=alice.headers,
    )
    assert started.status_code == 202, started.text
    change = client.post(
        "/api/v1/analysis/change-detection",
        json={
            "imagery_id_before": ids[0],
            "imagery_id_after": ids[1],
            "method": "diff",
            "index_name": "ndvi",
            "threshold": 0.3,
            "coregister": False,  # exact numpy comparison; see test_coregistered_change
        },
        headers=alice.headers,
    )
    assert change.status_code == 202, change.text
    index_job = wait_for(client, alice, started.json()["id"])
    change_job = wait_for(client, alice, change.json()["id"])
    assert index_job["status"] == "completed", index_job
    assert change_job["status"] == "completed", change_job
    return Journey(client, alice, bob, before, after, ids, index_job, change_job)


def expected_tile(tile: morecantile.Tile, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The raster's value under each tile pixel's centre (nearest), and where it is inside."""
    bounds = morecantile.tms.get("WebMercatorQuad").xy_bounds(tile)
    res = (bounds.right - bounds.left) / 256
    cols, rows = np.meshgrid(np.arange(256) + 0.5, np.arange(256) + 0.5)
    mx, my = bounds.left + cols * res, bounds.top - rows * res
    ux, uy = Transformer.from_crs("EPSG:3857", CRS, always_xy=True).transform(mx, my)
    c, r = ~TRANSFORM * (ux, uy)
    r, c = np.floor(r).astype(int), np.floor(c).astype(int)
    inside = (r >= 0) & (r < SIZE) & (c >= 0) & (c < SIZE)
    return values[np.clip(r, 0, SIZE - 1), np.clip(c, 0, SIZE - 1)], inside
