"""AOIs: CRUD, GeoJSON validation before shapely, geodesic area against the closed-form
ellipsoidal zone area."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from terrascan.settings import Settings
from tests.api._accounts import Account, account_settings, open_client, signup

# WGS84
A = 6378137.0
F = 1 / 298.257223563
B = A * (1 - F)
E = math.sqrt(1 - (B / A) ** 2)


def zone_area_km2(lon0: float, lat0: float, lon1: float, lat1: float) -> float:
    """Area of the ellipsoid between two meridians and two parallels, in closed form:
    ``b² Δλ / 2 · [q(φ1) - q(φ0)]`` with ``q(φ) = sinφ/(1 - e² sin²φ) + artanh(e sinφ)/e``."""

    def q(lat: float) -> float:
        s = math.sin(math.radians(lat))
        return s / (1 - E * E * s * s) + math.atanh(E * s) / E

    return B * B * math.radians(lon1 - lon0) / 2 * (q(lat1) - q(lat0)) / 1e6


def ring(lon0: float, lat0: float, lon1: float, lat1: float) -> list[list[float]]:
    return [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]


def polygon(*rings: list[list[Any]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return account_settings(tmp_path)


@pytest.fixture
def ada(client: TestClient) -> Account:
    return signup(client, "ada@example.org")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Account]]:
    """One app and account for the tests in which every request must be refused."""
    with open_client(account_settings(tmp_path_factory.mktemp("aois"))) as client:
        yield client, signup(client, "refused@example.org")


def _create(client: TestClient, who: Account, geometry: dict[str, Any], **fields: Any) -> Any:
    return client.post(
        "/api/v1/aois", json={"name": "area", "geometry": geometry, **fields}, headers=who.headers
    )


def test_create_computes_the_geodesic_area(client: TestClient, ada: Account) -> None:
    created = _create(
        client,
        ada,
        polygon(ring(10, 45, 10.1, 45.1)),
        description="wetlands",
        monitoring={"enabled": True, "schedule": "weekly"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["area_km2"] == pytest.approx(zone_area_km2(10, 45, 10.1, 45.1), rel=1e-5)
    assert body["bbox"] == pytest.approx([10, 45, 10.1, 45.1])
    assert body["monitoring"] == {"enabled": True, "schedule": "weekly"}
    assert body["org_id"] == str(ada.personal_org) and body["created_by"] == str(ada.user_id)
    assert body["geometry"]["type"] == "Polygon"

    fetched = client.get(f"/api/v1/aois/{body['id']}", headers=ada.headers)
    assert fetched.status_code == 200 and fetched.json() == body


def test_orientation_holes_and_altitude(client: TestClient, ada: Account) -> None:
    outer, hole = ring(0, 10, 0.2, 10.2), ring(0.05, 10.05, 0.1, 10.1)
    clockwise = [[x, y, 120.0] for x, y in reversed(outer)]  # altitude is dropped
    body = _create(client, ada, polygon(clockwise, list(reversed(hole)))).json()
    expected = zone_area_km2(0, 10, 0.2, 10.2) - zone_area_km2(0.05, 10.05, 0.1, 10.1)
    assert body["area_km2"] == pytest.approx(expected, rel=1e-5)
    shell, inner = body["geometry"]["coordinates"]
    assert all(len(p) == 2 for p in shell)

    def signed_area(points: list[list[float]]) -> float:
        return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(points)) / 2

    assert signed_area(shell) > 0 > signed_area(inner)  # RFC 7946: exterior counter-clockwise


def test_the_vertex_cap_is_inclusive(client: TestClient, ada: Account) -> None:
    def circle(n: int) -> list[list[float]]:
        points = [
            [round(math.cos(2 * math.pi * i / n), 9), round(math.sin(2 * math.pi * i / n), 9)]
            for i in range(n)
        ]
        return [*points, points[0]]

    assert _create(client, ada, polygon(circle(9_999))).status_code == 201  # 10 000 positions
    too_many = _create(client, ada, polygon(circle(10_000)))
    assert too_many.status_code == 422


BAD_GEOMETRIES: dict[str, Any] = {
    "longitude over 180": polygon(ring(179.5, 0, 180.5, 1)),
    "latitude under -90": polygon(ring(0, -90.5, 1, -89.5)),
    "ring not closed": polygon([*ring(0, 0, 1, 1)[:-1], [0, 0.5]]),
    "too few positions": polygon([[0, 0], [1, 0], [0, 0]]),
    "self-intersecting bow tie": polygon([[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]),
    "hole outside the shell": polygon(ring(0, 0, 1, 1), ring(2, 2, 3, 3)),
    "no area": polygon([[0, 0], [1, 0], [2, 0], [0, 0]]),
    "crossing the antimeridian": polygon([[179, 0], [-179, 0], [-179, 1], [179, 1], [179, 0]]),
    "a point": {"type": "Point", "coordinates": [0, 0]},
    "a crs member": {**polygon(ring(0, 0, 1, 1)), "crs": {"type": "name"}},
    "numbers as strings": polygon([[str(x), str(y)] for x, y in ring(0, 0, 1, 1)]),
    "booleans": polygon([[True, False], [1, 0], [1, 1], [True, False]]),
    "four numbers per position": polygon([[x, y, 0, 0] for x, y in ring(0, 0, 1, 1)]),
    "no rings": {"type": "Polygon", "coordinates": []},
}


@pytest.mark.parametrize("name", list(BAD_GEOMETRIES))
def test_invalid_geometries_are_422(shared: tuple[TestClient, Account], name: str) -> None:
    client, ada = shared
    response = _create(client, ada, BAD_GEOMETRIES[name])
    assert response.status_code == 422, name
    assert response.json()["errors"][0]["loc"][:2] == ["body", "geometry"]
    assert client.get("/api/v1/aois", headers=ada.headers).json() == []


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_422(shared: tuple[TestClient, Account], literal: str) -> None:
    client, ada = shared
    # Python's JSON parser accepts these, so they are sent raw and must be refused after parsing.
    raw = (
        '{"name": "x", "geometry": {"type": "Polygon", '
        '"coordinates": [[[0, 0], [1, 0], [1, %s], [0, 0]]]}}'
    )
    response = client.post(
        "/api/v1/aois",
        content=raw % literal,
        headers={**ada.headers, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "finite_number"


@pytest.mark.parametrize(
    "fields",
    [
        {"name": ""},
        {"name": "x" * 201},
        {"monitoring": {"enabled": True}},
        {"monitoring": {"enabled": True, "schedule": "hourly"}},
        {"org_id": "00000000-0000-0000-0000-000000000000"},
        {"owner_id": "00000000-0000-0000-0000-000000000000"},
        {"area_km2": 1.0},
    ],
)
def test_invalid_fields_are_422(shared: tuple[TestClient, Account], fields: dict[str, Any]) -> None:
    client, ada = shared
    body = {"name": "ok", "geometry": polygon(ring(0, 0, 1, 1)), **fields}
    assert client.post("/api/v1/aois", json=body, headers=ada.headers).status_code == 422
    assert client.get("/api/v1/aois", headers=ada.headers).json() == []


def test_bodies_over_the_cap_are_413(shared: tuple[TestClient, Account]) -> None:
    client, ada = shared
    body = json.dumps(
        {"name": "big", "description": "d" * (1024 * 1024), "geometry": polygon(ring(0, 0, 1, 1))}
    )
    response = client.post(
        "/api/v1/aois", content=body, headers={**ada.headers, "content-type": "application/json"}
    )
    assert response.status_code == 413


def test_update_list_filter_and_delete(client: TestClient, ada: Account) -> None:
    first = _create(client, ada, polygon(ring(0, 0, 1, 1))).json()
    second = _create(client, ada, polygon(ring(20, 20, 21, 21)), name="far").json()

    listed = client.get("/api/v1/aois", headers=ada.headers).json()
    assert [a["id"] for a in listed] == [second["id"], first["id"]]  # newest first
    near = client.get("/api/v1/aois", params={"bbox": "0.5,0.5,2,2"}, headers=ada.headers).json()
    assert [a["id"] for a in near] == [first["id"]]
    bad_bbox = client.get("/api/v1/aois", params={"bbox": "2,2,0"}, headers=ada.headers)
    assert bad_bbox.status_code == 422

    patched = client.patch(
        f"/api/v1/aois/{first['id']}",
        json={
            "name": "renamed",
            "geometry": polygon(ring(0, 0, 0.5, 0.5)),
            "monitoring": {"enabled": True, "schedule": "daily"},
        },
        headers=ada.headers,
    )
    assert patched.status_code == 200
    body = patched.json()
    assert body["name"] == "renamed" and body["description"] == first["description"]
    assert body["area_km2"] == pytest.approx(zone_area_km2(0, 0, 0.5, 0.5), rel=1e-4)
    assert body["bbox"] == [0, 0, 0.5, 0.5]
    assert body["monitoring"] == {"enabled": True, "schedule": "daily"}
    forbidden = client.patch(
        f"/api/v1/aois/{first['id']}", json={"org_id": str(ada.user_id)}, headers=ada.headers
    )
    assert forbidden.status_code == 422

    assert client.delete(f"/api/v1/aois/{first['id']}", headers=ada.headers).status_code == 204
    assert client.get(f"/api/v1/aois/{first['id']}", headers=ada.headers).status_code == 404
    assert client.delete(f"/api/v1/aois/{first['id']}", headers=ada.headers).status_code == 404

    audit = client.get(
        f"/api/v1/orgs/{ada.personal_org}/audit",
        params={"action": "aoi.deleted"},
        headers=ada.headers,
    ).json()
    assert [(e["action"], e["target_id"], e["details"]) for e in audit] == [
        ("aoi.deleted", first["id"], {"name": "renamed"})
    ]
    usage = client.get(f"/api/v1/orgs/{ada.personal_org}/usage", headers=ada.headers).json()
    assert [(u["metric"], u["quantity"]) for u in usage] == [("aois_created", 2.0)]


def test_aois_need_a_signed_in_user(client: TestClient) -> None:
    assert client.get("/api/v1/aois").status_code == 401
    assert (
        client.post(
            "/api/v1/aois", json={"name": "x", "geometry": polygon(ring(0, 0, 1, 1))}
        ).status_code
        == 401
    )
