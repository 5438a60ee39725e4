"""Sign-in with Google (OpenID Connect) and GitHub (OAuth 2.0), end to end against a provider
stand-in served on 127.0.0.1: real HTTP, real RS256 ID tokens, PKCE checked by the provider."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from tests.api._accounts import account_settings, open_client

CLIENT_ID, CLIENT_SECRET = "terrascan-test", "stand-in-secret"
APP = "http://testserver"


class ProviderStandIn(ThreadingHTTPServer):
    """An OpenID provider (discovery, authorize, token, JWKS) plus GitHub's OAuth and user API."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.base = f"http://127.0.0.1:{self.server_address[1]}"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "key-1"
        self.codes: dict[str, dict[str, str]] = {}
        self.email = "octo@example.org"
        #: Claims to change in the next ID tokens (wrong audience, unverified email, ...).
        self.overrides: dict[str, Any] = {}
        self.sign_with_other_key = False
        self.token_requests: list[dict[str, str]] = []

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.base,
            "aud": CLIENT_ID,
            "sub": "google-sub-1",
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "email": self.email.upper(),
            "email_verified": True,
            "name": "Octo Cat",
            **self.overrides,
        }
        key = self.other_key if self.sign_with_other_key else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})


class _Handler(BaseHTTPRequestHandler):
    server: ProviderStandIn

    def log_message(self, *_: Any) -> None:
        return

    def _json(self, body: Any, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        base = self.server.base
        if url.path == "/.well-known/openid-configuration":
            self._json(
                {
                    "issuer": base,
                    "authorization_endpoint": f"{base}/authorize",
                    "token_endpoint": f"{base}/token",
                    "jwks_uri": f"{base}/jwks",
                }
            )
        elif url.path == "/jwks":
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.server.key.public_key()))
            self._json({"keys": [{**jwk, "kid": self.server.kid, "use": "sig", "alg": "RS256"}]})
        elif url.path in ("/authorize", "/login/oauth/authorize"):
            assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
            assert query["code_challenge_method"] == "S256"
            code = secrets.token_urlsafe(16)
            self.server.codes[code] = query
            target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
            self.send_response(302)
            self.send_header("Location", target)
            self.end_headers()
        elif url.path == "/user":
            self._json({"id": 4242, "login": "octo", "name": None})
        elif url.path == "/user/emails":
            self._json(
                [
                    {"email": "old@example.org", "primary": False, "verified": False},
                    {"email": "Hub@Example.org", "primary": True, "verified": True},
                ]
            )
        else:
            self._json({"error": "not_found"}, 404)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        self.server.token_requests.append(form)
        auth = self.headers.get("Authorization", "")
        client_ok = (
            auth == "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        )
        client_ok = client_ok or (form.get("client_id"), form.get("client_secret")) == (
            CLIENT_ID,
            CLIENT_SECRET,
        )
        issued = self.server.codes.pop(form.get("code", ""), None)  # single use
        verifier = form.get("code_verifier", "")
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        if (
            not client_ok
            or issued is None
            or challenge != issued["code_challenge"]
            or form.get("redirect_uri") != issued["redirect_uri"]
        ):
            self._json({"error": "invalid_grant"}, 400)
            return
        body: dict[str, Any] = {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer"}
        if self.path == "/token":
            body["id_token"] = self.server.id_token(issued.get("nonce", ""))
        self._json(body)


@pytest.fixture(scope="module")
def provider() -> Iterator[ProviderStandIn]:
    server = ProviderStandIn()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(tmp_path: Path, provider: ProviderStandIn) -> Iterator[TestClient]:
    provider.overrides, provider.sign_with_other_key = {}, False
    settings = account_settings(
        tmp_path,
        public_url=APP,
        oauth_google_client_id=CLIENT_ID,
        oauth_google_client_secret=CLIENT_SECRET,
        oauth_google_metadata_url=f"{provider.base}/.well-known/openid-configuration",
        oauth_github_client_id=CLIENT_ID,
        oauth_github_client_secret=CLIENT_SECRET,
        oauth_github_url=provider.base,
        oauth_github_api_url=provider.base,
    )
    with open_client(settings) as c:
        yield c


def _through_provider(client: TestClient, name: str) -> str:
    """Start the sign-in, let the provider approve it; returns the callback path and query."""
    start = client.get(f"/api/v1/auth/oauth/{name}/login", follow_redirects=False)
    assert start.status_code == 302, start.text
    assert "terrascan_oauth" in start.headers["set-cookie"]
    assert "HttpOnly" in start.headers["set-cookie"]
    approved = httpx.get(start.headers["location"], follow_redirects=False)
    assert approved.status_code == 302
    callback = approved.headers["location"]
    assert callback.startswith(f"{APP}/api/v1/auth/oauth/{name}/callback?")
    return callback.removeprefix(APP)


def _signed_in(client: TestClient, name: str) -> dict[str, str]:
    done = client.get(_through_provider(client, name), follow_redirects=False)
    assert done.status_code == 303, done.text
    location = done.headers["location"]
    assert location.startswith(f"{APP}/#")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).fragment).items()}


def test_google_sign_in_end_to_end(client: TestClient, provider: ProviderStandIn) -> None:
    assert client.get("/api/v1/auth/oauth/providers").json() == ["github", "google"]
    pair = _signed_in(client, "google")
    assert pair["token_type"] == "bearer"
    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == "octo@example.org" and me.json()["name"] == "Octo Cat"
    # The provider saw PKCE and the right redirect; the refresh token works like any other.
    assert provider.token_requests[-1]["code_verifier"]
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        ).status_code
        == 200
    )
    # The account has no password, so password sign-in fails; signing in again finds the same user.
    assert (
        client.post(
            "/api/v1/auth/login", json={"email": "octo@example.org", "password": "anything at all"}
        ).status_code
        == 401
    )
    again = _signed_in(client, "google")
    me_again = client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {again['access_token']}"}
    )
    assert me_again.json()["id"] == me.json()["id"]
    personal = me.json()["memberships"][0]["org_id"]
    audit = client.get(
        f"/api/v1/orgs/{personal}/audit",
        headers={"Authorization": f"Bearer {again['access_token']}"},
    ).json()
    assert [(e["action"], e["details"]) for e in audit] == [
        ("auth.login", {"provider": "google"}),
        ("auth.login_failed", {"email": "octo@example.org"}),  # the password attempt
        ("auth.login", {"provider": "google"}),
        ("user.registered", {"provider": "google"}),
    ]


def test_github_sign_in_uses_the_verified_primary_email(client: TestClient) -> None:
    pair = _signed_in(client, "github")
    me = client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
    ).json()
    assert me["email"] == "hub@example.org" and me["name"] == "octo"


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("aud", "someone-else"),
        ("iss", "https://evil.example.com"),
        ("nonce", "replayed"),
        ("email_verified", False),
        ("exp", 1),
        ("other_key", True),
    ],
)
def test_bad_id_tokens_are_refused(
    client: TestClient, provider: ProviderStandIn, change: str, value: Any
) -> None:
    if change == "other_key":
        provider.sign_with_other_key = True
    else:
        provider.overrides = {change: value}
    response = client.get(_through_provider(client, "google"), follow_redirects=False)
    assert response.status_code == 401
    assert "access_token" not in response.headers.get("location", "")


def test_the_callback_must_answer_this_browsers_sign_in(
    client: TestClient, provider: ProviderStandIn
) -> None:
    path = _through_provider(client, "google")
    url = urlsplit(path)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    forged_state = f"{url.path}?{urlencode({**query, 'state': 'attacker'})}"
    assert client.get(forged_state, follow_redirects=False).status_code == 401
    assert client.get(f"{url.path}?error=access_denied", follow_redirects=False).status_code == 401
    other_browser = TestClient(client.app, raise_server_exceptions=False)  # no cookie
    assert other_browser.get(path, follow_redirects=False).status_code == 401
    # The code is spent by the first exchange; a replay is refused by the provider.
    assert client.get(path, follow_redirects=False).status_code == 303
    assert client.get(path, follow_redirects=False).status_code == 401
    assert (
        client.get(path.replace("/google/", "/github/"), follow_redirects=False).status_code == 401
    )


def test_disabled_providers_are_404(tmp_path: Path) -> None:
    with open_client(account_settings(tmp_path)) as c:
        assert c.get("/api/v1/auth/oauth/providers").json() == []
        assert c.get("/api/v1/auth/oauth/google/login", follow_redirects=False).status_code == 404
        assert (
            c.get(f"/api/v1/auth/oauth/google/callback?code=x&state={uuid.uuid4()}").status_code
            == 404
        )
