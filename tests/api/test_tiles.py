"""Dynamic tiles over HTTP: a result tile's pixels against the result raster, index algorithms,
checked band math (T6), output caps (T7), the per-organisation cache and 404 for others."""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import morecantile
import numpy as np
import pytest
from pyproj import Transformer

from tests.api._accounts import (
    account_settings,
    add_member,
    make_team,
    open_client,
    signin,
    signup,
)
from tests.api._analysis import (
    CRS,
    SIZE,
    TRANSFORM,
    Journey,
    expected_tile,
    ndvi,
    run_journey,
    upload,
    write_scene,
)

TMS = morecantile.tms.get("WebMercatorQuad")
ZOOM = 15


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journey]:
    root = Path(tmp_path_factory.mktemp("tiles-api"))
    with open_client(account_settings(root)) as client:
        alice = signup(client, "alice@example.org")
        bob = signup(client, "bob@example.org")
        yield run_journey(client, alice, bob, root)


def _centre_tile() -> morecantile.Tile:
    x, y = TRANSFORM * (SIZE / 2, SIZE / 2)
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    return TMS.tile(lon, lat, ZOOM)


def _npy(content: bytes) -> np.ndarray:
    return np.load(io.BytesIO(content))


def test_result_tile_pixels_match_the_result_raster(journey: Journey) -> None:
    client, alice, job_id = journey.client, journey.alice, journey.index_job["id"]
    tile = _centre_tile()
    url = f"/api/v1/analysis/results/{job_id}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.npy"
    response = client.get(url, headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"].startswith("private")
    data = _npy(response.content)
    assert data.shape == (2, 256, 256)  # NDVI and the mask
    expected, inside = expected_tile(tile, ndvi(journey.before))
    valid = data[1] > 0
    assert valid.sum() > 1000 and not (valid & ~inside).any()
    close = np.isclose(data[0][valid], expected[valid], atol=1e-5)
    assert close.mean() > 0.97  # pixels on raster cell edges may round the other way

    again = client.get(url, headers=alice.headers)
    assert again.headers.get("x-cache") == "hit" and again.content == response.content
    assert again.headers["cache-control"].startswith("private")
    assert client.get(url, headers=journey.bob.headers).status_code == 404


def test_index_algorithm_on_imagery_equals_the_index_job(journey: Journey) -> None:
    client, alice = journey.client, journey.alice
    tile = _centre_tile()
    path = f"tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.npy"
    on_the_fly = client.get(
        f"/api/v1/imagery/{journey.imagery[0]}/{path}?algorithm=ndvi", headers=alice.headers
    )
    stored = client.get(
        f"/api/v1/analysis/results/{journey.index_job['id']}/{path}", headers=alice.headers
    )
    assert on_the_fly.status_code == stored.status_code == 200, on_the_fly.text
    a, b = _npy(on_the_fly.content), _npy(stored.content)
    np.testing.assert_allclose(a[0][b[1] > 0], b[0][b[1] > 0], atol=1e-5)

    by_name = client.get(
        f"/api/v1/imagery/{journey.imagery[0]}/{path}?expression=(nir-red)/(nir%2Bred)",
        headers=alice.headers,
    )
    assert by_name.status_code == 200, by_name.text
    np.testing.assert_allclose(_npy(by_name.content)[0][b[1] > 0], b[0][b[1] > 0], atol=1e-5)


def test_tilejson_info_statistics_and_preview(journey: Journey) -> None:
    client, alice = journey.client, journey.alice
    base = f"/api/v1/imagery/{journey.imagery[0]}"
    tilejson = client.get(f"{base}/WebMercatorQuad/tilejson.json", headers=alice.headers)
    assert tilejson.status_code == 200, tilejson.text
    assert tilejson.json()["tiles"][0].startswith("http://testserver" + base + "/tiles/")
    info = client.get(f"{base}/info", headers=alice.headers).json()
    assert info["width"] == SIZE and info["count"] == 4
    stats = client.get(f"{base}/statistics?algorithm=ndvi", headers=alice.headers)
    assert stats.status_code == 200, stats.text
    preview = client.get(f"{base}/preview.png?bidx=4&rescale=0,4000", headers=alice.headers)
    assert preview.status_code == 200 and preview.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", preview.content[16:24]) == (SIZE, SIZE)  # IHDR width, height


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('id')",
        "b1.real",
        "lambda: 1",
        "nir.__class__",
        "sqrt(b1)",
        "b1 ** 2",
        "b9",
        "(b1",
        "b1;;b2",
        "b1" + "+b1" * 300,
    ],
)
def test_band_math_beyond_bands_numbers_and_arithmetic_is_400(
    journey: Journey, expression: str
) -> None:
    tile = _centre_tile()
    response = journey.client.get(
        f"/api/v1/imagery/{journey.imagery[0]}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}",
        params={"expression": expression},
        headers=journey.alice.headers,
    )
    assert response.status_code in (400, 422), (expression, response.text)


@pytest.mark.parametrize(
    "path",
    [
        "tiles/WebMercatorQuad/31/0/0",
        "tiles/WebMercatorQuad/2/9/0",
        "tiles/WebMercatorQuad/15/0/0?tilesize=4096",
        "preview?max_size=100000",
        "preview/50000x50000.png",
        "statistics?max_size=100000",
    ],
)
def test_output_sizes_are_capped(journey: Journey, path: str) -> None:
    response = journey.client.get(
        f"/api/v1/imagery/{journey.imagery[0]}/{path}", headers=journey.alice.headers
    )
    assert response.status_code == 422, (path, response.text)


def test_no_generic_url_endpoints(journey: Journey) -> None:
    spec = journey.client.get("/api/v1/openapi.json").json()
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            names = {p["name"] for p in operation.get("parameters", [])}
            assert not names & {"url", "path", "href"}, path


# ------------------------------------------------------------------ T1, T6, T7 on every tiler


def _tilers(journey: Journey) -> dict[str, str]:
    """The base path of each tiler: imagery, result, and a result's share link."""
    share = journey.client.post(
        f"/api/v1/analysis/results/{journey.index_job['id']}/shares",
        json={},
        headers=journey.alice.headers,
    )
    assert share.status_code == 201, share.text
    return {
        "imagery": f"/api/v1/imagery/{journey.imagery[0]}",
        "result": f"/api/v1/analysis/results/{journey.index_job['id']}",
        "shared": share.json()["url"],
    }


def test_band_math_and_caps_hold_on_result_and_shared_tiles(journey: Journey) -> None:
    tile = _centre_tile()
    tile_path = f"tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}"
    for kind, base in _tilers(journey).items():
        headers = {} if kind == "shared" else journey.alice.headers
        ok = journey.client.get(f"{base}/{tile_path}.npy", headers=headers)
        assert ok.status_code == 200, (kind, ok.text)
        for expression in ("__import__('os')", "b1.real", "lambda: 1", "b1 ** 2", "b9"):
            response = journey.client.get(
                f"{base}/{tile_path}", params={"expression": expression}, headers=headers
            )
            assert response.status_code == 400, (kind, expression, response.text)
        for path in (
            "tiles/WebMercatorQuad/31/0/0",
            "tiles/WebMercatorQuad/2/9/0",
            f"{tile_path}?tilesize=4096",
            f"{tile_path}?buffer=1000",
        ):
            response = journey.client.get(f"{base}/{path}", headers=headers)
            assert response.status_code == 422, (kind, path, response.text)


def _takes_text(param: dict[str, Any]) -> bool:
    """Whether a query parameter's schema admits a string (numbers and booleans cannot carry
    a path; FastAPI refuses them before any code of ours runs)."""
    schema = param.get("schema", {})
    options = schema.get("anyOf", [schema])
    return any(o.get("type", "string") == "string" or o.get("items", {}).get("type") == "string"
               for o in options)  # fmt: skip


def test_no_parameter_reaches_a_path_or_url(journey: Journey) -> None:
    """T1: hostile paths and URLs in every query parameter of the tile and export routes, and
    in the id slots: never a 5xx, and the canary server never hears from us. The canary is
    another process: GDAL holds the GIL while it fetches, so a server thread in this process
    would not get to record the request."""
    canary = Canary()
    try:
        hostile = [
            f"{canary.url}/x.tif",
            f"/vsicurl/{canary.url}/x.tif",
            "file:///etc/passwd",
            "MEM:::DATAPOINTER=0,PIXELS=1,LINES=1",
            "/etc/passwd",
        ]
        spec = journey.client.get("/api/v1/openapi.json").json()
        tilers = _tilers(journey)
        tile = _centre_tile()
        values = {"z": str(tile.z), "x": str(tile.x), "y": str(tile.y), "tileMatrixSetId":
                  "WebMercatorQuad", "format": "png", "scale": "1", "lon": "15", "lat": "45",
                  "width": "64", "height": "64"}  # fmt: skip
        checked = 0
        for template, operations in spec["paths"].items():
            kind = next(
                (k for k, p in (("imagery", "/api/v1/imagery/{imagery_id}/"),
                                ("result", "/api/v1/analysis/results/{job_id}/"),
                                ("shared", "/api/v1/shared/{token}/"))
                 if template.startswith(p)),
                None,
            )  # fmt: skip
            if kind is None or "get" not in operations:
                continue
            rest = template.split("}/", 1)[1]
            path = tilers[kind] + "/" + re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], rest)
            headers = {} if kind == "shared" else journey.alice.headers
            for param in operations["get"].get("parameters", []):
                if param["in"] != "query" or param["name"] == "org_id" or not _takes_text(param):
                    continue
                for value in hostile:
                    response = journey.client.get(
                        path, params={param["name"]: value}, headers=headers
                    )
                    assert response.status_code < 500, (path, param["name"], value)
                    checked += 1
            for value in hostile:  # in the id slot itself
                slot = template.split("}/", 1)[0].rsplit("/", 1)[0] + "/" + quote(value, safe="")
                response = journey.client.get(f"{slot}/{rest}", headers=headers)
                assert response.status_code in (404, 405, 422), (slot, response.status_code)
        assert checked > 200
        assert canary.hits() == []
    finally:
        canary.close()


_CANARY = """
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        with open(sys.argv[1], "a") as log:
            log.write(self.command + " " + self.path + "\\n")
        self.send_response(404)
        self.end_headers()
    do_HEAD = do_POST = do_GET
    def log_message(self, *args):
        pass
server = HTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class Canary:
    """An HTTP server in a child process that logs every request it gets to a file."""

    def __init__(self) -> None:
        import subprocess
        import sys
        import tempfile

        self.log = Path(tempfile.mkdtemp(prefix="canary-")) / "hits.log"
        self.log.touch()
        self.process = subprocess.Popen(
            [sys.executable, "-c", _CANARY, str(self.log)], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def hits(self) -> list[str]:
        return self.log.read_text().splitlines()

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


def test_every_tile_request_checks_sign_in_and_membership_cache_hits_too(
    journey: Journey, tmp_path: Path
) -> None:
    """Tile routes check the caller in the catalog with lookups of their own (one worker-thread
    call); a cache hit is still served only to a live sign-in of a current member."""
    client, alice = journey.client, journey.alice
    team = make_team(client, alice, "Tile team")
    carol = signup(client, "carol@example.org")
    add_member(client, alice, team, carol, "viewer")
    carol_again = signin(client, "carol@example.org").in_org(team)
    carol = carol.in_org(team)
    scene_path = write_scene(tmp_path / "team.tif", journey.before)
    imagery_id = upload(client, alice.in_org(team), scene_path, "team scene")

    tile = _centre_tile()
    url = f"/api/v1/imagery/{imagery_id}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.npy"
    url += "?algorithm=ndvi"
    first = client.get(url, headers=carol.headers)
    assert first.status_code == 200, first.text
    assert first.headers["x-cache"] == "miss"
    expected, inside = expected_tile(tile, ndvi(journey.before))
    data = _npy(first.content)
    valid = data[1] > 0
    assert valid.sum() > 1000 and not (valid & ~inside).any()
    close = np.isclose(data[0][valid], expected[valid], atol=1e-5)
    assert close.mean() > 0.97  # pixels on raster cell edges may round the other way
    assert client.get(url, headers=carol_again.headers).headers["x-cache"] == "hit"

    # one of carol's sign-ins ends: its token is refused, the other still reads the cache
    out = client.post("/api/v1/auth/logout", json={"refresh_token": carol.refresh})
    assert out.status_code == 204, out.text
    assert client.get(url, headers=carol.headers).status_code == 401
    assert client.get(url, headers=carol_again.headers).headers["x-cache"] == "hit"

    # carol leaves the team (removed by its owner): 404 at once, cached tile or not
    removed = client.delete(f"/api/v1/orgs/{team}/members/{carol.user_id}", headers=alice.headers)
    assert removed.status_code == 204, removed.text
    gone = client.get(url, headers=carol_again.headers)
    assert gone.status_code == 404 and "x-cache" not in gone.headers
    assert client.get(url, headers=alice.in_org(team).headers).headers["x-cache"] == "hit"
    # and outside the team (her personal organisation) the scene does not exist for her
    assert client.get(url, headers=carol_again.in_org(None).headers).status_code == 404


def test_tile_matrix_sets_are_kept_per_thread_not_copied_per_request() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from morecantile.errors import InvalidIdentifier

    from terrascan.api.routes.tiles import TILE_MATRIX_SETS

    here = TILE_MATRIX_SETS.get("WebMercatorQuad")
    assert TILE_MATRIX_SETS.get("WebMercatorQuad") is here
    with ThreadPoolExecutor(1) as pool:
        there = pool.submit(TILE_MATRIX_SETS.get, "WebMercatorQuad").result()
    assert there is not here
    assert there.model_dump() == here.model_dump() == TMS.model_dump()
    assert TILE_MATRIX_SETS.list() == morecantile.tms.list()
    with pytest.raises(InvalidIdentifier):
        TILE_MATRIX_SETS.get("NoSuchMatrixSet")


def test_band_combinations_by_common_name(journey: Journey) -> None:
    """False colour (nir, red, green) by band names equals the same bands by number, and its
    first band holds the scene's NIR values."""
    client, alice = journey.client, journey.alice
    tile = _centre_tile()
    base = f"/api/v1/imagery/{journey.imagery[0]}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}"
    by_name = client.get(f"{base}.npy?expression=nir;red;green", headers=alice.headers)
    by_number = client.get(f"{base}.npy?bidx=4&bidx=1&bidx=2", headers=alice.headers)
    assert by_name.status_code == by_number.status_code == 200, by_name.text
    named, numbered = _npy(by_name.content), _npy(by_number.content)
    assert named.shape == (4, 256, 256)  # three bands and the mask
    np.testing.assert_array_equal(named[:3], numbered[:3])
    valid = named[3] > 0
    np.testing.assert_array_equal(valid, numbered[3] > 0)
    for band, scene_band in ((0, 3), (1, 0), (2, 1)):
        expected, inside = expected_tile(tile, journey.before[scene_band].astype("float32"))
        assert valid.sum() > 1000 and not (valid & ~inside).any()
        assert np.isclose(named[band][valid], expected[valid]).mean() > 0.97


@pytest.mark.parametrize("nodata", ["-inf", "inf", "1e40", "70000", "-1"])
def test_nodata_the_raster_cannot_hold_is_refused(journey: Journey, nodata: str) -> None:
    """``nodata=`` beyond what the raster's type (uint16 here) can hold is the request's fault:
    4xx on every reading route, never a 500 (found by schemathesis)."""
    client, alice = journey.client, journey.alice
    tile = _centre_tile()
    base = f"/api/v1/imagery/{journey.imagery[0]}"
    for route in ("statistics", f"tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png",
                  "preview.png"):  # fmt: skip
        response = client.get(f"{base}/{route}?nodata={nodata}", headers=alice.headers)
        assert 400 <= response.status_code < 500, (route, response.status_code, response.text)


def test_nodata_beyond_float32_on_a_float_result_is_refused(journey: Journey) -> None:
    url = f"/api/v1/analysis/results/{journey.index_job['id']}/statistics"
    refused = journey.client.get(f"{url}?nodata=1e40", headers=journey.alice.headers)
    assert refused.status_code == 400, refused.text
    fine = journey.client.get(f"{url}?nodata=-9999", headers=journey.alice.headers)
    assert fine.status_code == 200, fine.text


@pytest.mark.parametrize("query", ["maxzoom=1000", "minzoom=-3", "minzoom=0&maxzoom=25"])
def test_zoom_ranges_beyond_the_tile_matrix_set_are_422(journey: Journey, query: str) -> None:
    """titiler would compute tile limits at zooms whose scales overflow (a 500, found by
    schemathesis); the tile matrix set's own levels are the range."""
    base = f"/api/v1/imagery/{journey.imagery[0]}"
    for route in ("tiles/WebMercatorQuad", "WebMercatorQuad/tilejson.json"):
        response = journey.client.get(f"{base}/{route}?{query}", headers=journey.alice.headers)
        assert response.status_code == 422, (route, response.text)
    within = journey.client.get(
        f"{base}/tiles/WebMercatorQuad?minzoom=10&maxzoom=16", headers=journey.alice.headers
    )
    assert within.status_code == 200, within.text
    limits = within.json()["tileMatrixSetLimits"]
    assert {int(limit["tileMatrix"]) for limit in limits} == set(range(10, 17))
