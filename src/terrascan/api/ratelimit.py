"""Sliding-window rate limits for the authentication routes.

One small interface, two stores: an in-process one (the embedded mode, one API process) and a
Redis one shared by every API replica. A limit counts the attempts made in the last
``window_s`` seconds; an attempt over the limit is refused (not counted) and told how long to
wait until the oldest counted attempt leaves the window.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from terrascan.errors import ConfigurationError, RateLimitedError, ServiceUnavailableError
from terrascan.settings import Settings


class RateLimiter(Protocol):
    def hit(self, key: str, *, limit: int, window_s: float) -> float:
        """Count one attempt under ``key``. Returns 0 when allowed, else the seconds to wait."""
        ...


class MemoryRateLimiter:
    """A sliding log per key, in this process's memory."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self._clock = clock
        self._max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, *, limit: int, window_s: float) -> float:
        now = self._clock()
        with self._lock:
            log = self._hits.get(key)
            if log is None:
                if len(self._hits) >= self._max_keys:
                    self._evict(now, window_s)
                log = self._hits[key] = deque()
            while log and log[0] <= now - window_s:
                log.popleft()
            if len(log) >= limit:
                return log[0] + window_s - now
            log.append(now)
            return 0.0

    def _evict(self, now: float, window_s: float) -> None:
        """Forget keys with nothing in the window, so a flood of new keys cannot grow memory."""
        stale = [k for k, log in self._hits.items() if not log or log[-1] <= now - window_s]
        for key in stale:
            del self._hits[key]
        if len(self._hits) >= self._max_keys:  # still full: drop the oldest half
            for key in list(self._hits)[: self._max_keys // 2]:
                del self._hits[key]


# KEYS[1]: the sorted set; ARGV: now (ms), window (ms), limit, member.
_REDIS_SCRIPT = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) + window - now
end
redis.call('ZADD', key, now, ARGV[4])
redis.call('PEXPIRE', key, window)
return 0
"""


class RedisRateLimiter:
    """A sliding log per key in a Redis sorted set, updated atomically by one Lua script."""

    def __init__(self, client: Any, prefix: str = "terrascan:ratelimit:") -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_REDIS_SCRIPT)

    @classmethod
    def from_url(cls, url: str) -> RedisRateLimiter:
        try:
            import redis
        except ImportError as exc:
            raise ConfigurationError("a Redis rate-limit store needs the redis package") from exc
        return cls(redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2))

    def hit(self, key: str, *, limit: int, window_s: float) -> float:
        now_ms = int(time.time() * 1000)
        try:
            wait_ms = self._script(
                keys=[self._prefix + key],
                args=[now_ms, int(window_s * 1000), limit, f"{now_ms}-{uuid.uuid4().hex}"],
            )
        except Exception as exc:
            raise ServiceUnavailableError("rate-limit store unreachable") from exc
        return max(0.0, int(wait_ms) / 1000)


def make_rate_limiter(settings: Settings) -> RateLimiter:
    url = settings.rate_limit_url
    if not url:
        return MemoryRateLimiter()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisRateLimiter.from_url(url)
    raise ConfigurationError("TERRASCAN_RATE_LIMIT_URL must be empty or a redis:// URL")


def enforce(limiter: RateLimiter, keys: dict[str, int], *, window_s: float) -> None:
    """Count an attempt under each key (``{key: limit}``); refuse with 429 if any is over."""
    waits = [limiter.hit(key, limit=limit, window_s=window_s) for key, limit in keys.items()]
    wait = max(waits, default=0.0)
    if wait > 0:
        raise RateLimitedError("too many attempts, try again later", retry_after=math.ceil(wait))
