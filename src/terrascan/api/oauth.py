"""Sign-in with an external provider: Google through OpenID Connect, GitHub through OAuth 2.0.

Authlib builds the authorization request (state, nonce, PKCE S256) and exchanges the code. The
ID token is checked with PyJWT against the provider's published keys (algorithm RS256, issuer,
audience, expiry and nonce all required), and only a verified email address is accepted. Every
URL fetched comes from settings, never from the request. The pending request (state, nonce, PKCE
verifier) travels in a short-lived cookie signed with the app's secret, so no server-side session
store is needed.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import jwt
from authlib.integrations.httpx_client import OAuth2Client

from terrascan.errors import AuthenticationError, NotFoundError, ServiceUnavailableError
from terrascan.settings import Settings

HTTP_TIMEOUT_S = 10.0
ID_TOKEN_ALGORITHMS = ["RS256"]


@dataclass(frozen=True)
class Provider:
    name: str
    kind: Literal["oidc", "github"]
    client_id: str
    client_secret: str
    scope: str
    #: OIDC: the discovery document; GitHub: the web and API base URLs.
    metadata_url: str = ""
    web_url: str = ""
    api_url: str = ""


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in (a verified email address)."""

    provider: str
    subject: str
    email: str
    name: str


@dataclass(frozen=True)
class PendingLogin:
    """What the callback must see again: the state, the nonce and the PKCE verifier."""

    provider: str
    state: str
    nonce: str
    code_verifier: str


def configured_providers(settings: Settings) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    if settings.oauth_google_client_id:
        providers["google"] = Provider(
            name="google",
            kind="oidc",
            client_id=settings.oauth_google_client_id,
            client_secret=settings.oauth_google_client_secret.get_secret_value(),
            scope="openid email profile",
            metadata_url=settings.oauth_google_metadata_url,
        )
    if settings.oauth_github_client_id:
        providers["github"] = Provider(
            name="github",
            kind="github",
            client_id=settings.oauth_github_client_id,
            client_secret=settings.oauth_github_client_secret.get_secret_value(),
            scope="read:user user:email",
            web_url=settings.oauth_github_url.rstrip("/"),
            api_url=settings.oauth_github_api_url.rstrip("/"),
        )
    return providers


def get_provider(settings: Settings, name: str) -> Provider:
    provider = configured_providers(settings).get(name)
    if provider is None:
        raise NotFoundError(f"sign-in provider {name!r} is not enabled")
    return provider


def _get_json(url: str, **kwargs: Any) -> Any:
    try:
        response = httpx.get(url, timeout=HTTP_TIMEOUT_S, follow_redirects=False, **kwargs)
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ServiceUnavailableError("the sign-in provider did not answer") from exc


class OAuthFlow:
    """One provider's authorization-code flow with a fixed redirect URI."""

    def __init__(self, provider: Provider, redirect_uri: str) -> None:
        self.provider = provider
        self.redirect_uri = redirect_uri

    def _client(self) -> OAuth2Client:
        return OAuth2Client(
            self.provider.client_id,
            self.provider.client_secret,
            scope=self.provider.scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            timeout=HTTP_TIMEOUT_S,
        )

    def _metadata(self) -> dict[str, Any]:
        if self.provider.kind == "github":
            web = self.provider.web_url
            return {
                "authorization_endpoint": f"{web}/login/oauth/authorize",
                "token_endpoint": f"{web}/login/oauth/access_token",
            }
        metadata: dict[str, Any] = _get_json(self.provider.metadata_url)
        return metadata

    def start(self) -> tuple[str, PendingLogin]:
        """The provider URL to send the browser to, and what to remember until it returns."""
        pending = PendingLogin(
            provider=self.provider.name,
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            code_verifier=secrets.token_urlsafe(48),
        )
        with self._client() as client:
            url, _ = client.create_authorization_url(
                self._metadata()["authorization_endpoint"],
                state=pending.state,
                code_verifier=pending.code_verifier,
                **({"nonce": pending.nonce} if self.provider.kind == "oidc" else {}),
            )
        return url, pending

    def finish(self, code: str, pending: PendingLogin) -> Identity:
        """Exchange the code and establish who signed in."""
        metadata = self._metadata()
        try:
            with self._client() as client:
                token = client.fetch_token(
                    metadata["token_endpoint"], code=code, code_verifier=pending.code_verifier
                )
        except httpx.HTTPError as exc:
            raise ServiceUnavailableError("the sign-in provider did not answer") from exc
        except Exception as exc:  # Authlib's OAuthError and friends: a refused code
            raise AuthenticationError("the sign-in provider refused the code") from exc
        if self.provider.kind == "github":
            return self._github_identity(str(token.get("access_token", "")))
        return self._oidc_identity(metadata, str(token.get("id_token", "")), pending.nonce)

    def _oidc_identity(self, metadata: dict[str, Any], id_token: str, nonce: str) -> Identity:
        try:
            header = jwt.get_unverified_header(id_token)
            keys = jwt.PyJWKSet.from_dict(_get_json(str(metadata["jwks_uri"])))
            key = next(k for k in keys.keys if k.key_id == header.get("kid"))
            claims = jwt.decode(
                id_token,
                key.key,
                algorithms=ID_TOKEN_ALGORITHMS,
                audience=self.provider.client_id,
                issuer=str(metadata["issuer"]),
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, StopIteration, KeyError) as exc:
            raise AuthenticationError("the ID token is not valid") from exc
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise AuthenticationError("the ID token does not answer this sign-in")
        if not claims.get("email") or claims.get("email_verified") is not True:
            raise AuthenticationError("the provider did not vouch for an email address")
        return Identity(
            provider=self.provider.name,
            subject=str(claims["sub"]),
            email=str(claims["email"]).lower(),
            name=str(claims.get("name", "")),
        )

    def _github_identity(self, access_token: str) -> Identity:
        if not access_token:
            raise AuthenticationError("the sign-in provider refused the code")
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        user = _get_json(f"{self.provider.api_url}/user", headers=headers)
        emails = _get_json(f"{self.provider.api_url}/user/emails", headers=headers)
        verified = [
            e for e in emails if isinstance(e, dict) and e.get("verified") and e.get("email")
        ]
        verified.sort(key=lambda e: not e.get("primary"))
        if not verified:
            raise AuthenticationError("the GitHub account has no verified email address")
        return Identity(
            provider="github",
            subject=str(user.get("id", "")),
            email=str(verified[0]["email"]).lower(),
            name=str(user.get("name") or user.get("login") or ""),
        )


PENDING_TTL_S = 600


def encode_pending(pending: PendingLogin, secret: str) -> str:
    """The pending sign-in as a signed, short-lived token (kept in a cookie)."""
    now = int(time.time())
    claims = {
        "typ": "oauth_pending",
        "aud": "terrascan",
        "iat": now,
        "exp": now + PENDING_TTL_S,
        "prv": pending.provider,
        "state": pending.state,
        "nonce": pending.nonce,
        "cv": pending.code_verifier,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def decode_pending(token: str, secret: str) -> PendingLogin:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience="terrascan",
            options={"require": ["exp", "iat", "typ", "aud"]},
        )
        if claims["typ"] != "oauth_pending":
            raise AuthenticationError("not a pending sign-in")
        return PendingLogin(
            provider=str(claims["prv"]),
            state=str(claims["state"]),
            nonce=str(claims["nonce"]),
            code_verifier=str(claims["cv"]),
        )
    except (jwt.PyJWTError, KeyError) as exc:
        raise AuthenticationError("the sign-in has expired; start again") from exc
