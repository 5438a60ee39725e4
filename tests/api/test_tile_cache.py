"""The production tile cache: tiles kept in a real Redis, keyed by organisation and object.

A second request is a hit with the same bytes as a fresh render; another organisation gets 404,
never the cached tile; a revoked share link gets 410 although its tile is cached (S2); Redis
going away turns the cache off, not the tiles; entries carry a TTL and a size cap.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import pytest
from pyproj import Transformer

from terrascan.api.routes.tiles import RedisTileCache, TileCache, make_tile_cache
from terrascan.settings import Settings
from tests.api._accounts import account_settings, open_client, signup
from tests.api._analysis import CRS, SIZE, TRANSFORM, Journey, expected_tile, ndvi, run_journey

pytestmark = pytest.mark.redis
TMS = morecantile.tms.get("WebMercatorQuad")
TTL_S = 120


def _redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url)


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Journey]:
    root = Path(tmp_path_factory.mktemp("tile-cache"))
    settings = account_settings(root, tile_cache_url=redis_url, tile_cache_ttl_s=TTL_S)
    with open_client(settings) as client:
        assert isinstance(client.app.state.tile_cache, RedisTileCache)  # type: ignore[attr-defined]
        alice = signup(client, "alice@example.org")
        bob = signup(client, "bob@example.org")
        j = run_journey(client, alice, bob, root)
        yield j
        for job in (j.index_job, j.change_job):  # leave the shared Redis as we found it
            db = _redis(redis_url)
            for key in db.scan_iter(match=f"terrascan:tile:*:{job['id']}:*"):
                db.delete(key)


def _tile(zoom: int = 15) -> morecantile.Tile:
    x, y = TRANSFORM * (SIZE / 2, SIZE / 2)
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    return TMS.tile(lon, lat, zoom)


def _url(job_id: str, tile: morecantile.Tile, suffix: str = ".npy") -> str:
    path = f"tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}{suffix}"
    return f"/api/v1/analysis/results/{job_id}/{path}"


def test_second_request_is_a_redis_hit_with_the_fresh_bytes(
    journey: Journey, redis_url: str
) -> None:
    client, alice, job_id = journey.client, journey.alice, journey.index_job["id"]
    url = _url(job_id, _tile())
    first = client.get(url, headers=alice.headers)
    assert first.status_code == 200, first.text
    assert first.headers["x-cache"] == "miss"
    second = client.get(url, headers=alice.headers)
    assert second.headers["x-cache"] == "hit"
    assert second.content == first.content
    assert second.headers["content-type"] == first.headers["content-type"]
    assert second.headers["cache-control"].startswith("private")

    # the entry is in Redis under the organisation and the object, with a TTL
    db = _redis(redis_url)
    keys = list(db.scan_iter(match=f"terrascan:tile:{alice.personal_org}:{job_id}:*"))
    assert len(keys) == 1
    assert 0 < db.ttl(keys[0]) <= TTL_S

    # a fresh render (cache emptied) gives the same bytes, and they hold the result's NDVI
    db.delete(*keys)
    fresh = client.get(url, headers=alice.headers)
    assert fresh.headers["x-cache"] == "miss" and fresh.content == first.content
    data = np.load(io.BytesIO(first.content))
    expected, inside = expected_tile(_tile(), ndvi(journey.before))
    valid = data[1] > 0
    assert valid.sum() > 1000 and not (valid & ~inside).any()
    close = np.isclose(data[0][valid], expected[valid], atol=1e-5)
    assert close.mean() > 0.97  # pixels on raster cell edges may round the other way


def test_another_organisation_gets_404_not_the_cached_tile(journey: Journey) -> None:
    client, job_id = journey.client, journey.index_job["id"]
    url = _url(job_id, _tile(14))
    assert client.get(url, headers=journey.alice.headers).status_code == 200
    assert client.get(url, headers=journey.alice.headers).headers["x-cache"] == "hit"
    as_bob = client.get(url, headers=journey.bob.headers)
    assert as_bob.status_code == 404
    assert "x-cache" not in as_bob.headers
    claiming = client.get(
        url, headers={**journey.bob.headers, "X-Organization-ID": str(journey.alice.personal_org)}
    )
    assert claiming.status_code == 404
    assert client.get(url).status_code == 401  # and nobody signed out


def test_a_revoked_share_link_is_410_although_its_tile_is_cached(journey: Journey) -> None:
    client, alice = journey.client, journey.alice
    share = client.post(
        f"/api/v1/analysis/results/{journey.change_job['id']}/shares",
        json={},
        headers=alice.headers,
    ).json()
    tile = _tile()
    url = f"{share['url']}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.npy"
    assert client.get(url).headers["x-cache"] == "miss"
    assert client.get(url).headers["x-cache"] == "hit"
    assert client.delete(f"/api/v1/shares/{share['id']}", headers=alice.headers).status_code == 204
    gone = client.get(url)
    assert gone.status_code == 410 and "x-cache" not in gone.headers


def test_tiles_are_served_when_redis_is_unreachable(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = account_settings(tmp_path, tile_cache_url=f"redis://127.0.0.1:{port}/0")
    with open_client(settings) as client:
        alice = signup(client, "alice@example.org")
        bob = signup(client, "bob@example.org")
        j = run_journey(client, alice, bob, tmp_path)
        url = _url(j.index_job["id"], _tile())
        responses = [client.get(url, headers=alice.headers) for _ in range(2)]
    assert [r.status_code for r in responses] == [200, 200]
    assert [r.headers["x-cache"] for r in responses] == ["miss", "miss"]
    assert responses[0].content == responses[1].content


def test_redis_entries_have_a_size_cap_and_round_trip(redis_url: str) -> None:
    cache = RedisTileCache.from_url(redis_url, ttl_s=30)
    cache.max_entry_bytes = 1000
    key = f"test-{uuid.uuid4()}:{uuid.uuid4()}:digest"
    body = np.random.default_rng(0).bytes(1000)
    cache.put(key, body, "application/x-binary", {"content-type": "application/x-binary"})
    assert cache.get(key) == (
        body,
        "application/x-binary",
        {"content-type": "application/x-binary"},
    )
    big = f"test-{uuid.uuid4()}:{uuid.uuid4()}:digest"
    cache.put(big, body + b"x", "application/x-binary", {})
    assert cache.get(big) is None
    _redis(redis_url).set(RedisTileCache.PREFIX + big, b"\xff\xff")  # not an entry of ours
    assert cache.get(big) is None
    _redis(redis_url).delete(RedisTileCache.PREFIX + key, RedisTileCache.PREFIX + big)


def test_which_cache_the_settings_choose(tmp_path: Path, redis_url: str) -> None:
    embedded = Settings(data_dir=tmp_path, mode="embedded")
    assert isinstance(make_tile_cache(embedded), TileCache)
    explicit = Settings(data_dir=tmp_path, mode="embedded", tile_cache_url=redis_url)
    assert isinstance(make_tile_cache(explicit), RedisTileCache)
    # never the broker's Redis by default: a broker must not evict, a cache must
    production = Settings(data_dir=tmp_path, mode="production", broker_url=redis_url)
    assert isinstance(make_tile_cache(production), TileCache)
    forced = Settings(
        data_dir=tmp_path, mode="production", broker_url=redis_url, tile_cache_url="memory"
    )
    assert isinstance(make_tile_cache(forced), TileCache)
    with pytest.raises(Exception, match="TILE_CACHE_URL"):
        make_tile_cache(Settings(data_dir=tmp_path, tile_cache_url="http://example.org"))


def test_tilejson_is_never_cached_so_a_forged_host_cannot_poison_it(journey: Journey) -> None:
    client, alice, job_id = journey.client, journey.alice, journey.index_job["id"]
    url = f"/api/v1/analysis/results/{job_id}/WebMercatorQuad/tilejson.json"
    forged = client.get(url, headers={**alice.headers, "Host": "evil.example"})
    assert forged.status_code == 200
    assert "evil.example" in forged.json()["tiles"][0]  # titiler echoes the Host it was given
    honest = client.get(url, headers=alice.headers)
    assert "x-cache" not in honest.headers
    assert "evil.example" not in honest.json()["tiles"][0]


def test_cache_keys_escape_the_query(journey: Journey) -> None:
    """``?a=1&b=2`` and ``?a=1%26b%3D2`` are different requests, so different entries."""
    client, alice, job_id = journey.client, journey.alice, journey.index_job["id"]
    tile = _tile()
    base = f"/api/v1/analysis/results/{job_id}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}"
    plain = client.get(f"{base}.png?rescale=-1,1&colormap_name=viridis", headers=alice.headers)
    assert plain.status_code == 200 and plain.headers["x-cache"] == "miss"
    # the same characters as one value of one parameter: refused or rendered, never a hit
    packed = client.get(f"{base}.png?rescale=-1,1%26colormap_name%3Dviridis", headers=alice.headers)
    assert packed.headers.get("x-cache") != "hit"
