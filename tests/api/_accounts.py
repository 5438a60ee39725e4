"""Helpers for the accounts tests: sign people up through the real API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from terrascan.api.app import create_app
from terrascan.settings import Settings

PASSWORD = "correct horse battery"
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[10, 45], [10.1, 45], [10.1, 45.1], [10, 45.1], [10, 45]]],
}


def account_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Embedded settings whose rate limits stay out of the way of ordinary tests."""
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "mode": "embedded",
        "auth_rate_limit_per_ip": 100_000,
        "auth_rate_limit_per_account": 100_000,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Account:
    email: str
    user_id: uuid.UUID
    personal_org: uuid.UUID
    access: str
    refresh: str
    password: str = PASSWORD
    org: uuid.UUID | None = field(default=None)

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.access}"}
        if self.org is not None:
            headers["X-Organization-ID"] = str(self.org)
        return headers

    def in_org(self, org: uuid.UUID | None) -> Account:
        return Account(
            self.email,
            self.user_id,
            self.personal_org,
            self.access,
            self.refresh,
            self.password,
            org,
        )


def signup(client: TestClient, email: str, password: str = PASSWORD, name: str = "") -> Account:
    created = client.post(
        "/api/v1/auth/register", json={"email": email, "password": password, "name": name}
    )
    assert created.status_code == 201, created.text
    return signin(client, email, password)


def signin(client: TestClient, email: str, password: str = PASSWORD) -> Account:
    tokens = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert tokens.status_code == 200, tokens.text
    pair = tokens.json()
    me = client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
    ).json()
    personal = next(m["org_id"] for m in me["memberships"] if m["is_personal"])
    return Account(
        email,
        uuid.UUID(me["id"]),
        uuid.UUID(personal),
        pair["access_token"],
        pair["refresh_token"],
        password,
    )


def make_team(client: TestClient, owner: Account, name: str = "Team") -> uuid.UUID:
    response = client.post("/api/v1/orgs", json={"name": name}, headers=owner.headers)
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


def outbox_tokens(client: TestClient, email: str) -> list[str]:
    """Invitation tokens mailed to ``email`` (read from the outbox, as the mail server would)."""
    from sqlalchemy import select

    from terrascan.catalog.models import OutboxMessage

    with client.app.state.catalog.session() as session:  # type: ignore[attr-defined]
        bodies = session.scalars(
            select(OutboxMessage.body)
            .where(OutboxMessage.to_address == email)
            .order_by(OutboxMessage.created_at)
        ).all()
    return [body.split("token=", 1)[1].split()[0] for body in bodies]


def add_member(
    client: TestClient, owner: Account, org: uuid.UUID, member: Account, role: str
) -> None:
    """Invite ``member`` with ``role`` and accept as them, through the API."""
    invited = client.post(
        f"/api/v1/orgs/{org}/invitations",
        json={"email": member.email, "role": role},
        headers=owner.headers,
    )
    assert invited.status_code == 201, invited.text
    token = outbox_tokens(client, member.email)[-1]
    accepted = client.post(
        "/api/v1/invitations/accept", json={"token": token}, headers=member.headers
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["role"] == role


@contextmanager
def open_client(settings: Settings) -> Iterator[TestClient]:
    """A started TestClient over a fresh app; the catalog is disposed afterwards."""
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    app.state.catalog.dispose()
