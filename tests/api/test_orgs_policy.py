"""Z2: every role on every route that names a policy action gets exactly what the one policy
table says, and every route that reaches organisation data names one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box

from terrascan.api.policy import POLICY, allowed, may_assign
from terrascan.catalog.accounts import InvitationRepository, OrganizationRepository
from terrascan.catalog.models import AOI, Role
from terrascan.catalog.repositories import AOIRepository
from tests.api._accounts import Account, account_settings, open_client, signup
from tests.api._routes import Operation, example_body, fill_path, operations

#: Routes that act on the caller themself, not on an organisation's data.
PERSONAL = {
    "POST /api/v1/auth/register",
    "POST /api/v1/auth/login",
    "POST /api/v1/auth/refresh",
    "POST /api/v1/auth/logout",
    "GET /api/v1/users/me",
    "PATCH /api/v1/users/me",
    "GET /api/v1/orgs",
    "POST /api/v1/orgs",
    "POST /api/v1/invitations/accept",
    "GET /api/v1/health",
    "GET /api/v1/version",
    "GET /metrics",
}
#: Routes whose ids and bodies this test fills so that an allowed call must succeed; routes
#: added later are held to "allowed roles are not refused, refused roles get 403".
CALLABLE = {
    "GET /api/v1/orgs/{org_id}",
    "PATCH /api/v1/orgs/{org_id}",
    "DELETE /api/v1/orgs/{org_id}",
    "GET /api/v1/orgs/{org_id}/members",
    "PATCH /api/v1/orgs/{org_id}/members/{user_id}",
    "DELETE /api/v1/orgs/{org_id}/members/{user_id}",
    "POST /api/v1/orgs/{org_id}/leave",
    "POST /api/v1/orgs/{org_id}/invitations",
    "GET /api/v1/orgs/{org_id}/invitations",
    "DELETE /api/v1/orgs/{org_id}/invitations/{invitation_id}",
    "GET /api/v1/orgs/{org_id}/audit",
    "GET /api/v1/orgs/{org_id}/usage",
    "GET /api/v1/aois",
    "POST /api/v1/aois",
    "GET /api/v1/aois/{aoi_id}",
    "PATCH /api/v1/aois/{aoi_id}",
    "DELETE /api/v1/aois/{aoi_id}",
}
#: Routes outside any organisation: sign-in, the docs, and public share links (their token is
#: the authorisation; tests/api/test_shares.py covers them).
PERSONAL_PREFIXES = ("/api/v1/auth/", "/api/v1/docs", "/api/v1/openapi.json", "/api/v1/shared/")


def test_the_table_is_well_formed() -> None:
    assert all(roles and roles <= set(Role) for roles in POLICY.values())
    # Every action an analyst may take, an admin may take; and so on up to the owner.
    order = [Role.VIEWER, Role.ANALYST, Role.ADMIN, Role.OWNER]
    for action in POLICY:
        permitted = [allowed(role, action) for role in order]
        assert permitted == sorted(permitted), action
    assert allowed(Role.OWNER, "audit:read") and allowed(Role.ADMIN, "audit:read")
    assert not allowed(Role.ANALYST, "audit:read") and not allowed(Role.VIEWER, "aoi:create")
    with pytest.raises(KeyError):
        allowed(Role.OWNER, "no:such:action")
    assert may_assign(Role.OWNER, Role.VIEWER, Role.OWNER)
    assert not may_assign(Role.ADMIN, Role.VIEWER, Role.OWNER)
    assert not may_assign(Role.ADMIN, Role.OWNER, None)
    assert may_assign(Role.ADMIN, Role.ANALYST, None) and not may_assign(
        Role.ANALYST, Role.VIEWER, None
    )


@dataclass
class World:
    client: TestClient
    people: dict[str, Account]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = account_settings(Path(tmp_path_factory.mktemp("policy")))
    with open_client(settings) as client:
        people = {
            name: signup(client, f"{name}@example.org")
            for name in ("owner", "owner2", "admin", "analyst", "viewer", "target")
        }
        yield World(client, people)


def _fresh_team(world: World) -> dict[str, str]:
    """A new team where each person holds their role, with one AOI and one invitation, so
    destructive calls never depend on what earlier calls did."""
    p = world.people
    with world.client.app.state.catalog.session() as session:  # type: ignore[attr-defined]
        orgs = OrganizationRepository(session)
        team = orgs.create_team(f"team-{uuid.uuid4().hex[:6]}", owner_id=p["owner"].user_id)
        for name, role in (
            ("owner2", Role.OWNER),
            ("admin", Role.ADMIN),
            ("analyst", Role.ANALYST),
            ("viewer", Role.VIEWER),
            ("target", Role.VIEWER),
        ):
            orgs.add_member(team.id, p[name].user_id, role)
        aoi = AOIRepository(session).add(
            AOI(org_id=team.id, name="a", geometry=box(0, 0, 1, 1), area_km2=1.0)
        )
        _, invitation = InvitationRepository(session).create(
            team,
            email="new@example.org",
            role=Role.VIEWER,
            invited_by=p["owner"].user_id,
            ttl=timedelta(days=1),
        )
        return {
            "org_id": str(team.id),
            "aoi_id": str(aoi.id),
            "invitation_id": str(invitation.id),
            "user_id": str(p["target"].user_id),
        }


def _policy_routes(app: Any) -> list[Operation]:
    return [op for op in operations(app) if op.action is not None]


def test_every_organisation_route_consults_the_policy(world: World) -> None:
    app = world.client.app
    unguarded = {
        str(op)
        for op in operations(app)  # type: ignore[arg-type]
        if op.action is None
        and op.path.startswith("/api/v1")
        and str(op) not in PERSONAL
        and not op.path.startswith(PERSONAL_PREFIXES)
    }
    assert unguarded == set(), "routes that reach organisation data must use require(...)"
    assert len(_policy_routes(app)) >= 17


@pytest.mark.parametrize("role", ["owner", "admin", "analyst", "viewer"])
def test_each_role_gets_what_the_table_says(world: World, role: str) -> None:
    app, client = world.client.app, world.client
    checked = []
    for op in _policy_routes(app):
        known = _fresh_team(world)
        values = {name: known.get(name, str(uuid.uuid4())) for name in op.params}
        headers = {**world.people[role].headers, "X-Organization-ID": known["org_id"]}
        body = example_body(app, op)  # type: ignore[arg-type]
        response = client.request(op.method, fill_path(op.path, values), json=body, headers=headers)
        assert op.action is not None
        if allowed(Role(role), op.action):
            assert response.status_code not in (401, 403) and response.status_code < 500, (
                str(op),
                role,
                response.text,
            )
            if str(op) in CALLABLE:  # this file knows how to make these succeed
                assert 200 <= response.status_code < 300, (str(op), role, response.text)
        else:
            assert response.status_code == 403, (str(op), role, response.text)
            assert response.headers["content-type"] == "application/problem+json"
        checked.append(op.action)
    assert {str(op) for op in _policy_routes(app)} >= CALLABLE
    assert set(checked) >= {
        "aoi:create",
        "aoi:delete",
        "org:delete",
        "org:members:manage",
        "org:invitations:manage",
        "audit:read",
        "usage:read",
    }
