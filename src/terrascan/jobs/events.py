"""Progress events: what the API's SSE/WebSocket streams relay to a browser.

One small interface, two transports: :class:`MemoryEventBus` when embedded (jobs run in the API
process) and :class:`RedisEventBus` (Redis pub/sub) in production, where workers publish and API
replicas subscribe. Events are hints for live display; the catalog remains the record. A
subscriber should subscribe first, then read the job from the catalog, then stream, so that it
misses nothing between the two::

    with jobs.events.subscribe(job_id) as events:
        job = jobs.get(job_id, org_id=org)          # current state, sent first
        async for event in events:                  # ends after a terminal status
            yield event

An event is a JSON object: ``{"job_id", "kind": "status" | "progress", "status",
"progress_pct", "message", "attempt", "ts"}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, Protocol, Self

from terrascan.catalog.models import JobStatus

log = logging.getLogger(__name__)

JobEvent = dict[str, Any]
TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
CHANNEL_PREFIX = "terrascan:jobs:"


def make_event(
    job_id: uuid.UUID,
    *,
    kind: str,
    status: str,
    progress_pct: float | None = None,
    message: str = "",
    attempt: int | None = None,
) -> JobEvent:
    return {
        "job_id": str(job_id),
        "kind": kind,
        "status": str(status),
        "progress_pct": progress_pct,
        "message": message,
        "attempt": attempt,
        "ts": time.time(),
    }


def is_terminal(event: Mapping[str, Any]) -> bool:
    return event.get("kind") == "status" and event.get("status") in TERMINAL_STATUSES


class Subscription:
    """Events of one job, as they arrive. Iterating stops after a terminal status event."""

    def get(self, timeout: float | None = None) -> JobEvent | None:
        """The next event, or None after ``timeout`` seconds without one."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop receiving events."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[JobEvent]:
        while True:
            event = self.get(timeout=1.0)
            if event is None:
                continue
            yield event
            if is_terminal(event):
                return

    async def __aiter__(self) -> AsyncIterator[JobEvent]:
        while True:
            event = await asyncio.to_thread(self.get, 0.5)
            if event is None:
                continue
            yield event
            if is_terminal(event):
                return


class EventBus(Protocol):
    def publish(self, job_id: uuid.UUID, event: JobEvent) -> None:
        """Send ``event`` to the job's current subscribers; never raises."""
        ...

    def subscribe(self, job_id: uuid.UUID) -> Subscription: ...

    def close(self) -> None: ...


class _QueueSubscription(Subscription):
    def __init__(self, bus: MemoryEventBus, job_id: uuid.UUID) -> None:
        self._bus, self._job_id = bus, job_id
        self.queue: queue.SimpleQueue[JobEvent] = queue.SimpleQueue()

    def get(self, timeout: float | None = None) -> JobEvent | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._bus._remove(self._job_id, self)


class MemoryEventBus:
    """In-process pub/sub for the embedded mode."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[uuid.UUID, list[_QueueSubscription]] = {}

    def publish(self, job_id: uuid.UUID, event: JobEvent) -> None:
        with self._lock:
            targets = list(self._subscribers.get(job_id, ()))
        for subscription in targets:
            subscription.queue.put(dict(event))

    def subscribe(self, job_id: uuid.UUID) -> Subscription:
        subscription = _QueueSubscription(self, job_id)
        with self._lock:
            self._subscribers.setdefault(job_id, []).append(subscription)
        return subscription

    def _remove(self, job_id: uuid.UUID, subscription: _QueueSubscription) -> None:
        with self._lock:
            subscribers = self._subscribers.get(job_id, [])
            if subscription in subscribers:
                subscribers.remove(subscription)
            if not subscribers:
                self._subscribers.pop(job_id, None)

    def close(self) -> None:
        with self._lock:
            self._subscribers.clear()


class _RedisSubscription(Subscription):
    def __init__(self, pubsub: Any, channel: str) -> None:
        self._pubsub = pubsub
        pubsub.subscribe(channel)

    def get(self, timeout: float | None = None) -> JobEvent | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            message = self._pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
            if message is not None and message.get("type") == "message":
                event: JobEvent = json.loads(message["data"])
                return event
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def close(self) -> None:
        self._pubsub.close()


class RedisEventBus:
    """Redis pub/sub, one channel per job (``terrascan:jobs:<id>``)."""

    def __init__(self, url: str) -> None:
        import redis

        self._client: Any = redis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=10
        )

    def publish(self, job_id: uuid.UUID, event: JobEvent) -> None:
        try:
            self._client.publish(CHANNEL_PREFIX + str(job_id), json.dumps(event))
        except Exception as exc:  # a lost progress event must never fail a job
            log.debug("cannot publish job event: %s", exc)

    def subscribe(self, job_id: uuid.UUID) -> Subscription:
        return _RedisSubscription(self._client.pubsub(), CHANNEL_PREFIX + str(job_id))

    def close(self) -> None:
        self._client.close()
