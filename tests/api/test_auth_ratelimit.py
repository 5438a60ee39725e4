"""Rate limits on login, register and refresh (SECURITY.md row A5), in memory and in Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from terrascan.api.app import create_app
from terrascan.api.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from tests.api._accounts import PASSWORD, account_settings, signup


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_memory_window_slides() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    allowed = []
    for step in (0, 2, 1):  # attempts at t = 1000, 1002, 1003
        clock.now += step
        allowed.append(limiter.hit("k", limit=3, window_s=10))
    assert allowed == [0, 0, 0]
    clock.now = 1004
    assert limiter.hit("k", limit=3, window_s=10) == pytest.approx(6.0)  # t=1000 leaves at 1010
    assert limiter.hit("other", limit=3, window_s=10) == 0  # keys are independent
    clock.now = 1010
    assert limiter.hit("k", limit=3, window_s=10) == 0  # t=1000 has left the window
    # Full again (1002, 1003, 1010); the refused attempt at 1004 was not counted.
    assert limiter.hit("k", limit=3, window_s=10) == pytest.approx(2.0)


def test_memory_limiter_forgets_idle_keys() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock, max_keys=10)
    for i in range(10):
        limiter.hit(f"k{i}", limit=1, window_s=5)
    clock.now += 6
    limiter.hit("new", limit=1, window_s=5)
    assert len(limiter._hits) == 1


@pytest.fixture
def redis_limiter(redis_url: str) -> Iterator[RedisRateLimiter]:
    limiter = RedisRateLimiter.from_url(redis_url)
    limiter._prefix = f"terrascan-test:{uuid.uuid4().hex}:"
    yield limiter
    client = limiter._client
    for key in client.scan_iter(match=limiter._prefix + "*"):
        client.delete(key)
    client.close()


@pytest.mark.redis
def test_redis_window(redis_limiter: RedisRateLimiter) -> None:
    assert [redis_limiter.hit("k", limit=2, window_s=30) for _ in range(2)] == [0, 0]
    wait = redis_limiter.hit("k", limit=2, window_s=30)
    assert 29 < wait <= 30
    assert redis_limiter.hit("other", limit=2, window_s=30) == 0
    # A short window really expires.
    assert redis_limiter.hit("short", limit=1, window_s=0.2) == 0
    assert redis_limiter.hit("short", limit=1, window_s=0.2) > 0
    import time

    time.sleep(0.25)
    assert redis_limiter.hit("short", limit=1, window_s=0.2) == 0


def _app_client(tmp_path: Path, **overrides: object) -> TestClient:
    limits: dict[str, object] = {"auth_rate_limit_per_account": 3, "auth_rate_limit_per_ip": 6}
    settings = account_settings(tmp_path, **{**limits, **overrides})
    return TestClient(create_app(settings))


def _assert_429(response: object, window: int = 60) -> None:
    assert response.status_code == 429  # type: ignore[attr-defined]
    retry = int(response.headers["retry-after"])  # type: ignore[attr-defined]
    assert 1 <= retry <= window
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]


def _stuffing(client: TestClient) -> None:
    client.post("/api/v1/auth/register", json={"email": "target@example.org", "password": PASSWORD})
    login = {"email": "target@example.org", "password": "guess guess"}
    assert [client.post("/api/v1/auth/login", json=login).status_code for _ in range(3)] == [
        401
    ] * 3
    _assert_429(client.post("/api/v1/auth/login", json=login))
    # The account stays locked for the window, even for the right password ...
    _assert_429(client.post("/api/v1/auth/login", json={**login, "password": PASSWORD}))
    # Every attempt counts against the address (limit 6): five so far, so one more account may
    # be tried, and the next is refused although that account has never been tried.
    first = {"email": "other1@example.org", "password": "guess guess"}
    assert client.post("/api/v1/auth/login", json=first).status_code == 401
    _assert_429(client.post("/api/v1/auth/login", json={**first, "email": "other2@example.org"}))


def test_login_is_limited_per_account_and_per_ip(tmp_path: Path) -> None:
    with _app_client(tmp_path) as client:
        _stuffing(client)


@pytest.mark.redis
def test_login_limits_shared_through_redis(tmp_path: Path, redis_url: str) -> None:
    client = _app_client(tmp_path, rate_limit_url=redis_url)
    limiter: RateLimiter = client.app.state.rate_limiter  # type: ignore[attr-defined]
    assert isinstance(limiter, RedisRateLimiter)
    limiter._prefix = f"terrascan-test:{uuid.uuid4().hex}:"
    with client:
        _stuffing(client)
    # A second replica (another app on the same Redis) sees the same counts.
    replica = _app_client(tmp_path / "replica", rate_limit_url=redis_url)
    replica.app.state.rate_limiter._prefix = limiter._prefix  # type: ignore[attr-defined]
    with replica:
        login = {"email": "target@example.org", "password": PASSWORD}
        _assert_429(replica.post("/api/v1/auth/login", json=login))
    for key in limiter._client.scan_iter(match=limiter._prefix + "*"):
        limiter._client.delete(key)


def test_refresh_and_register_are_limited(tmp_path: Path) -> None:
    with _app_client(tmp_path) as client:
        stolen = {"refresh_token": "guessed-" + "a" * 40}
        assert [client.post("/api/v1/auth/refresh", json=stolen).status_code for _ in range(3)] == [
            401
        ] * 3
        _assert_429(client.post("/api/v1/auth/refresh", json=stolen))
        # Different guesses from one address hit the per-IP limit (6; four attempts so far).
        codes = [
            client.post("/api/v1/auth/refresh", json={"refresh_token": f"guess-{i}"}).status_code
            for i in range(3)
        ]
        assert codes == [401, 401, 429]

        statuses = [
            client.post(
                "/api/v1/auth/register", json={"email": f"bot{i}@example.org", "password": PASSWORD}
            ).status_code
            for i in range(7)
        ]
        assert statuses == [201] * 6 + [429]


def test_limits_do_not_touch_other_routes(tmp_path: Path) -> None:
    with _app_client(tmp_path, auth_rate_limit_per_ip=2, auth_rate_limit_per_account=2) as client:
        account = signup(client, "calm@example.org")
        for _ in range(5):
            assert client.get("/api/v1/users/me", headers=account.headers).status_code == 200
