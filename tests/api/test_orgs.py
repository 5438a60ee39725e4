"""Organisations: teams, invitations by email (SMTP to a stand-in server), roles and the last
owner, removal taking effect at once (Z4), privileged fields (Z3), audit and usage."""

from __future__ import annotations

import re
import socketserver
import threading
import uuid
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from terrascan.settings import Settings
from tests.api._accounts import (
    SQUARE,
    Account,
    account_settings,
    add_member,
    make_team,
    open_client,
    outbox_tokens,
    signup,
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return account_settings(tmp_path)


# ----------------------------------------------------------------------------- an SMTP stand-in


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: EHLO, MAIL, RCPT, DATA, QUIT."""

    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        server: SMTPStandIn = self.server  # type: ignore[assignment]
        self._reply("220 stand-in ESMTP")
        recipients: list[str] = []
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250 stand-in")
            elif verb == "MAIL":
                recipients = []
                self._reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip(" <>"))
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 end with <CRLF>.<CRLF>")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                server.received.append((recipients, message_from_bytes(data)))
                self._reply("250 queued")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("502 not implemented")


class SMTPStandIn(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SMTPHandler)
        self.received: list[tuple[list[str], Any]] = []


@pytest.fixture
def smtp_server() -> Iterator[SMTPStandIn]:
    server = SMTPStandIn()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# ------------------------------------------------------------------------- teams and invitations


def test_invitation_is_mailed_and_accepted(tmp_path: Path, smtp_server: SMTPStandIn) -> None:
    settings = account_settings(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.server_address[1],
        smtp_starttls=False,
        public_url="https://terrascan.example.org",
    )
    with open_client(settings) as client:
        owner = signup(client, "owner@example.org")
        team = make_team(client, owner, "Glacier watch")
        invited = client.post(
            f"/api/v1/orgs/{team}/invitations",
            json={"email": "Grace@Example.org", "role": "analyst"},
            headers=owner.headers,
        )
        assert invited.status_code == 201
        assert "token" not in invited.text  # the secret goes by email only
        assert invited.json()["email"] == "grace@example.org"

        assert len(smtp_server.received) == 1
        recipients, mail = smtp_server.received[0]
        assert recipients == ["grace@example.org"]
        assert mail["Subject"] == "Invitation to Glacier watch on TerraScan"
        link = re.search(
            r"https://terrascan\.example\.org/invitations/accept\?token=(\S+)",
            mail.get_payload(decode=True).decode(),
        )
        assert link is not None
        token = link.group(1)

        impostor = signup(client, "impostor@example.org")
        stolen = client.post(
            "/api/v1/invitations/accept", json={"token": token}, headers=impostor.headers
        )
        assert stolen.status_code == 404  # a token alone does not let another account in

        grace = signup(client, "grace@example.org")
        accepted = client.post(
            "/api/v1/invitations/accept", json={"token": token}, headers=grace.headers
        )
        assert accepted.status_code == 200
        assert accepted.json()["org_id"] == str(team) and accepted.json()["role"] == "analyst"
        again = client.post(
            "/api/v1/invitations/accept", json={"token": token}, headers=grace.headers
        )
        assert again.status_code == 404

        members = client.get(f"/api/v1/orgs/{team}/members", headers=owner.headers).json()
        assert [(m["email"], m["role"]) for m in members] == [
            ("owner@example.org", "owner"),
            ("grace@example.org", "analyst"),
        ]
        assert client.get(f"/api/v1/orgs/{team}/invitations", headers=owner.headers).json() == []
        with client.app.state.catalog.session() as session:  # type: ignore[attr-defined]
            from sqlalchemy import select

            from terrascan.catalog.models import OutboxMessage

            assert session.scalars(select(OutboxMessage.status)).all() == ["sent"]


def test_without_smtp_mail_waits_in_the_outbox(client: TestClient) -> None:
    owner = signup(client, "boss@example.org")
    team = make_team(client, owner)
    created = client.post(
        f"/api/v1/orgs/{team}/invitations", json={"email": "x@example.org"}, headers=owner.headers
    )
    assert created.status_code == 201 and created.json()["role"] == "viewer"
    assert len(outbox_tokens(client, "x@example.org")) == 1
    pending = client.get(f"/api/v1/orgs/{team}/invitations", headers=owner.headers).json()
    assert [p["email"] for p in pending] == ["x@example.org"]
    withdrawn = client.delete(
        f"/api/v1/orgs/{team}/invitations/{pending[0]['id']}", headers=owner.headers
    )
    assert withdrawn.status_code == 204
    invitee = signup(client, "x@example.org")
    token = outbox_tokens(client, "x@example.org")[0]
    assert (
        client.post(
            "/api/v1/invitations/accept", json={"token": token}, headers=invitee.headers
        ).status_code
        == 404
    )


def test_personal_organisations_stay_personal(client: TestClient) -> None:
    owner = signup(client, "solo@example.org")
    invite = client.post(
        f"/api/v1/orgs/{owner.personal_org}/invitations",
        json={"email": "friend@example.org"},
        headers=owner.headers,
    )
    assert invite.status_code == 409
    assert (
        client.delete(f"/api/v1/orgs/{owner.personal_org}", headers=owner.headers).status_code
        == 409
    )
    assert (
        client.post(f"/api/v1/orgs/{owner.personal_org}/leave", headers=owner.headers).status_code
        == 409
    )


# ----------------------------------------------------------------------------- roles


@pytest.fixture
def crew(client: TestClient) -> dict[str, Any]:
    owner = signup(client, "captain@example.org")
    team = make_team(client, owner, "Crew")
    people = {"owner": owner}
    for role in ("admin", "analyst", "viewer"):
        people[role] = signup(client, f"{role}@example.org")
        add_member(client, owner, team, people[role], role)
    return {"team": team, **{k: v.in_org(team) for k, v in people.items()}}


def _set_role(client: TestClient, crew: dict[str, Any], actor: str, target: str, role: str) -> int:
    who: Account = crew[target]
    response = client.patch(
        f"/api/v1/orgs/{crew['team']}/members/{who.user_id}",
        json={"role": role},
        headers=crew[actor].headers,
    )
    return response.status_code


def test_role_changes_follow_the_owner_rules(client: TestClient, crew: dict[str, Any]) -> None:
    assert _set_role(client, crew, "admin", "viewer", "analyst") == 200
    assert _set_role(client, crew, "admin", "viewer", "owner") == 403  # only owners grant owner
    assert _set_role(client, crew, "admin", "owner", "viewer") == 403  # ... or take it away
    assert _set_role(client, crew, "analyst", "viewer", "admin") == 403
    assert _set_role(client, crew, "owner", "owner", "admin") == 409  # the last owner stays
    assert (
        client.post(f"/api/v1/orgs/{crew['team']}/leave", headers=crew["owner"].headers).status_code
        == 409
    )
    assert _set_role(client, crew, "owner", "admin", "owner") == 200
    assert _set_role(client, crew, "owner", "owner", "viewer") == 200  # now there is another owner
    unknown = client.patch(
        f"/api/v1/orgs/{crew['team']}/members/{uuid.uuid4()}",
        json={"role": "viewer"},
        headers=crew["admin"].headers,
    )
    assert unknown.status_code == 404
    roles = {
        m["email"]: m["role"]
        for m in client.get(
            f"/api/v1/orgs/{crew['team']}/members", headers=crew["viewer"].headers
        ).json()
    }
    assert roles == {
        "captain@example.org": "viewer",
        "admin@example.org": "owner",
        "analyst@example.org": "analyst",
        "viewer@example.org": "analyst",
    }

    audit = client.get(
        f"/api/v1/orgs/{crew['team']}/audit",
        params={"action": "member.role_changed"},
        headers=crew["admin"].headers,
    ).json()
    assert [(e["target_id"], e["details"]) for e in audit] == [
        (str(crew["owner"].user_id), {"previous": "owner", "role": "viewer"}),
        (str(crew["admin"].user_id), {"previous": "admin", "role": "owner"}),
        (str(crew["viewer"].user_id), {"previous": "viewer", "role": "analyst"}),
    ]


def test_admins_cannot_remove_owners_but_owners_can_remove_anyone(
    client: TestClient, crew: dict[str, Any]
) -> None:
    team, owner = crew["team"], crew["owner"]
    assert (
        client.delete(
            f"/api/v1/orgs/{team}/members/{owner.user_id}", headers=crew["admin"].headers
        ).status_code
        == 403
    )
    assert (
        client.delete(
            f"/api/v1/orgs/{team}/members/{crew['admin'].user_id}", headers=crew["viewer"].headers
        ).status_code
        == 403
    )
    assert (
        client.delete(
            f"/api/v1/orgs/{team}/members/{crew['admin'].user_id}", headers=owner.headers
        ).status_code
        == 204
    )
    assert (
        client.post(f"/api/v1/orgs/{team}/leave", headers=crew["viewer"].headers).status_code == 204
    )
    left = {
        m["email"] for m in client.get(f"/api/v1/orgs/{team}/members", headers=owner.headers).json()
    }
    assert left == {"captain@example.org", "analyst@example.org"}
    actions = [
        e["action"] for e in client.get(f"/api/v1/orgs/{team}/audit", headers=owner.headers).json()
    ]
    assert actions[:2] == ["member.left", "member.removed"]


def test_a_removed_member_loses_access_at_once(client: TestClient, crew: dict[str, Any]) -> None:
    """Z4: the membership is checked on every request, so removal ends access immediately, not
    when the access token expires; a refreshed token brings nothing back."""
    analyst: Account = crew["analyst"]
    made = client.post(
        "/api/v1/aois", json={"name": "shared", "geometry": SQUARE}, headers=analyst.headers
    )
    assert made.status_code == 201
    aoi = made.json()["id"]
    assert client.get(f"/api/v1/aois/{aoi}", headers=analyst.headers).status_code == 200

    removed = client.delete(
        f"/api/v1/orgs/{crew['team']}/members/{analyst.user_id}", headers=crew["owner"].headers
    )
    assert removed.status_code == 204
    assert client.get(f"/api/v1/aois/{aoi}", headers=analyst.headers).status_code == 404
    assert client.get("/api/v1/aois", headers=analyst.headers).status_code == 404
    assert client.get(f"/api/v1/orgs/{crew['team']}", headers=analyst.headers).status_code == 404

    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": analyst.refresh}).json()
    again = {
        "Authorization": f"Bearer {refreshed['access_token']}",
        "X-Organization-ID": str(crew["team"]),
    }
    assert client.get(f"/api/v1/aois/{aoi}", headers=again).status_code == 404
    # Their own workspace is unaffected, and the team keeps the AOI.
    assert (
        client.get("/api/v1/aois", headers={"Authorization": again["Authorization"]}).status_code
        == 200
    )
    assert client.get(f"/api/v1/aois/{aoi}", headers=crew["viewer"].headers).status_code == 200


def test_audit_and_usage_are_for_owners_and_admins(
    client: TestClient, crew: dict[str, Any]
) -> None:
    team = crew["team"]
    for role, expected in (("owner", 200), ("admin", 200), ("analyst", 403), ("viewer", 403)):
        assert (
            client.get(f"/api/v1/orgs/{team}/audit", headers=crew[role].headers).status_code
            == expected
        )
        assert (
            client.get(f"/api/v1/orgs/{team}/usage", headers=crew[role].headers).status_code
            == expected
        )
    bad_period = client.get(
        f"/api/v1/orgs/{team}/usage", params={"period": "2024-13"}, headers=crew["owner"].headers
    )
    assert bad_period.status_code == 422
    entries = client.get(f"/api/v1/orgs/{team}/audit", headers=crew["owner"].headers).json()
    invited = [e for e in entries if e["action"] == "invitation.created"]
    assert sorted(e["details"]["role"] for e in invited) == ["admin", "analyst", "viewer"]
    assert all(e["actor_id"] == str(crew["owner"].user_id) for e in invited)


# ----------------------------------------------------------------------------- Z3


@pytest.fixture(scope="module")
def z3(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, Account, Account, uuid.UUID]]:
    with open_client(account_settings(tmp_path_factory.mktemp("z3"))) as client:
        owner = signup(client, "z3@example.org")
        other = signup(client, "z3-other@example.org")
        yield client, owner, other, make_team(client, owner)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/orgs", {"name": "x", "plan": "enterprise"}),
        ("post", "/api/v1/orgs", {"name": "x", "owner_id": "{other}"}),
        ("patch", "/api/v1/orgs/{team}", {"plan": "enterprise"}),
        ("patch", "/api/v1/orgs/{team}", {"is_personal": True}),
        ("patch", "/api/v1/orgs/{team}/members/{me}", {"role": "viewer", "org_id": "{other}"}),
        (
            "post",
            "/api/v1/orgs/{team}/invitations",
            {"email": "a@example.org", "org_id": "{other}"},
        ),
        ("patch", "/api/v1/users/me", {"role": "owner"}),
        ("patch", "/api/v1/users/me", {"org_id": "{other}"}),
    ],
)
def test_privileged_fields_are_422(
    z3: tuple[TestClient, Account, Account, uuid.UUID], method: str, path: str, body: dict[str, Any]
) -> None:
    client, owner, other, team = z3
    values = {"team": str(team), "me": str(owner.user_id), "other": str(other.personal_org)}
    filled = {k: v.format(**values) if isinstance(v, str) else v for k, v in body.items()}
    response = getattr(client, method)(path.format(**values), json=filled, headers=owner.headers)
    assert response.status_code == 422
    org = client.get(f"/api/v1/orgs/{team}", headers=owner.headers).json()
    assert org["plan"] == "free" and org["is_personal"] is False and org["role"] == "owner"


def test_responses_carry_no_secrets_or_foreign_emails(
    client: TestClient, crew: dict[str, Any]
) -> None:
    outsider = signup(client, "outsider@example.org")
    texts = [
        client.get(path, headers=crew["owner"].headers).text
        for path in (
            "/api/v1/users/me",
            "/api/v1/orgs",
            f"/api/v1/orgs/{crew['team']}/members",
            f"/api/v1/orgs/{crew['team']}/audit",
            f"/api/v1/orgs/{crew['team']}/invitations",
        )
    ]
    for text in texts:
        assert "argon2" not in text and "password_hash" not in text and "token_hash" not in text
        assert "outsider@example.org" not in text
    outsider_view = client.get(f"/api/v1/orgs/{crew['team']}/members", headers=outsider.headers)
    assert outsider_view.status_code == 404
    assert "captain@example.org" not in outsider_view.text


def test_org_lifecycle(client: TestClient) -> None:
    owner = signup(client, "life@example.org")
    listed = client.get("/api/v1/orgs", headers=owner.headers).json()
    assert [(o["is_personal"], o["role"]) for o in listed] == [(True, "owner")]
    team = make_team(client, owner, "  Tundra  ")
    org = client.get(f"/api/v1/orgs/{team}", headers=owner.headers).json()
    assert org["name"] == "Tundra" and org["slug"].startswith("tundra-")
    renamed = client.patch(f"/api/v1/orgs/{team}", json={"name": "Taiga"}, headers=owner.headers)
    assert renamed.json()["name"] == "Taiga"
    assert client.delete(f"/api/v1/orgs/{team}", headers=owner.headers).status_code == 204
    assert client.get(f"/api/v1/orgs/{team}", headers=owner.headers).status_code == 404
    assert len(client.get("/api/v1/orgs", headers=owner.headers).json()) == 1
