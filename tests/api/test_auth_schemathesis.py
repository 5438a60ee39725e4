"""Schemathesis over the OpenAPI document of the accounts, organisations and AOI routes, with two
organisations' credentials: generated valid and invalid requests never get a 5xx.

Each generated case is sent three times: as a member of organisation A in A, as a member of B in
B, and as B with the path's ids replaced by A's real ids (the Z1 situation, fuzzed).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from tests.api._accounts import SQUARE, Account, account_settings, make_team, open_client, signup  # noqa: E402
from tests.api._fuzz import fuzz_each  # noqa: E402

ROUTES = r"^/api/v1/(auth|users|orgs|invitations|aois)"
pytestmark = pytest.mark.slow


@dataclass
class Credentials:
    a: Account
    b: Account
    a_ids: dict[str, str]


@pytest.fixture(scope="module")
def _world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Credentials]]:
    with open_client(account_settings(Path(tmp_path_factory.mktemp("fuzz")))) as client:
        a = signup(client, "fuzz-a@example.org")
        b = signup(client, "fuzz-b@example.org")
        team_a, team_b = make_team(client, a, "A"), make_team(client, b, "B")
        a, b = a.in_org(team_a), b.in_org(team_b)
        aoi = client.post("/api/v1/aois", json={"name": "a", "geometry": SQUARE}, headers=a.headers)
        invitation = client.post(
            f"/api/v1/orgs/{team_a}/invitations", json={"email": "x@example.org"}, headers=a.headers
        )
        ids = {
            "org_id": str(team_a),
            "aoi_id": aoi.json()["id"],
            "user_id": str(a.user_id),
            "invitation_id": invitation.json()["id"],
        }
        yield client.app, Credentials(a, b, ids)


def _a_ids(path_parameters: dict[str, Any] | None, ids: dict[str, str]) -> dict[str, Any]:
    return {k: ids.get(k, v) for k, v in (path_parameters or {}).items()}


def _check(case: Any, credentials: Credentials) -> None:
    for who in (credentials.a, credentials.b):
        response = case.call(headers=who.headers)
        assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    if not case.path_parameters:
        return
    case.path_parameters = _a_ids(case.path_parameters, credentials.a_ids)
    if case.method != "DELETE" and not case.path.endswith("/leave"):  # keep A's objects alive
        response = case.call(headers=credentials.a.headers)
        assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    response = case.call(headers=credentials.b.headers)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    assert response.status_code >= 400, f"B reached A's object: {case.method} {case.formatted_path}"


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_server_errors(_world: tuple[Any, Credentials], mode: str) -> None:
    app, credentials = _world
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app).include(path_regex=ROUTES)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    failures = fuzz_each(operations, mode, 10, lambda case: _check(case, credentials))
    assert not failures, "\n\n".join(failures)
