"""The catalog as a STAC API, browsed with pystac-client against a real server on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pystac_client import Client
from shapely.geometry import box

from terrascan.api.app import create_app
from tests.api._accounts import PASSWORD, Account, account_settings, signin
from tests.api.test_imagery_search import T0, insert, seed_rows


@dataclass
class Live:
    url: str
    alice: Account
    bob: Account
    rows: list[dict[str, Any]]
    upload_id: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Iterator[Live]:
    app = create_app(account_settings(tmp_path_factory.mktemp("stac-api")))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            alice = _signup(http, "stac-alice@example.org")
            bob = _signup(http, "stac-bob@example.org")
            rows = [r for r in seed_rows(alice.personal_org) if r["acquired_at"] is not None]
            insert(app.state.catalog, rows)
            rgb = fixtures_dir / "landsat7-rgb-byte" / "RGB.byte.tif"
            uploaded = http.post(
                "/api/v1/imagery/upload",
                headers=alice.headers,
                files={"file": ("RGB.byte.tif", rgb.read_bytes())},
            )
            assert uploaded.status_code == 201, uploaded.text
        yield Live(url, alice, bob, rows, uploaded.json()["id"])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.catalog.dispose()


def _signup(http: httpx.Client, email: str) -> Account:
    """Register, then sign in. Over a real socket the registration's commit may land just
    after its response (the session dependency closes after the response), so the first
    sign-in is retried briefly."""
    created = http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    for _ in range(50):
        if (
            http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).status_code
            == 200
        ):
            break
        time.sleep(0.05)
    return signin(http, email)  # type: ignore[arg-type]


def _open(live: Live, who: Account) -> Client:
    return Client.open(f"{live.url}/stac", headers={"Authorization": f"Bearer {who.access}"})


def _ready(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["status"] == "ready"]


def test_pystac_client_browses_collections_and_items(live: Live) -> None:
    client = _open(live, live.alice)
    ready = _ready(live.rows)
    expected = sorted({r["collection"] or "uploads" for r in ready} | {"uploads"})
    collections = {c.id: c for c in client.get_collections()}
    assert sorted(collections) == expected
    s2 = collections["sentinel-2-l2a"]
    want = {str(r["id"]) for r in ready if r["collection"] == "sentinel-2-l2a"}
    assert {item.id for item in s2.get_items()} == want
    uploads = {item.id: item for item in collections["uploads"].get_items()}
    assert live.upload_id in uploads
    item = uploads[live.upload_id]
    assert item.assets["data"].media_type.startswith("image/tiff")
    # The data asset is the COG, downloadable with the same token.
    response = httpx.get(
        item.assets["data"].href, headers={"Authorization": f"Bearer {live.alice.access}"}
    )
    assert response.status_code == 200 and response.content[:4] in (b"II*\x00", b"II+\x00")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_item_search_with_pages_matches_the_catalog(live: Live, method: str) -> None:
    client = _open(live, live.alice)
    area = box(-12, -12, 15, 15)
    start, end = T0.replace(month=2), T0.replace(month=6)
    search = client.search(
        bbox=area.bounds, datetime=f"{start:%Y-%m-%d}/{end:%Y-%m-%d}", limit=3, method=method
    )
    pages = list(search.pages())
    got = [item.id for page in pages for item in page.items]
    want = [
        str(r["id"])
        for r in _ready(live.rows)
        if area.intersects(r["geometry"])
        and start <= r["acquired_at"] <= end.replace(hour=23, minute=59, second=59)
    ]
    assert sorted(got) == sorted(want) and len(got) == len(set(got))
    assert len(pages) == -(-len(want) // 3) and len(want) > 3


def test_search_by_ids_and_collections(live: Live) -> None:
    client = _open(live, live.alice)
    ready = _ready(live.rows)
    ids = [str(r["id"]) for r in ready[:4]] + ["not-a-uuid"]
    found = {item.id for item in client.search(ids=ids, method="POST").items()}
    assert found == set(ids[:4])
    landsat = {item.id for item in client.search(collections=["landsat-c2-l2"]).items()}
    assert landsat == {str(r["id"]) for r in ready if r["collection"] == "landsat-c2-l2"}


def test_another_organisation_sees_an_empty_catalog(live: Live) -> None:
    client = _open(live, live.bob)
    assert list(client.get_collections()) == []
    assert list(client.search(bbox=(-180, -90, 180, 90)).items()) == []
    with httpx.Client(base_url=live.url) as http:
        item = http.get(
            f"/stac/collections/uploads/items/{live.upload_id}", headers=live.bob.headers
        )
        assert item.status_code == 404
        assert http.get("/stac").status_code == 401


def test_landing_and_conformance(live: Live) -> None:
    with httpx.Client(base_url=live.url) as http:
        landing = http.get("/stac", headers=live.alice.headers).json()
        conformance = http.get("/stac/conformance", headers=live.alice.headers).json()
    assert landing["type"] == "Catalog" and landing["stac_version"] == "1.0.0"
    rels = {(link["rel"], link.get("method")) for link in landing["links"]}
    assert {("search", "GET"), ("search", "POST"), ("data", None), ("conformance", None)} <= rels
    for cls in ("core", "collections", "item-search", "ogcapi-features"):
        assert f"https://api.stacspec.org/v1.0.0/{cls}" in conformance["conformsTo"]
