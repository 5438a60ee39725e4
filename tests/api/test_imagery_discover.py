"""POST /api/v1/imagery/discover: the configured STAC API searched through the bounded client.
The stand-in replays real Earth Search answers; the expected ids are read from the recorded
fixture files themselves. A dead or misbehaving API answers 502, and a canary stays silent."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping

from tests.api._accounts import Account, account_settings, open_client, signup
from tests.stac_standin import EarthSearchStandIn, HostileStacApi, serving

POINT = (-105.1019, 40.1672)  # the recorded two-collection search
AREA = [-105.2, 40.1, -105.0, 40.2]


def _recorded(fixtures: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((fixtures / "earth-search-v1" / name).read_text())
    return data


def _client(tmp_path: Path, url: str) -> Iterator[tuple[TestClient, Account]]:
    with open_client(account_settings(tmp_path, stac_api_url=url)) as client:
        yield client, signup(client, "finder@example.org")


@pytest.fixture(scope="module")
def stac(fixtures_dir: Path) -> Iterator[EarthSearchStandIn]:
    server = EarthSearchStandIn(fixtures_dir)
    yield server
    server.close()


@pytest.fixture(scope="module")
def finder(
    stac: EarthSearchStandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Account]]:
    yield from _client(tmp_path_factory.mktemp("discover"), stac.base)


def _discover(client: TestClient, who: Account, body: dict[str, Any]) -> Any:
    return client.post("/api/v1/imagery/discover", json=body, headers=who.headers)


def test_discover_returns_the_recorded_scenes(
    finder: tuple[TestClient, Account], stac: EarthSearchStandIn, fixtures_dir: Path
) -> None:
    client, alice = finder
    before = len(stac.searches)
    response = _discover(
        client,
        alice,
        {
            "bbox": AREA,
            "datetime": "2023-10-08/2023-10-08",
            "collections": ["sentinel-2-l2a", "landsat-c2-l2"],
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    recorded = _recorded(fixtures_dir, "search_s2l2a_landsatc2l2_point_2023-10-08.json")
    items = recorded["response"]["body"]["features"]
    assert body["type"] == "FeatureCollection"
    assert [f["id"] for f in body["features"]] == [i["id"] for i in items]
    for feature, item in zip(body["features"], items, strict=True):
        props, raw = feature["properties"], item["properties"]
        assert feature["type"] == "Feature" and feature["geometry"] == item["geometry"]
        assert feature["bbox"] == item["bbox"]
        assert props["collection"] == item["collection"]
        assert props["platform"] == raw["platform"]
        assert props["cloud_cover"] == raw["eo:cloud_cover"]
        assert datetime.fromisoformat(props["datetime"]) == datetime.fromisoformat(raw["datetime"])
        assert props["thumbnail"] == item["assets"]["thumbnail"]["href"]
        assert {"red", "green", "blue"} <= set(props["bands"])
        assert "scl" not in props["bands"] and "qa_pixel" not in props["bands"]
    # What reached the API: the bbox, the datetime as an RFC 3339 interval, the collections.
    sent = stac.searches[before]
    assert sent["bbox"] == AREA and sent["collections"] == ["sentinel-2-l2a", "landsat-c2-l2"]
    assert sent["datetime"].startswith("2023-10-08T00:00:00") and "/" in sent["datetime"]


def test_discover_follows_pages_and_filters_cloud(
    finder: tuple[TestClient, Account], stac: EarthSearchStandIn, fixtures_dir: Path
) -> None:
    client, alice = finder
    response = _discover(client, alice, {"bbox": AREA, "max_cloud": 40, "limit": 200})
    assert response.status_code == 200, response.text
    pages = [
        _recorded(fixtures_dir, name)["response"]["body"]["features"]
        for name in (
            "search_cql2_cloudcover_lte40_page1.json",
            "search_cql2_cloudcover_lte40_page2_next.json",
        )
    ]
    expected = [
        item["id"]
        for page in pages
        for item in page
        if item["properties"].get("eo:cloud_cover") is not None
        and item["properties"]["eo:cloud_cover"] <= 40
    ]
    assert len(expected) > 5
    assert [f["id"] for f in response.json()["features"]] == expected
    assert all(f["properties"]["cloud_cover"] <= 40 for f in response.json()["features"])
    # The limit is honoured across pages.
    first = _discover(client, alice, {"bbox": AREA, "max_cloud": 40, "limit": 3}).json()
    assert [f["id"] for f in first["features"]] == expected[:3]


def test_discover_by_aoi_sends_its_polygon(
    finder: tuple[TestClient, Account], stac: EarthSearchStandIn
) -> None:
    client, alice = finder
    square = mapping(box(POINT[0] - 0.05, POINT[1] - 0.05, POINT[0] + 0.05, POINT[1] + 0.05))
    aoi = client.post(
        "/api/v1/aois", json={"name": "Boulder", "geometry": square}, headers=alice.headers
    )
    assert aoi.status_code == 201, aoi.text
    before = len(stac.searches)
    response = _discover(
        client,
        alice,
        {"aoi_id": aoi.json()["id"], "collections": ["sentinel-2-l2a", "landsat-c2-l2"]},
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["features"]) == 2
    sent = stac.searches[before]  # the first page's request (later ones follow next links)
    assert sent["intersects"]["type"] == "Polygon" and "bbox" not in sent
    assert _bounds(sent["intersects"]) == pytest.approx(_bounds(square))

    bob = signup(client, "finder-from-elsewhere@example.org")
    assert _discover(client, bob, {"aoi_id": aoi.json()["id"]}).status_code == 404


def _bounds(geometry: dict[str, Any]) -> tuple[float, ...]:
    xs = [p[0] for p in geometry["coordinates"][0]]
    ys = [p[1] for p in geometry["coordinates"][0]]
    return min(xs), min(ys), max(xs), max(ys)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"bbox": AREA, "aoi_id": "00000000-0000-0000-0000-000000000001"},
        {"bbox": [1, 2, 3]},
        {"bbox": [10, 0, 5, 5]},
        {"bbox": AREA, "limit": 0},
        {"bbox": AREA, "limit": 201},
        {"bbox": AREA, "max_cloud": 101},
        {"bbox": AREA, "datetime": "last tuesday"},
        {"bbox": AREA, "datetime": "2024-05-01/2024-01-01"},
        {"bbox": AREA, "collections": []},
        {"bbox": AREA, "collections": ["../../secret"]},
        {"bbox": AREA, "url": "http://127.0.0.1:1/"},
    ],
)
def test_bad_discover_requests_are_422(
    finder: tuple[TestClient, Account], stac: EarthSearchStandIn, body: dict[str, Any]
) -> None:
    client, alice = finder
    before = len(stac.searches)
    response = _discover(client, alice, body)
    assert response.status_code == 422, (body, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert len(stac.searches) == before


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


def test_an_unreachable_stac_api_is_502(tmp_path: Path) -> None:
    for client, alice in _client(tmp_path, f"http://127.0.0.1:{_dead_port()}/v1"):
        response = _discover(client, alice, {"bbox": AREA})
        assert response.status_code == 502, response.text
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert problem["status"] == 502 and problem["title"] == "Bad Gateway"


def test_a_failing_stac_api_is_502(tmp_path: Path) -> None:
    from tests.stac_standin import Response

    with serving(lambda request: Response(500, b"upstream exploded")) as broken:
        for client, alice in _client(tmp_path, f"{broken.url}/v1"):
            response = _discover(client, alice, {"bbox": AREA})
            assert response.status_code == 502, response.text
            assert "exploded" not in response.text


@pytest.mark.parametrize("mode", ["next-elsewhere", "redirect-elsewhere", "search-link-elsewhere"])
def test_a_hostile_stac_api_is_502_and_nobody_else_is_contacted(
    fixtures_dir: Path, tmp_path: Path, mode: str
) -> None:
    with serving() as canary:
        hostile = HostileStacApi(fixtures_dir, canary, mode)
        try:
            for client, alice in _client(tmp_path, hostile.base):
                response = _discover(client, alice, {"bbox": AREA})
                assert response.status_code == 502, (mode, response.text)
        finally:
            hostile.close()
        assert canary.requests == []


def test_a_self_linking_stac_api_stays_bounded(fixtures_dir: Path, tmp_path: Path) -> None:
    with serving() as canary:
        hostile = HostileStacApi(fixtures_dir, canary, "growing-next")
        try:
            for client, alice in _client(tmp_path, hostile.base):
                response = _discover(client, alice, {"bbox": AREA, "limit": 200})
                assert response.status_code == 200, response.text
                # Each page repeats the same two recorded items: they are kept once.
                assert len(response.json()["features"]) == 2
            assert hostile.count("/v1/search") <= 20
        finally:
            hostile.close()
        assert canary.requests == []
