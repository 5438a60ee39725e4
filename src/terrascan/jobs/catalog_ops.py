"""Catalog operations for the job machinery, retried with back-off through database outages.

Every job transition is one short transaction, so retrying one after a dropped connection
either repeats a statement that never ran or finds that it did (the guards make the second
run a no-op); no half-written row can result.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from terrascan.catalog.database import Catalog
from terrascan.catalog.jobs import JobRepository
from terrascan.errors import ServiceUnavailableError

log = logging.getLogger(__name__)
T = TypeVar("T")
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def is_transient_db_error(exc: BaseException) -> bool:
    """A lost connection, a restarting server, a locked SQLite file: worth another try."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def with_jobs(
    catalog: Catalog,
    operation: Callable[[JobRepository], T],
    *,
    budget_s: float = 30.0,
    first_delay_s: float = 0.1,
    max_delay_s: float = 5.0,
) -> T:
    """Run ``operation`` in one transaction; on a transient database error, retry with
    exponential back-off (and jitter) for up to ``budget_s`` seconds, then raise
    :class:`ServiceUnavailableError`."""
    deadline = time.monotonic() + budget_s
    delay = first_delay_s
    tries = 0
    while True:
        tries += 1
        try:
            with catalog.session() as session:
                return operation(JobRepository(session))
        except Exception as exc:
            if not is_transient_db_error(exc):
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise ServiceUnavailableError("catalog database unavailable") from exc
            log.warning("catalog unavailable (try %d), retrying: %s", tries, exc.__class__.__name__)
            time.sleep(min(left, delay * (0.5 + random.random())))
            delay = min(max_delay_s, delay * 2)
