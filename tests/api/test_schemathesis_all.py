"""Schemathesis over the whole OpenAPI document: no generated request gets a 5xx.

``test_auth_schemathesis.py`` fuzzes the accounts, organisation and AOI routes; this file takes
every other operation (imagery, analyses, jobs, results, tiles, exports, share links, the STAC
API, system routes), with a world worth fuzzing: organisation A holds two uploaded scenes, a
completed NDVI and a completed change detection, and a live share link; the STAC API is the
recorded Earth Search stand-in, so discovery answers without the internet.

Each case is sent as A and as B; then, where the path names ids, again with A's real ids in the
path: as A (DELETEs excepted, to keep A's objects) and as B, who must be refused (4xx), except
on the public ``/shared/{token}`` routes, where the token is the grant.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from tests.api._accounts import SQUARE, Account, account_settings, open_client, signup  # noqa: E402
from tests.api._analysis import run_journey  # noqa: E402
from tests.api._fuzz import fuzz_each  # noqa: E402
from tests.api.test_auth_schemathesis import ROUTES as FUZZED_ELSEWHERE  # noqa: E402
from tests.stac_standin import EarthSearchStandIn  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    # titiler's tileset metadata for a TMS that does not cover the scene: morecantile warns
    # and titiler answers with clamped limits (a warning in production, not a failure)
    pytest.mark.filterwarnings("ignore::morecantile.errors.PointOutsideTMSBounds"),
    # rio-tiler rescaling float data for an 8-bit format (JPEG, JP2): a warning, as intended
    pytest.mark.filterwarnings("ignore::rio_tiler.errors.InvalidDatatypeWarning"),
    # the same metadata for a TMS lacking the scene's zoom level: morecantile derives the
    # level from the TMS's scale and says so
    pytest.mark.filterwarnings("ignore:TileMatrix not found for level:UserWarning"),
    # statistics given both max_size and width/height: rio-tiler uses width/height and says so
    pytest.mark.filterwarnings("ignore:'max_size' will be ignored:UserWarning"),
]
EXAMPLES = {"positive": 8, "negative": 4}


@dataclass
class World:
    app: Any
    a: Account
    b: Account
    ids: dict[str, str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Iterator[World]:
    root = Path(tmp_path_factory.mktemp("fuzz-all"))
    stac = EarthSearchStandIn(fixtures_dir)
    settings = account_settings(root, stac_api_url=stac.base, asset_hosts=[stac.host])
    try:
        with open_client(settings) as client:
            a = signup(client, "fuzz-all-a@example.org")
            b = signup(client, "fuzz-all-b@example.org")
            journey = run_journey(client, a, b, root)
            aoi = client.post(
                "/api/v1/aois", json={"name": "a", "geometry": SQUARE}, headers=a.headers
            )
            share = client.post(
                f"/api/v1/analysis/results/{journey.index_job['id']}/shares",
                json={},
                headers=a.headers,
            )
            assert aoi.status_code == share.status_code == 201
            ids = {
                "imagery_id": journey.imagery[0],
                "job_id": journey.index_job["id"],
                "aoi_id": aoi.json()["id"],
                "share_id": share.json()["id"],
                "token": share.json()["token"],
                "org_id": str(a.personal_org),
            }
            yield World(client.app, a, b, ids)
    finally:
        stac.close()


def _call(case: Any, who: Account) -> Any:
    response = case.call(headers=who.headers)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    return response


def _check(case: Any, world: World) -> None:
    for who in (world.a, world.b):
        _call(case, who)
    if not case.path_parameters:
        return
    case.path_parameters = {k: world.ids.get(k, v) for k, v in case.path_parameters.items()}
    if case.method != "DELETE":  # keep A's objects alive for the rest of the run
        _call(case, world.a)
    response = _call(case, world.b)
    if not case.path.startswith("/api/v1/shared/"):
        assert response.status_code >= 400, f"B reached A's object: {case.formatted_path}"


def _operations(world: World) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", world.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    return [op for op in operations if not re.match(FUZZED_ELSEWHERE, op.path)]


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_server_errors_anywhere(world: World, mode: str) -> None:
    operations = _operations(world)
    paths = {op.path for op in operations}
    assert {
        "/api/v1/imagery/{imagery_id}",
        "/api/v1/analysis/results/{job_id}/export",
        "/api/v1/analysis/results/{job_id}/tiles/{tileMatrixSetId}/{z}/{x}/{y}",
        "/api/v1/shared/{token}/tiles/{tileMatrixSetId}/{z}/{x}/{y}",
        "/api/v1/shares/{share_id}",
        "/api/v1/jobs/{job_id}",
    } <= paths
    failures = fuzz_each(operations, mode, EXAMPLES[mode], lambda case: _check(case, world))
    assert not failures, "\n\n".join(failures)
