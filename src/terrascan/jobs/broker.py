"""The message broker used by the Celery executor (Redis or RabbitMQ)."""

from __future__ import annotations

from typing import Any

from terrascan.errors import ConfigurationError, ServiceUnavailableError

CONNECT_TIMEOUT_S = 3


def check_broker(url: str) -> None:
    """Raise ServiceUnavailableError unless the broker at ``url`` answers.

    An empty URL means the embedded in-process executor, which is always available.
    """
    if not url:
        return
    try:
        import kombu
    except ImportError as exc:
        raise ConfigurationError("a broker URL needs the celery extra") from exc
    connection: Any = getattr(kombu, "Connection")  # noqa: B009 (not exported for mypy)
    try:
        with connection(url, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            conn.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:
        raise ServiceUnavailableError("broker unreachable") from exc
