"""Accounts: registration, sign-in, tokens (SECURITY.md rows A1 to A4), sign-out, /users/me."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import select

from terrascan import passwords
from terrascan.api.app import create_app
from terrascan.catalog.models import AuditLog, RefreshToken, User
from terrascan.settings import Settings
from tests.api._accounts import PASSWORD, Account, account_settings, open_client, signin, signup

SECRET = "test-secret-" + "x" * 60


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return account_settings(tmp_path, secret_key=SECRET)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the tests that only read, or only try what must fail."""
    with open_client(account_settings(tmp_path_factory.mktemp("auth"), secret_key=SECRET)) as c:
        yield c


@pytest.fixture(scope="module")
def a1(shared: TestClient) -> Account:
    return signup(shared, "a1@example.org")


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def _forge(
    base: dict[str, Any], key: str = SECRET, algorithm: str = "HS256", **changes: Any
) -> str:
    claims = {**base, **changes}
    for name in [k for k, v in claims.items() if v is None]:
        del claims[name]
    return jwt.encode(claims, key, algorithm=algorithm)


def _unsigned(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _me(client: TestClient, token: str) -> int:
    return client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}).status_code


# ----------------------------------------------------------------------------- the happy path


def test_register_login_me_refresh_logout(client: TestClient) -> None:
    created = client.post(
        "/api/v1/auth/register",
        json={"email": " Ada@Example.org ", "password": PASSWORD, "name": "Ada"},
    )
    assert created.status_code == 201
    assert set(created.json()) == {"id", "email", "name", "created_at"}
    assert created.json()["email"] == "ada@example.org"

    login = client.post(
        "/api/v1/auth/login", json={"email": "ada@example.org", "password": PASSWORD}
    )
    assert login.status_code == 200
    pair = login.json()
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert pair["token_type"] == "bearer" and pair["expires_in"] == 15 * 60
    claims = _claims(pair["access_token"])
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert claims["typ"] == "access" and claims["aud"] == "terrascan"
    assert jwt.get_unverified_header(pair["access_token"])["alg"] == "HS256"

    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200
    body = me.json()
    assert body["email"] == "ada@example.org" and body["id"] == created.json()["id"]
    assert [(m["is_personal"], m["role"]) for m in body["memberships"]] == [(True, "owner")]
    assert "password" not in me.text and "hash" not in me.text

    renewed = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert renewed.status_code == 200
    new = renewed.json()
    assert new["refresh_token"] != pair["refresh_token"]
    assert _me(client, new["access_token"]) == 200

    out = client.post("/api/v1/auth/logout", json={"refresh_token": new["refresh_token"]})
    assert out.status_code == 204
    # The session has ended: its refresh token and its access tokens no longer work.
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": new["refresh_token"]})
    assert again.status_code == 401
    assert _me(client, new["access_token"]) == 401
    assert _me(client, pair["access_token"]) == 401


def test_duplicate_email_is_a_conflict(client: TestClient) -> None:
    signup(client, "dup@example.org")
    again = client.post(
        "/api/v1/auth/register", json={"email": "DUP@example.org", "password": PASSWORD}
    )
    assert again.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": PASSWORD},
        {"email": "a@example.org", "password": "short"},
        {"email": "a@example.org", "password": PASSWORD, "role": "owner"},
        {"email": "a@example.org", "password": PASSWORD, "is_superuser": True},
        {"email": "a@example.org", "password": PASSWORD, "org_id": str(uuid.uuid4())},
        {"email": "a@example.org"},
    ],
)
def test_register_refuses_bad_or_privileged_fields(
    shared: TestClient, body: dict[str, Any]
) -> None:
    response = shared.post("/api/v1/auth/register", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert (
        shared.post(
            "/api/v1/auth/login", json={"email": "a@example.org", "password": PASSWORD}
        ).status_code
        == 401
    )


def test_tokens_are_stored_hashed(client: TestClient) -> None:
    account = signup(client, "hash@example.org")
    with client.app.state.catalog.session() as session:  # type: ignore[attr-defined]
        stored = session.scalars(select(RefreshToken.token_hash)).all()
        user = session.scalars(select(User).where(User.email == "hash@example.org")).one()
    assert account.refresh not in stored
    assert hashlib.sha256(account.refresh.encode()).hexdigest() in stored
    assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


# ----------------------------------------------------------------------------- A1 and A2


def test_a_correctly_forged_token_is_accepted(shared: TestClient, a1: Account) -> None:
    """The control for the tests below: a token built here with the right key and claims works,
    so each refusal below is caused by the one thing that test changes."""
    token = _forge(_claims(a1.access), jti=uuid.uuid4().hex)
    assert _me(shared, token) == 200


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("alg none", lambda c: _unsigned(c)),
        ("wrong key", lambda c: _forge(c, key="another-secret-" + "y" * 40)),
        ("HS512 with the right key", lambda c: _forge(c, algorithm="HS512")),
        ("typ refresh", lambda c: _forge(c, typ="refresh")),
        ("no typ", lambda c: _forge(c, typ=None)),
        ("wrong audience", lambda c: _forge(c, aud="someone-else")),
        ("no audience", lambda c: _forge(c, aud=None)),
        ("no exp", lambda c: _forge(c, exp=None)),
        ("no iat", lambda c: _forge(c, iat=None)),
        ("no sub", lambda c: _forge(c, sub=None)),
        ("sub not a uuid", lambda c: _forge(c, sub="admin")),
        ("expired", lambda c: _forge(c, iat=c["iat"] - 3600, exp=int(time.time()) - 5)),
        ("not yet valid (nbf)", lambda c: _forge(c, nbf=int(time.time()) + 600)),
        ("issued in the future", lambda c: _forge(c, iat=int(time.time()) + 600)),
        ("unknown user", lambda c: _forge(c, sub=str(uuid.uuid4()))),
        ("unknown session", lambda c: _forge(c, sid=str(uuid.uuid4()))),
        ("garbage", lambda c: "not.a.jwt"),
    ],
)
def test_bad_access_tokens_are_refused(
    shared: TestClient, a1: Account, name: str, make: Any
) -> None:
    account = a1
    response = shared.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {make(_claims(account.access))}"}
    )
    assert response.status_code == 401, name
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"


def test_a_refresh_token_is_never_an_access_token(shared: TestClient, a1: Account) -> None:
    account = a1
    assert _me(shared, account.refresh) == 401
    assert shared.get("/api/v1/users/me").status_code == 401  # and no token at all
    # ... and an access token is not a refresh token.
    assert (
        shared.post("/api/v1/auth/refresh", json={"refresh_token": account.access}).status_code
        == 401
    )


def test_an_expired_refresh_token_is_refused(client: TestClient) -> None:
    account = signup(client, "old@example.org")
    with client.app.state.catalog.session() as session:  # type: ignore[attr-defined]
        row = session.scalars(select(RefreshToken)).one()
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh}).status_code
        == 401
    )


# ----------------------------------------------------------------------------- A3


def test_a_reused_refresh_token_revokes_its_family(client: TestClient) -> None:
    victim = signup(client, "victim@example.org")
    other_session = signin(client, "victim@example.org")

    first = client.post("/api/v1/auth/refresh", json={"refresh_token": victim.refresh}).json()
    second = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    ).json()

    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": victim.refresh})
    assert replay.status_code == 401
    assert "already used" in replay.json()["detail"]

    # The whole family is gone: the newest refresh token and every access token of the family.
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
        ).status_code
        == 401
    )
    assert _me(client, second["access_token"]) == 401
    assert _me(client, victim.access) == 401
    # Another sign-in session of the same user is untouched.
    assert _me(client, other_session.access) == 200
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": other_session.refresh}
        ).status_code
        == 200
    )

    with client.app.state.catalog.session() as session:  # type: ignore[attr-defined]
        actions = session.scalars(select(AuditLog.action)).all()
    assert "auth.refresh_reused" in actions


# ----------------------------------------------------------------------------- A4


def test_73_byte_passwords_are_not_truncated(client: TestClient) -> None:
    password = "p" * 72 + "q"
    assert len(password.encode()) == 73
    signup(client, "long@example.org", password=password)
    prefix = client.post(
        "/api/v1/auth/login", json={"email": "long@example.org", "password": password[:72]}
    )
    assert prefix.status_code == 401
    multibyte = "é" * 36 + "x"  # 73 bytes, 37 characters
    signup(client, "utf8@example.org", password=multibyte)


@pytest.mark.parametrize("route", ["register", "login"])
@pytest.mark.parametrize("size", [257, 1_000_000])
def test_over_long_passwords_are_422_and_never_echoed(
    shared: TestClient, route: str, size: int
) -> None:
    password = "z" * size
    response = shared.post(
        f"/api/v1/auth/{route}", json={"email": "big@example.org", "password": password}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "password"]
    assert "zzzzzzzz" not in response.text


def test_bodies_over_the_cap_are_413_problems(shared: TestClient) -> None:
    client = shared
    body = json.dumps({"email": "big@example.org", "password": "z" * 3_000_000})
    response = client.post(
        "/api/v1/auth/login", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        yield b'{"email": "big@example.org", "password": "'
        for _ in range(30):
            yield b"z" * 100_000
        yield b'"}'

    chunked = client.post(
        "/api/v1/auth/login", content=chunks(), headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 413
    assert chunked.headers["content-type"] == "application/problem+json"


def test_unknown_user_and_wrong_password_do_the_same_work(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    signup(client, "known@example.org")
    real = passwords._hasher
    checked: list[str] = []

    class CountingHasher:
        def verify(self, hash_: str, password: str) -> bool:
            checked.append(hash_)
            return real.verify(hash_, password)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(passwords, "_hasher", CountingHasher())

    def attempt(email: str) -> tuple[int, str]:
        before = len(checked)
        response = client.post(
            "/api/v1/auth/login", json={"email": email, "password": "wrong password"}
        )
        assert len(checked) == before + 1  # exactly one Argon2 verification either way
        return response.status_code, response.json()["detail"]

    unknown, wrong = attempt("nobody@example.org"), attempt("known@example.org")
    assert unknown == wrong == (401, "incorrect email or password")
    # Both hashes use the same Argon2id parameters, so the same amount of work.
    params = {h.rsplit("$", 2)[0] for h in checked}
    assert len(params) == 1 and params.pop().startswith("$argon2id$v=19$m=19456,t=2,p=1")


def test_unknown_user_and_wrong_password_take_the_same_time(client: TestClient) -> None:
    signup(client, "timing@example.org")

    def timed(email: str) -> float:
        start = time.perf_counter()
        response = client.post(
            "/api/v1/auth/login", json={"email": email, "password": "wrong password"}
        )
        assert response.status_code == 401
        return time.perf_counter() - start

    timed("warmup@example.org")
    unknown, wrong = [], []
    for _ in range(7):  # interleaved, so load on the machine affects both alike
        unknown.append(timed("nobody@example.org"))
        wrong.append(timed("timing@example.org"))
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.6 < ratio < 1.67, (unknown, wrong)


# ----------------------------------------------------------------------------- audit


def test_sign_ins_and_failures_are_audited(client: TestClient) -> None:
    account = signup(client, "audited@example.org")
    client.post(
        "/api/v1/auth/login", json={"email": "audited@example.org", "password": "nope nope"}
    )
    entries = client.get(f"/api/v1/orgs/{account.personal_org}/audit", headers=account.headers)
    assert entries.status_code == 200
    actions = [e["action"] for e in entries.json()]
    assert actions[:3] == ["auth.login_failed", "auth.login", "user.registered"]
    failed = entries.json()[0]
    assert failed["actor_id"] == str(account.user_id) and failed["ip"] == "testclient"
    assert failed["details"] == {"email": "audited@example.org"}


# ----------------------------------------------------------------------------- /users/me


def test_update_me_name_and_password(client: TestClient) -> None:
    account = signup(client, "me@example.org")
    other = signin(client, "me@example.org")

    renamed = client.patch(
        "/api/v1/users/me", json={"name": "  Me Myself "}, headers=account.headers
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Me Myself"

    no_current = client.patch(
        "/api/v1/users/me", json={"password": "new password 1"}, headers=account.headers
    )
    assert no_current.status_code == 422
    wrong_current = client.patch(
        "/api/v1/users/me",
        json={"password": "new password 1", "current_password": "wrong one"},
        headers=account.headers,
    )
    assert wrong_current.status_code == 422
    changed = client.patch(
        "/api/v1/users/me",
        json={"password": "new password 1", "current_password": PASSWORD},
        headers=account.headers,
    )
    assert changed.status_code == 200
    assert (
        client.post(
            "/api/v1/auth/login", json={"email": "me@example.org", "password": PASSWORD}
        ).status_code
        == 401
    )
    signin(client, "me@example.org", "new password 1")
    # This session goes on; the other sign-in session has ended.
    assert _me(client, account.access) == 200
    assert _me(client, other.access) == 401
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": other.refresh}).status_code
        == 401
    )


@pytest.mark.parametrize(
    "body",
    [
        {"email": "new@example.org"},
        {"is_superuser": True},
        {"role": "owner"},
        {"is_active": False},
        {"password_hash": "x"},
    ],
)
def test_update_me_refuses_other_fields(
    shared: TestClient, a1: Account, body: dict[str, Any]
) -> None:
    response = shared.patch("/api/v1/users/me", json=body, headers=a1.headers)
    assert response.status_code == 422
    me = shared.get("/api/v1/users/me", headers=a1.headers).json()
    assert me["email"] == "a1@example.org" and me["memberships"][0]["role"] == "owner"
    assert _me(shared, a1.access) == 200  # still active, still the same session


def test_production_tokens_need_the_configured_secret(tmp_path: Path) -> None:
    """Tokens signed by one deployment's secret are refused by another's."""
    first = create_app(account_settings(tmp_path / "one", secret_key="k" * 40))
    second = create_app(account_settings(tmp_path / "one", secret_key="j" * 40))
    with TestClient(first) as c1, TestClient(second) as c2:
        account = signup(c1, "two@example.org")
        assert _me(c1, account.access) == 200
        assert _me(c2, account.access) == 401
    first.state.catalog.dispose()
    second.state.catalog.dispose()


def test_what_a_response_promises_is_already_committed(tmp_path: Path) -> None:
    """Over a real socket the next request can arrive before a session that commits after the
    response would have: tokens must work, and revocations hold, the moment the client hears."""
    app = create_app(account_settings(tmp_path))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for i in range(5):
                email = f"socket{i}@example.org"
                body = {"email": email, "password": PASSWORD}
                assert http.post("/api/v1/auth/register", json=body).status_code == 201
                pair = http.post("/api/v1/auth/login", json=body).json()
                bearer = {"Authorization": f"Bearer {pair['access_token']}"}
                assert http.get("/api/v1/users/me", headers=bearer).status_code == 200
                out = http.post(
                    "/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]}
                )
                assert out.status_code == 204
                assert http.get("/api/v1/users/me", headers=bearer).status_code == 401
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.catalog.dispose()
