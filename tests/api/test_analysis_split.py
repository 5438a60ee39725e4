"""A spectral index split into row bands (parts) and merged into one COG, through HTTP on the
embedded executor: the result equals numpy's NDVI of the uploaded scene, as the single run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasterio.io import MemoryFile

from tests.api._accounts import account_settings, open_client, signup
from tests.api._analysis import ndvi, tall_scene, upload, wait_for

ROWS, COLS = 1300, 300  # three 512-row bands, the last one ragged


@pytest.mark.parametrize("parts", [3, 1])
def test_split_index_equals_numpy(tmp_path: Path, parts: int) -> None:
    data = tall_scene(tmp_path / "tall.tif", ROWS, COLS)
    with open_client(account_settings(tmp_path)) as client:
        alice = signup(client, "alice@example.org")
        imagery = upload(client, alice, tmp_path / "tall.tif", "tall")
        started = client.post(
            "/api/v1/analysis/spectral-index",
            json={"imagery_id": imagery, "index_name": "ndvi", "parts": parts},
            headers=alice.headers,
        )
        assert started.status_code == 202, started.text
        job = wait_for(client, alice, started.json()["id"])
        assert job["status"] == "completed", job
        summary = job["results_summary"]
        assert summary.get("parts", 1) == parts
        exported = client.get(
            f"/api/v1/analysis/results/{job['id']}/export?format=geotiff", headers=alice.headers
        )
        assert exported.status_code == 200
        with MemoryFile(exported.content) as memfile, memfile.open() as src:
            values = src.read(1)
            assert src.overviews(1)  # still a COG with overviews
        expected = ndvi(data)
        np.testing.assert_allclose(values, expected, rtol=1e-5)
        assert summary["statistics"]["valid_pixels"] == ROWS * COLS
        assert summary["statistics"]["mean"] == pytest.approx(float(expected.mean()), rel=1e-5)
        bad = client.post(
            "/api/v1/analysis/spectral-index",
            json={"imagery_id": imagery, "index_name": "ndvi", "parts": 0},
            headers=alice.headers,
        )
        assert bad.status_code == 422
