"""Analyses over HTTP: upload two scenes, run NDVI and change detection as jobs, follow them,
and check the results against numpy; jobs list, cancel, events; other organisations see 404."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.io import MemoryFile

from tests.api._accounts import account_settings, open_client, signup
from tests.api._analysis import CHANGE, Journey, ndvi, run_journey, wait_for


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journey]:
    root = Path(tmp_path_factory.mktemp("analysis-api"))
    with open_client(account_settings(root)) as client:
        alice = signup(client, "alice@example.org")
        bob = signup(client, "bob@example.org")
        yield run_journey(client, alice, bob, root)


def _result(j: Journey, job_id: str) -> tuple[np.ndarray, rasterio.Affine]:
    response = j.client.get(
        f"/api/v1/analysis/results/{job_id}/export?format=geotiff", headers=j.alice.headers
    )
    assert response.status_code == 200, response.text
    with MemoryFile(response.content) as memfile, memfile.open() as src:
        return src.read(1), src.transform


def test_ndvi_job_matches_numpy(journey: Journey) -> None:
    job = journey.index_job
    assert job["job_type"] == "spectral-index" and job["progress_pct"] == 100
    assert job["results_url"] == f"/api/v1/analysis/results/{job['id']}"
    assert "result_key" not in job["results_summary"]
    values, transform = _result(journey, job["id"])
    assert values.dtype == np.float32 and transform.a == 10
    np.testing.assert_allclose(values, ndvi(journey.before), rtol=1e-5)


def test_change_detection_finds_the_planted_change(journey: Journey) -> None:
    job = journey.change_job
    summary = job["results_summary"]
    assert summary["alignment"] == "none"
    mask, _ = _result(journey, job["id"])
    expected = np.abs(ndvi(journey.after) - ndvi(journey.before)) > 0.3
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask == 1, expected)
    assert expected[CHANGE].all() and expected.sum() == expected[CHANGE].size

    features = journey.client.get(
        f"/api/v1/analysis/results/{job['id']}/features", headers=journey.alice.headers
    ).json()["features"]
    assert len(features) == 1 and summary["regions"]["count"] == 1
    area = features[0]["properties"]["area_m2"]
    assert area == pytest.approx(16 * 16 * 100, rel=0.02)  # 16 x 16 pixels of 10 m
    lon, lat = np.asarray(features[0]["geometry"]["coordinates"][0]).mean(axis=0)
    assert 14.9 < lon < 15.1 and 45.0 < lat < 45.2


def test_coregistered_change_keeps_the_core_of_the_change(journey: Journey) -> None:
    """By default the after scene is co-registered first (a sub-pixel shift, measured here on
    random texture, moves the edges of the change but not its core)."""
    client, alice = journey.client, journey.alice
    started = client.post(
        "/api/v1/analysis/change-detection",
        json={
            "imagery_id_before": journey.imagery[0],
            "imagery_id_after": journey.imagery[1],
            "threshold": 0.3,
        },
        headers=alice.headers,
    )
    assert started.status_code == 202, started.text
    job = wait_for(client, alice, started.json()["id"])
    assert job["status"] == "completed", job
    assert job["results_summary"]["alignment"] == "coregistered"
    assert max(abs(s) for s in job["results_summary"]["shift_px"]) < 1
    mask, _ = _result(journey, job["id"])
    rows, cols = CHANGE
    core = mask[rows.start + 1 : rows.stop - 1, cols.start + 1 : cols.stop - 1]
    assert (core == 1).all()
    assert (mask[:16, :16] == 0).all()


def test_jobs_list_filters_and_pages(journey: Journey) -> None:
    client, alice = journey.client, journey.alice
    page = client.get("/api/v1/jobs?limit=1", headers=alice.headers).json()
    assert len(page["items"]) == 1 and page["next_offset"] == 1
    done = client.get("/api/v1/jobs?status=completed", headers=alice.headers).json()
    ids = {i["id"] for i in done["items"]}
    assert ids >= {journey.index_job["id"], journey.change_job["id"]}
    failed = client.get("/api/v1/jobs?status=failed", headers=alice.headers).json()
    assert failed["items"] == []
    typed = client.get("/api/v1/jobs?job_type=change-detection", headers=alice.headers).json()
    assert journey.change_job["id"] in [i["id"] for i in typed["items"]]
    assert {i["job_type"] for i in typed["items"]} == {"change-detection"}
    assert client.get("/api/v1/jobs", headers=journey.bob.headers).json()["items"] == []


def test_events_stream_starts_with_the_state_and_ends_when_done(journey: Journey) -> None:
    job_id = journey.index_job["id"]
    with journey.client.stream(
        "GET", f"/api/v1/jobs/{job_id}/events", headers=journey.alice.headers
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join(response.iter_text())
    event = json.loads(text.split("data: ", 1)[1].split("\n", 1)[0])
    assert event["status"] == "completed" and event["job_id"] == job_id


def test_cancelling_a_finished_job_is_a_conflict(journey: Journey) -> None:
    response = journey.client.post(
        f"/api/v1/jobs/{journey.index_job['id']}/cancel", headers=journey.alice.headers
    )
    assert response.status_code == 409


def test_other_organisations_get_404(journey: Journey) -> None:
    client, bob = journey.client, journey.bob
    job_id = journey.change_job["id"]
    for url in (
        f"/api/v1/jobs/{job_id}",
        f"/api/v1/jobs/{job_id}/events",
        f"/api/v1/analysis/results/{job_id}",
        f"/api/v1/analysis/results/{job_id}/features",
        f"/api/v1/analysis/results/{job_id}/export?format=geojson",
    ):
        assert client.get(url, headers=bob.headers).status_code == 404, url
    assert client.post(f"/api/v1/jobs/{job_id}/cancel", headers=bob.headers).status_code == 404
    started = client.post(
        "/api/v1/analysis/spectral-index",
        json={"imagery_id": journey.imagery[0], "index_name": "ndvi"},
        headers=bob.headers,
    )
    assert started.status_code == 404


def test_bad_analysis_requests_are_refused(journey: Journey) -> None:
    client, alice = journey.client, journey.alice
    bad = [
        ("/api/v1/analysis/spectral-index", {"imagery_id": journey.imagery[0], "index_name": "x"}),
        ("/api/v1/analysis/spectral-index", {"imagery_id": "/etc/passwd", "index_name": "ndvi"}),
        (
            "/api/v1/analysis/change-detection",
            {"imagery_id_before": journey.imagery[0], "imagery_id_after": journey.imagery[0]},
        ),
        (
            "/api/v1/analysis/change-detection",
            {
                "imagery_id_before": journey.imagery[0],
                "imagery_id_after": journey.imagery[1],
                "threshold": -1,
            },
        ),
    ]
    for url, body in bad:
        response = client.post(url, json=body, headers=alice.headers)
        assert response.status_code == 422, (body, response.text)
