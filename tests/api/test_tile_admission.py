"""T8 in the small: a burst of concurrent tile requests against an app whose render limit is 8.

Every answer is a correct tile or a 503 problem with Retry-After; no more than 8 renders run at
once; every slot is given back, after failed renders too. (Latency and memory under a long
burst are measured by ``benchmarks/tiles.py``, not here.)"""

from __future__ import annotations

import asyncio
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import pytest
from benchmarks.tiles import asgi_request
from pyproj import Transformer

from terrascan.api.routes.tiles import RenderAdmission
from tests.api._accounts import account_settings, open_client, signup
from tests.api._analysis import CRS, SIZE, TRANSFORM, scene, upload, write_scene

LIMIT = 8
BURST = 200


def _centre_tile() -> morecantile.Tile:
    x, y = TRANSFORM * (SIZE / 2, SIZE / 2)
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    return morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 15)


@pytest.fixture(scope="module")
def burst(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = Path(tmp_path_factory.mktemp("tile-admission"))
    settings = account_settings(root, tile_render_limit=LIMIT, tile_cache_url="off")
    with open_client(settings) as client:
        alice = signup(client, "alice@example.org")
        imagery_id = upload(client, alice, write_scene(root / "scene.tif", scene(3)), "scene")
        t = _centre_tile()
        url = f"/api/v1/imagery/{imagery_id}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.npy"
        alone = client.get(f"{url}?algorithm=ndvi", headers=alice.headers)
        assert alone.status_code == 200, alone.text
        yield client.app, alice, url, np.load(io.BytesIO(alone.content))


def test_a_burst_is_answered_with_tiles_or_503_and_retry_after(burst: Any) -> None:
    app, alice, url, expected = burst
    admission: RenderAdmission = app.state.tile_admission
    assert admission.limit == LIMIT and admission.in_flight == 0

    async def fire() -> list[tuple[int, dict[str, str], bytes]]:
        target = f"{url}?algorithm=ndvi"
        return await asyncio.gather(
            *(asgi_request(app, target, alice.headers) for _ in range(BURST))
        )

    answers = asyncio.run(fire())
    statuses = Counter(status for status, _, _ in answers)
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[200] >= LIMIT and statuses[503] > 0, statuses
    for status, headers, body in answers:
        if status == 200:
            np.testing.assert_array_equal(np.load(io.BytesIO(body)), expected)
        else:
            assert headers["retry-after"] == "1"
            assert headers["content-type"].startswith("application/problem+json")
            assert json.loads(body)["status"] == 503
    assert admission.peak <= LIMIT
    assert admission.in_flight == 0

    metrics = asyncio.run(asgi_request(app, "/metrics", {}))[2].decode()
    assert f"terrascan_tile_requests_shed_total {float(statuses[503])}" in metrics
    assert "terrascan_tile_renders_in_flight 0.0" in metrics


def test_failed_renders_give_their_slot_back(burst: Any) -> None:
    app, alice, url, _ = burst
    admission: RenderAdmission = app.state.tile_admission

    async def fire() -> list[int]:
        bad = [f"{url}?expression=b9", f"{url}?bidx=7", f"{url}?algorithm=ndvi&rescale=x"]
        answers = await asyncio.gather(*(asgi_request(app, t, alice.headers) for t in bad * 10))
        return [status for status, _, _ in answers]

    statuses = asyncio.run(fire())
    assert all(400 <= s < 500 for s in statuses), statuses
    assert admission.in_flight == 0
    # and the slots are really free: a tile still renders
    status, _, _ = asyncio.run(asgi_request(app, f"{url}?algorithm=ndvi", alice.headers))
    assert status == 200


def test_a_full_process_refuses_before_any_other_work(burst: Any) -> None:
    """While every slot is taken a tile request is refused first, before its token or the
    catalog is looked at (so refusing costs little when the process is busiest)."""
    app, alice, url, _ = burst
    admission: RenderAdmission = app.state.tile_admission
    admission.in_flight = admission.limit
    try:
        unsigned = asyncio.run(asgi_request(app, f"{url}?algorithm=ndvi", {}))
        signed = asyncio.run(asgi_request(app, f"{url}?algorithm=ndvi", alice.headers))
    finally:
        admission.in_flight = 0
    for status, headers, _ in (unsigned, signed):
        assert status == 503 and headers["retry-after"] == "1"
    # with a slot free again, the same requests get their usual answers
    assert asyncio.run(asgi_request(app, f"{url}?algorithm=ndvi", {}))[0] == 401
    assert asyncio.run(asgi_request(app, f"{url}?algorithm=ndvi", alice.headers))[0] == 200
