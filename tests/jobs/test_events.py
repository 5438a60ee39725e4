"""Progress events: in memory (embedded) and over Redis pub/sub (production)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from terrascan.jobs.events import EventBus, JobEvent, MemoryEventBus, RedisEventBus, make_event


def publish_later(bus: EventBus, job_id: uuid.UUID, delay: float = 0.1) -> threading.Thread:
    def publish() -> None:
        time.sleep(delay)
        bus.publish(uuid.uuid4(), make_event(job_id, kind="status", status="running"))  # other job
        for pct in (10.0, 60.0):
            bus.publish(
                job_id, make_event(job_id, kind="progress", status="running", progress_pct=pct)
            )
        bus.publish(job_id, make_event(job_id, kind="status", status="completed"))

    thread = threading.Thread(target=publish)
    thread.start()
    return thread


def check_stream(events: list[JobEvent], job_id: uuid.UUID) -> None:
    assert [(e["kind"], e["progress_pct"]) for e in events] == [
        ("progress", 10.0),
        ("progress", 60.0),
        ("status", None),
    ]
    assert {e["job_id"] for e in events} == {str(job_id)}
    assert events[-1]["status"] == "completed"


def test_memory_bus_streams_until_a_terminal_status() -> None:
    bus, job_id = MemoryEventBus(), uuid.uuid4()
    with bus.subscribe(job_id) as subscription:
        thread = publish_later(bus, job_id)
        check_stream(list(subscription), job_id)
    thread.join()
    assert subscription.get(timeout=0) is None  # closed: nothing more arrives
    bus.publish(job_id, make_event(job_id, kind="status", status="running"))  # no subscribers


def test_memory_bus_async_iteration() -> None:
    bus, job_id = MemoryEventBus(), uuid.uuid4()

    async def collect() -> list[JobEvent]:
        with bus.subscribe(job_id) as subscription:
            thread = publish_later(bus, job_id)
            events = [event async for event in subscription]
            thread.join()
            return events

    check_stream(asyncio.run(collect()), job_id)


@pytest.mark.redis
def test_redis_bus_streams_across_connections(redis_url: str) -> None:
    publisher, subscriber, job_id = RedisEventBus(redis_url), RedisEventBus(redis_url), uuid.uuid4()
    try:
        with subscriber.subscribe(job_id) as subscription:
            thread = publish_later(publisher, job_id, delay=0.3)
            check_stream(list(subscription), job_id)
            thread.join()
    finally:
        publisher.close()
        subscriber.close()


def test_redis_bus_never_fails_a_publisher() -> None:
    bus = RedisEventBus("redis://127.0.0.1:1/0")  # nothing listens there
    bus.publish(uuid.uuid4(), make_event(uuid.uuid4(), kind="status", status="running"))
    bus.close()


def test_worker_command_needs_a_broker(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TERRASCAN_")}
    result = subprocess.run(
        [sys.executable, "-m", "terrascan.cli", "worker"],
        env={**env, "TERRASCAN_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "TERRASCAN_BROKER_URL" in result.stderr
    assert "Traceback" not in result.stderr
