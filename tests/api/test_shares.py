"""Share links (contract 7): the happy path (a tile through a link decodes to the same pixels as
the signed-in tile, exports read back), S1 (unguessable tokens stored as digests, one result per
link), S2 (expired and revoked links answer 410 everywhere, cached tiles included), T1 for the
public routes, and the audit trail."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import pytest
from PIL import Image
from pyproj import Transformer
from rasterio.io import MemoryFile

from terrascan.catalog.models import ShareLink
from tests.api._accounts import account_settings, open_client, signup
from tests.api._analysis import CRS, SIZE, TRANSFORM, Journey, ndvi, run_journey

TMS = morecantile.tms.get("WebMercatorQuad")


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journey]:
    root = Path(tmp_path_factory.mktemp("shares-api"))
    with open_client(account_settings(root)) as client:
        alice = signup(client, "alice@example.org")
        bob = signup(client, "bob@example.org")
        yield run_journey(client, alice, bob, root)


def _tile_path() -> str:
    x, y = TRANSFORM * (SIZE / 2, SIZE / 2)
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    tile = TMS.tile(lon, lat, 15)
    return f"tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}"


def _share(j: Journey, job_id: str, **body: Any) -> dict[str, Any]:
    response = j.client.post(
        f"/api/v1/analysis/results/{job_id}/shares", json=body or None, headers=j.alice.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _row(j: Journey, share_id: str) -> ShareLink:
    with j.client.app.state.catalog.session() as session:  # type: ignore[attr-defined]
        row = session.get(ShareLink, uuid.UUID(share_id))
        assert row is not None
        session.expunge(row)
        return row


def _public_urls(share: dict[str, Any]) -> list[str]:
    base = share["url"]
    return [
        base,
        f"{base}/WebMercatorQuad/tilejson.json",
        f"{base}/{_tile_path()}.npy",
        f"{base}/{_tile_path()}.png?rescale=-1,1&colormap_name=rdylgn",
        f"{base}/export?format=geotiff",
        f"{base}/export?format=csv",
    ]


# --------------------------------------------------------------------------- happy path


def test_a_shared_tile_has_the_signed_in_tiles_pixels(journey: Journey) -> None:
    job_id = journey.index_job["id"]
    before = datetime.now(UTC)
    share = _share(journey, job_id)
    assert share["url"] == f"/api/v1/shared/{share['token']}"
    expires = datetime.fromisoformat(share["expires_at"])
    assert timedelta(hours=71, minutes=59) < expires - before < timedelta(hours=72, minutes=1)

    anonymous = journey.client  # no Authorization header on any public request below
    meta = anonymous.get(share["url"])
    assert meta.status_code == 200, meta.text
    body = meta.json()
    assert body["job_type"] == "spectral-index" and body["parameters"]["index_name"] == "ndvi"
    assert "result_key" not in (body["results_summary"] or {})
    assert "imagery_id" not in body["parameters"]  # the organisation's catalog ids stay inside
    tilejson = anonymous.get(body["tilejson"])
    assert tilejson.status_code == 200, tilejson.text
    assert f"/api/v1/shared/{share['token']}/tiles/WebMercatorQuad/" in tilejson.json()["tiles"][0]

    shared = anonymous.get(f"{share['url']}/{_tile_path()}.npy")
    signed_in = journey.client.get(
        f"/api/v1/analysis/results/{job_id}/{_tile_path()}.npy", headers=journey.alice.headers
    )
    assert shared.status_code == signed_in.status_code == 200, shared.text
    a, b = np.load(io.BytesIO(shared.content)), np.load(io.BytesIO(signed_in.content))
    assert a.shape == (2, 256, 256) and (a[1] > 0).sum() > 1000
    np.testing.assert_array_equal(a, b)
    assert shared.headers["cache-control"].startswith("private")

    query = "?rescale=-1,1&colormap_name=rdylgn"
    png_shared = anonymous.get(f"{share['url']}/{_tile_path()}.png{query}")
    png_signed = journey.client.get(
        f"/api/v1/analysis/results/{job_id}/{_tile_path()}.png{query}",
        headers=journey.alice.headers,
    )
    assert png_shared.status_code == 200, png_shared.text
    pixels = np.asarray(Image.open(io.BytesIO(png_shared.content)))
    np.testing.assert_array_equal(pixels, np.asarray(Image.open(io.BytesIO(png_signed.content))))
    assert pixels.shape == (256, 256, 4) and len(np.unique(pixels[..., 0])) > 10


def test_a_shared_export_reads_back(journey: Journey) -> None:
    share = _share(journey, journey.index_job["id"])
    response = journey.client.get(f"{share['url']}/export?format=geotiff")
    assert response.status_code == 200, response.text
    assert 'filename="spectral-index-' in response.headers["content-disposition"]
    with MemoryFile(response.content) as memfile, memfile.open() as src:
        np.testing.assert_allclose(src.read(1), ndvi(journey.before), rtol=1e-5)

    change = _share(journey, journey.change_job["id"])
    geojson = journey.client.get(f"{change['url']}/export?format=geojson")
    assert geojson.status_code == 200, geojson.text
    (feature,) = geojson.json()["features"]
    assert feature["properties"]["area_m2"] == pytest.approx(25600, rel=0.02)


def test_the_organisation_lists_its_links_and_bob_sees_none(journey: Journey) -> None:
    share = _share(journey, journey.index_job["id"], expires_in_hours=1)
    listed = journey.client.get("/api/v1/shares", headers=journey.alice.headers)
    assert listed.status_code == 200, listed.text
    mine = next(s for s in listed.json() if s["id"] == share["id"])
    assert mine["job_id"] == journey.index_job["id"] and mine["state"] == "active"
    assert "token" not in mine and share["token"] not in listed.text
    assert journey.client.get("/api/v1/shares", headers=journey.bob.headers).json() == []


@pytest.mark.parametrize("hours", [0, 721, -5, "x"])
def test_expiry_out_of_range_is_422(journey: Journey, hours: Any) -> None:
    response = journey.client.post(
        f"/api/v1/analysis/results/{journey.index_job['id']}/shares",
        json={"expires_in_hours": hours},
        headers=journey.alice.headers,
    )
    assert response.status_code == 422, response.text


# --------------------------------------------------------------------------- S1


def test_tokens_are_256_bit_and_stored_only_as_digests(journey: Journey) -> None:
    shares = [_share(journey, journey.index_job["id"]) for _ in range(5)]
    tokens = {s["token"] for s in shares}
    assert len(tokens) == 5
    for share in shares:
        token = share["token"]
        assert len(token) >= 43 and set(token) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )  # token_urlsafe(32): 43 characters of 6 bits
        row = _row(journey, share["id"])
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in repr(vars(row))


def test_a_link_reaches_only_its_own_result(journey: Journey) -> None:
    index_share = _share(journey, journey.index_job["id"])
    client, change_id = journey.client, journey.change_job["id"]
    # the change result's tile and export differ from what the index link serves
    via_link = client.get(f"{index_share['url']}/{_tile_path()}.npy")
    change_tile = client.get(
        f"/api/v1/analysis/results/{change_id}/{_tile_path()}.npy", headers=journey.alice.headers
    )
    assert via_link.status_code == change_tile.status_code == 200
    assert not np.array_equal(
        np.load(io.BytesIO(via_link.content)), np.load(io.BytesIO(change_tile.content))
    )
    # nothing on the public routes names another object: extra ids are ignored
    for extra in (f"job_id={change_id}", f"imagery_id={journey.imagery[0]}"):
        meta = client.get(f"{index_share['url']}?{extra}")
        assert meta.json()["job_type"] == "spectral-index"
    # no signed-in route accepts the token, and the token is not a result id
    token = index_share["token"]
    for url in (
        f"/api/v1/analysis/results/{change_id}/{_tile_path()}.npy?token={token}",
        f"/api/v1/analysis/results/{change_id}/export?format=geotiff&token={token}",
        f"/api/v1/analysis/results/{token}",
    ):
        assert client.get(url).status_code in (401, 422), url
        # signed in to another organisation, the token opens nothing either
        assert client.get(url, headers=journey.bob.headers).status_code in (404, 422), url
    # other routes under the link do not exist (info, statistics, preview are members' only)
    for route in ("info", "statistics", "preview.png", "point/15,45"):
        assert client.get(f"{index_share['url']}/{route}").status_code == 404, route


def test_unknown_and_altered_tokens_are_404(journey: Journey) -> None:
    share = _share(journey, journey.index_job["id"])
    token = share["token"]
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for guess in (altered, token[:-1], "x", uuid.uuid4().hex, share["id"]):
        for url in _public_urls({"url": f"/api/v1/shared/{guess}"}):
            assert journey.client.get(url).status_code == 404, url
    assert journey.client.get(f"/api/v1/shared/{'a' * 129}").status_code == 422


def test_other_organisations_cannot_share_list_or_revoke(journey: Journey) -> None:
    share = _share(journey, journey.index_job["id"])
    bob, client = journey.bob.headers, journey.client
    created = client.post(
        f"/api/v1/analysis/results/{journey.index_job['id']}/shares", json={}, headers=bob
    )
    assert created.status_code == 404
    assert client.delete(f"/api/v1/shares/{share['id']}", headers=bob).status_code == 404
    assert client.get(share["url"]).status_code == 200  # still live after bob's attempt
    assert (
        client.delete(f"/api/v1/shares/{uuid.uuid4()}", headers=journey.alice.headers).status_code
        == 404
    )


# --------------------------------------------------------------------------- S2


def test_revoked_links_are_410_everywhere_cached_tiles_included(journey: Journey) -> None:
    share = _share(journey, journey.index_job["id"])
    client, urls = journey.client, _public_urls(share)
    tile = f"{share['url']}/{_tile_path()}.npy"
    assert client.get(tile).status_code == 200
    cached = client.get(tile)
    assert cached.headers.get("x-cache") == "hit"
    for url in urls:
        assert client.get(url).status_code == 200, url

    revoked = client.delete(f"/api/v1/shares/{share['id']}", headers=journey.alice.headers)
    assert revoked.status_code == 204
    for url in urls:
        response = client.get(url)
        assert response.status_code == 410, (url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get(tile).status_code == 410
    listed = client.get("/api/v1/shares", headers=journey.alice.headers).json()
    assert next(s for s in listed if s["id"] == share["id"])["state"] == "revoked"
    # revoking again is harmless; the signed-in tile still works
    assert (
        client.delete(f"/api/v1/shares/{share['id']}", headers=journey.alice.headers).status_code
        == 204
    )
    signed_in = client.get(
        f"/api/v1/analysis/results/{journey.index_job['id']}/{_tile_path()}.npy",
        headers=journey.alice.headers,
    )
    assert signed_in.status_code == 200


def test_expired_links_are_410_everywhere_cached_tiles_included(journey: Journey) -> None:
    share = _share(journey, journey.index_job["id"], expires_in_hours=1)
    client, urls = journey.client, _public_urls(share)
    tile = f"{share['url']}/{_tile_path()}.npy"
    assert client.get(tile).status_code == 200
    assert client.get(tile).headers.get("x-cache") == "hit"

    with client.app.state.catalog.session() as session:  # type: ignore[attr-defined]
        row = session.get(ShareLink, uuid.UUID(share["id"]))
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 410, (url, response.text)
    listed = client.get("/api/v1/shares", headers=journey.alice.headers).json()
    assert next(s for s in listed if s["id"] == share["id"])["state"] == "expired"


# --------------------------------------------------------------------------- T1, audit


def test_public_routes_take_no_path_or_url(journey: Journey) -> None:
    spec = journey.client.get("/api/v1/openapi.json").json()
    public = {p: ops for p, ops in spec["paths"].items() if p.startswith("/api/v1/shared/")}
    assert "/api/v1/shared/{token}/tiles/{tileMatrixSetId}/{z}/{x}/{y}.{format}" in public
    assert "/api/v1/shared/{token}/export" in public
    for path, operations in public.items():
        for operation in operations.values():
            assert "security" not in operation, path
            names = {p["name"] for p in operation.get("parameters", [])}
            assert not names & {"url", "path", "href", "file", "job_id", "imagery_id"}, path


def test_creation_revocation_and_exports_are_audited(journey: Journey) -> None:
    share = _share(journey, journey.index_job["id"])
    assert journey.client.get(f"{share['url']}/export?format=csv").status_code == 200
    assert (
        journey.client.delete(
            f"/api/v1/shares/{share['id']}", headers=journey.alice.headers
        ).status_code
        == 204
    )
    entries = journey.client.get(
        f"/api/v1/orgs/{journey.alice.personal_org}/audit",
        params={"action": ["share.created", "share.revoked", "result.exported"]},
        headers=journey.alice.headers,
    )
    assert entries.status_code == 200, entries.text
    mine = [e for e in entries.json() if e["target_id"] == share["id"]]
    assert sorted(e["action"] for e in mine) == ["share.created", "share.revoked"]
    assert all(e["actor_id"] == str(journey.alice.user_id) for e in mine)
    exported = [
        e
        for e in entries.json()
        if e["action"] == "result.exported" and e["details"].get("share_id") == share["id"]
    ]
    assert len(exported) == 1 and exported[0]["details"]["format"] == "csv"
    assert exported[0]["actor_id"] is None and share["token"] not in entries.text


def test_shared_exports_are_rate_limited_per_client_and_per_link(journey: Journey) -> None:
    """Anyone holding a link may export, so exports through links are counted per client IP
    and per link (429 with Retry-After beyond either); members' own exports are not."""
    from fastapi.testclient import TestClient

    app = journey.client.app
    original = app.state.settings  # type: ignore[attr-defined]
    app.state.settings = original.model_copy(  # type: ignore[attr-defined]
        update={"public_export_limit_per_ip": 3, "public_export_limit_per_link": 2}
    )
    try:
        job_id = journey.index_job["id"]
        one, two = _share(journey, job_id), _share(journey, job_id)
        here = TestClient(app, client=("203.0.113.7", 40000))
        there = TestClient(app, client=("198.51.100.9", 40000))
        attempts = [
            (here, one), (here, one), (here, one),  # the link's limit: 2
            (here, two),  # this client's limit: 3 counted attempts
            (there, two), (there, two),  # another client: the second link's limit
        ]  # fmt: skip
        answers = [client.get(f"{link['url']}/export?format=csv") for client, link in attempts]
        assert [a.status_code for a in answers] == [200, 200, 429, 429, 200, 429]
        for refused in (a for a in answers if a.status_code == 429):
            assert int(refused.headers["retry-after"]) >= 1
            assert refused.headers["content-type"].startswith("application/problem+json")
        own = journey.client.get(
            f"/api/v1/analysis/results/{job_id}/export?format=csv", headers=journey.alice.headers
        )
        assert own.status_code == 200
    finally:
        app.state.settings = original  # type: ignore[attr-defined]
