"""Scale-out: one job split into parts that every available worker helps to compute.

A split job's runner plans its parts deterministically (:func:`split_rows` cuts a raster into
row bands aligned to its tiles), calls ``ctx.run_parts(n)`` and merges the parts' outputs into
one result. Under Celery, ``run_parts`` sends the parts out as a group of tasks (each message
carries the job id, the attempt and the part index) and the attempt that owns the job works
through the parts as well, so the job finishes even when no other worker is free and never
waits on a dead one:

- a part is taken with a lease (:class:`PartLocks`: Redis ``SET NX PX`` under Celery, a dict in
  memory) that the worker's heartbeat keeps alive; a dead worker's lease expires and the part
  is taken again;
- a part is done when its marker object exists under the attempt's prefix, so parts of an
  attempt that lost the job are orphans, removed with the rest of that attempt's outputs.
"""

from __future__ import annotations

import itertools
import math
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

DONE_MARKER = "_done"


@dataclass(frozen=True, slots=True)
class Window:
    """A rectangle of a raster in pixel offsets (JSON-friendly, unlike rasterio's)."""

    row_off: int
    col_off: int
    height: int
    width: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return (
            slice(self.row_off, self.row_off + self.height),
            slice(self.col_off, self.col_off + self.width),
        )


def split_rows(height: int, width: int, parts: int, *, align: int = 1) -> list[Window]:
    """Cut a ``height`` x ``width`` raster into at most ``parts`` bands of whole rows.

    Band edges fall on multiples of ``align`` (the internal tile height, so that no tile is
    read by two parts); bands differ in height by at most one ``align`` step.
    """
    if height <= 0 or width <= 0 or parts <= 0 or align <= 0:
        raise ValueError("height, width, parts and align must be positive")
    steps = math.ceil(height / align)
    parts = min(parts, steps)
    edges = [round(i * steps / parts) * align for i in range(parts + 1)]
    edges[-1] = height
    return [
        Window(top, 0, bottom - top, width)
        for top, bottom in itertools.pairwise(edges)
        if bottom > top
    ]


class PartLocks(Protocol):
    """Leases on parts: at most one worker computes a part at a time."""

    def acquire(self, key: str, ttl_s: float) -> str | None:
        """A token if the lease was free (or expired), else None."""
        ...

    def refresh(self, key: str, token: str, ttl_s: float) -> bool: ...

    def release(self, key: str, token: str) -> None: ...


class MemoryPartLocks:
    """Leases for one process (the embedded executor)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._leases: dict[str, tuple[str, float]] = {}

    def acquire(self, key: str, ttl_s: float) -> str | None:
        now = time.monotonic()
        with self._lock:
            held = self._leases.get(key)
            if held is not None and held[1] > now:
                return None
            token = secrets.token_hex(8)
            self._leases[key] = (token, now + ttl_s)
            return token

    def refresh(self, key: str, token: str, ttl_s: float) -> bool:
        with self._lock:
            held = self._leases.get(key)
            if held is None or held[0] != token:
                return False
            self._leases[key] = (token, time.monotonic() + ttl_s)
            return True

    def release(self, key: str, token: str) -> None:
        with self._lock:
            if self._leases.get(key, ("", 0.0))[0] == token:
                del self._leases[key]


_REFRESH = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class RedisPartLocks:
    """Leases shared by every worker through Redis (``SET key token NX PX ttl``)."""

    def __init__(self, url: str, *, prefix: str = "terrascan:part:") -> None:
        import redis

        self._client: Any = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self._prefix = prefix
        self._refresh = self._client.register_script(_REFRESH)
        self._release = self._client.register_script(_RELEASE)

    def acquire(self, key: str, ttl_s: float) -> str | None:
        token = secrets.token_hex(8)
        ok = self._client.set(self._prefix + key, token, nx=True, px=int(ttl_s * 1000))
        return token if ok else None

    def refresh(self, key: str, token: str, ttl_s: float) -> bool:
        return bool(self._refresh(keys=[self._prefix + key], args=[token, int(ttl_s * 1000)]))

    def release(self, key: str, token: str) -> None:
        self._release(keys=[self._prefix + key], args=[token])
