"""Z1: a member of organisation B, using organisation A's real ids on every id-bearing route of
the app, gets 404 everywhere, and no list shows A's rows.

The routes come from the app's route table when the test runs, so a route added later is covered
without touching this file: ids it names are filled with A's objects (every tenant table gets a
row in A), and a parameter this test cannot fill gets a random UUID, which must be a 404 too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box

from terrascan.catalog.models import (
    Alert,
    AlertRule,
    AnalysisJob,
    ImagerySource,
    ShareLink,
    VectorFeature,
)
from terrascan.errors import NotFoundError
from tests.api._accounts import (
    SQUARE,
    Account,
    account_settings,
    make_team,
    open_client,
    signin,
    signup,
)
from tests.api._routes import Operation, example_body, fill_path, operations

#: The object kind a path segment before a bare ``{id}`` refers to.
SEGMENT_KINDS = {
    "aois": "aoi",
    "orgs": "org",
    "members": "user",
    "users": "user",
    "invitations": "invitation",
    "imagery": "imagery",
    "scenes": "imagery",
    "jobs": "job",
    "results": "job",
    "analysis": "job",
    "features": "feature",
    "shares": "share",
    "share-links": "share",
    "alerts": "alert",
    "rules": "rule",
    "alert-rules": "rule",
}
#: The object kind a named id parameter refers to.
PARAM_KINDS = {
    "org_id": "org",
    "aoi_id": "aoi",
    "user_id": "user",
    "member_id": "user",
    "invitation_id": "invitation",
    "imagery_id": "imagery",
    "scene_id": "imagery",
    "image_id": "imagery",
    "source_id": "imagery",
    "job_id": "job",
    "result_id": "job",
    "feature_id": "feature",
    "share_id": "share",
    "link_id": "share",
    "share_link_id": "share",
    "rule_id": "rule",
    "alert_id": "alert",
}
#: Non-id parameters of tile routes and the like.
PLAIN_VALUES = {
    "z": "0",
    "x": "0",
    "y": "0",
    "scale": "1",
    "format": "png",
    "tileMatrixSetId": "WebMercatorQuad",
}


@dataclass
class Tenants:
    client: TestClient
    a: Account
    a_member: Account
    b: Account
    objects: dict[str, str]


def _seed_tenant_rows(client: TestClient, org: uuid.UUID, user: uuid.UUID) -> dict[str, str]:
    """One row of A in every tenant table that later routes will expose."""
    footprint = box(10, 45, 10.1, 45.1)
    with client.app.state.catalog.session() as session:  # type: ignore[attr-defined]
        imagery = ImagerySource(
            org_id=org,
            provider="upload",
            scene_id="a-scene",
            dedupe_key="a",
            geometry=footprint,
            acquired_at=datetime(2024, 1, 1, tzinfo=UTC),
        )
        job = AnalysisJob(
            org_id=org, created_by=user, job_type="spectral-index", status="completed"
        )
        session.add_all([imagery, job])
        session.flush()
        feature = VectorFeature(org_id=org, job_id=job.id, geometry=footprint)
        share = ShareLink(
            org_id=org,
            created_by=user,
            token_hash=uuid.uuid4().hex,
            target_type="job",
            target_id=job.id,
        )
        session.add_all([feature, share])
        session.flush()
        return {
            "imagery": str(imagery.id),
            "job": str(job.id),
            "feature": str(feature.id),
            "share": str(share.id),
        }


def _seed_alerts(client: TestClient, org: uuid.UUID, aoi: str, job: str) -> dict[str, str]:
    with client.app.state.catalog.session() as session:  # type: ignore[attr-defined]
        rule = AlertRule(org_id=org, aoi_id=uuid.UUID(aoi), name="loss")
        session.add(rule)
        session.flush()
        alert = Alert(org_id=org, rule_id=rule.id, job_id=uuid.UUID(job), message="change")
        session.add(alert)
        session.flush()
        return {"rule": str(rule.id), "alert": str(alert.id)}


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    with open_client(account_settings(Path(tmp_path_factory.mktemp("tenancy")))) as client:
        a = signup(client, "alice@a.example.org")
        a_member = signup(client, "amos@a.example.org")
        b = signup(client, "bob@b.example.org")
        team_a = make_team(client, a, "A")
        team_b = make_team(client, b, "B")
        a = a.in_org(team_a)
        invite = client.post(
            f"/api/v1/orgs/{team_a}/invitations",
            json={"email": a_member.email, "role": "analyst"},
            headers=a.headers,
        )
        from tests.api._accounts import outbox_tokens

        token = outbox_tokens(client, a_member.email)[-1]
        assert (
            client.post(
                "/api/v1/invitations/accept", json={"token": token}, headers=a_member.headers
            ).status_code
            == 200
        )
        pending = client.post(
            f"/api/v1/orgs/{team_a}/invitations",
            json={"email": "later@a.example.org"},
            headers=a.headers,
        )
        aoi = client.post(
            "/api/v1/aois", json={"name": "A's area", "geometry": SQUARE}, headers=a.headers
        )
        assert invite.status_code == pending.status_code == aoi.status_code == 201
        objects = {
            "org": str(team_a),
            "aoi": aoi.json()["id"],
            "user": str(a_member.user_id),
            "invitation": pending.json()["id"],
        }
        objects.update(_seed_tenant_rows(client, team_a, a.user_id))
        objects.update(_seed_alerts(client, team_a, objects["aoi"], objects["job"]))
        yield Tenants(client, a, a_member.in_org(team_a), b.in_org(team_b), objects)


def _values(op: Operation, objects: dict[str, str]) -> dict[str, str]:
    segments = op.path.split("/")
    values = {}
    for name in op.params:
        if name in PARAM_KINDS:
            kind = PARAM_KINDS[name]
        elif name == "id":
            before = segments[segments.index("{id}") - 1]
            kind = SEGMENT_KINDS.get(before, "")
        else:
            kind = ""
        values[name] = objects.get(kind) or PLAIN_VALUES.get(name) or str(uuid.uuid4())
    return values


def _id_routes(client: TestClient) -> list[Operation]:
    return [op for op in operations(client.app) if op.id_params]  # type: ignore[arg-type]


def test_the_route_table_is_read(tenants: Tenants) -> None:
    routes = {str(op) for op in _id_routes(tenants.client)}
    assert {
        "GET /api/v1/aois/{aoi_id}",
        "DELETE /api/v1/orgs/{org_id}/members/{user_id}",
        "DELETE /api/v1/orgs/{org_id}/invitations/{invitation_id}",
    } <= routes


def test_other_organisations_ids_are_404_on_every_route(tenants: Tenants) -> None:
    client, b, objects = tenants.client, tenants.b, tenants.objects
    secrets = [tenants.a.email, tenants.a_member.email, "later@a.example.org"]
    seen = []
    for op in _id_routes(client):
        url = fill_path(op.path, _values(op, objects))
        body = example_body(client.app, op)  # type: ignore[arg-type]
        for org_header in (str(b.org), objects["org"]):  # B's own org, and claiming A's
            headers = {**b.headers, "X-Organization-ID": org_header}
            response = client.request(op.method, url, json=body, headers=headers)
            assert response.status_code == 404, (str(op), org_header, response.text)
            assert not any(s in response.text for s in secrets)
        seen.append(str(op))
    assert len(seen) >= 13

    # Nothing was changed by those calls: A still sees everything.
    a = tenants.a
    assert (
        client.get(f"/api/v1/aois/{objects['aoi']}", headers=a.headers).json()["name"] == "A's area"
    )
    members = client.get(f"/api/v1/orgs/{objects['org']}/members", headers=a.headers).json()
    assert {m["email"] for m in members} == {tenants.a.email, tenants.a_member.email}
    pending = client.get(f"/api/v1/orgs/{objects['org']}/invitations", headers=a.headers).json()
    assert [p["id"] for p in pending] == [objects["invitation"]]


def test_lists_never_show_another_organisations_rows(tenants: Tenants) -> None:
    client, objects = tenants.client, tenants.objects
    markers = [*objects.values(), tenants.a.email, tenants.a_member.email, "A's area"]
    lists = [
        op
        for op in operations(client.app)  # type: ignore[arg-type]
        if op.method == "GET"
        and not op.params
        and op.path.startswith("/api/v1/")
        and op.path not in ("/api/v1/openapi.json", "/api/v1/docs")
    ]
    assert {"/api/v1/aois", "/api/v1/orgs", "/api/v1/users/me"} <= {op.path for op in lists}
    for op in lists:
        as_b = client.get(op.path, headers=tenants.b.headers)
        assert as_b.status_code < 500, str(op)
        assert not any(m in as_b.text for m in markers), str(op)
        claiming_a = client.get(
            op.path, headers={**tenants.b.headers, "X-Organization-ID": objects["org"]}
        )
        echoed = [m for m in markers if m != objects["org"]]  # a 404 may name the id it was given
        assert not any(m in claiming_a.text for m in echoed), str(op)
    # The control: A's own lists do show A's rows, so the checks above are not vacuous.
    assert objects["aoi"] in client.get("/api/v1/aois", headers=tenants.a.headers).text
    assert (
        objects["aoi"]
        in client.get(
            "/api/v1/aois",
            params={"org_id": objects["org"]},
            headers={"Authorization": tenants.a.headers["Authorization"]},
        ).text
    )


def test_the_org_header_selects_only_own_memberships(tenants: Tenants) -> None:
    client, b, objects = tenants.client, tenants.b, tenants.objects
    headers = {"Authorization": b.headers["Authorization"]}
    assert (
        client.get(
            "/api/v1/aois", headers={**headers, "X-Organization-ID": objects["org"]}
        ).status_code
        == 404
    )
    assert (
        client.get("/api/v1/aois", params={"org_id": objects["org"]}, headers=headers).status_code
        == 404
    )
    assert (
        client.get(
            "/api/v1/aois", headers={**headers, "X-Organization-ID": "not-a-uuid"}
        ).status_code
        == 422
    )
    disagree = client.get(
        "/api/v1/aois",
        params={"org_id": str(b.personal_org)},
        headers={**headers, "X-Organization-ID": str(b.org)},
    )
    assert disagree.status_code == 422
    created = client.post(
        "/api/v1/aois",
        json={"name": "b", "geometry": SQUARE},
        headers={**headers, "X-Organization-ID": objects["org"]},
    )
    assert created.status_code == 404
    assert "b" not in [
        x["name"] for x in client.get("/api/v1/aois", headers=tenants.a.headers).json()
    ]


@pytest.mark.postgres
def test_row_level_security_backs_up_a_forgotten_filter(
    postgis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the API connects as a role that does not own the tables. Even with the
    repository's org check removed (a bug this test plants), B cannot read A's AOI, because the
    request is confined to B's organisation by row-level security. The control: the same bug
    over a superuser connection, which bypasses row-level security, leaks."""
    from terrascan.catalog import repositories
    from terrascan.catalog.database import Catalog
    from tests.catalog.test_accounts import app_role

    migrator = Catalog(postgis_url)
    migrator.upgrade()
    migrator.dispose()

    def forgetful_get(self: Any, row_id: uuid.UUID, *, org_id: uuid.UUID) -> Any:
        row = self.session.get(self.model, row_id)
        if row is None:
            raise NotFoundError(f"{self.noun} {row_id} not found")
        return row

    def settings_for(url: str, name: str) -> Any:
        return account_settings(
            tmp_path / name, database_url=url, mode="production", secret_key="r" * 64
        )

    with app_role(postgis_url) as role_url:
        with open_client(settings_for(role_url, "app")) as client:
            a, b = signup(client, "rls-a@example.org"), signup(client, "rls-b@example.org")
            made = client.post(
                "/api/v1/aois", json={"name": "A only", "geometry": SQUARE}, headers=a.headers
            )
            assert made.status_code == 201
            aoi = made.json()["id"]
            monkeypatch.setattr(repositories.TenantRepository, "get", forgetful_get)
            assert client.get(f"/api/v1/aois/{aoi}", headers=b.headers).status_code == 404
            assert client.get(f"/api/v1/aois/{aoi}", headers=a.headers).status_code == 200
            assert client.delete(f"/api/v1/aois/{aoi}", headers=b.headers).status_code == 404
        with open_client(settings_for(postgis_url, "superuser")) as client:
            b = signin(client, "rls-b@example.org")
            leaked = client.get(f"/api/v1/aois/{aoi}", headers=b.headers)
            assert leaked.status_code == 200 and leaked.json()["name"] == "A only"
