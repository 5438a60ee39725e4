"""How jobs behave: attempts, liveness, fairness and back-off, read once from settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from terrascan.errors import ConfigurationError

if TYPE_CHECKING:
    from terrascan.io.storage import ObjectStore
    from terrascan.settings import Settings


@dataclass(frozen=True, slots=True)
class JobConfig:
    """The knobs of the job system (``TERRASCAN_JOB_*`` settings; see ``from_settings``).

    A running attempt writes a heartbeat every ``heartbeat_interval_s``; one that has not written
    for ``heartbeat_timeout_s`` is considered dead and the reconciler requeues it (or fails it
    once ``max_attempts`` are used up). A queued job that no worker has claimed for
    ``requeue_after_s`` is enqueued again (its broker message may have been lost).
    ``org_concurrency`` caps the running jobs of one organisation (0: no cap).
    """

    pool_size: int = 2
    max_attempts: int = 3
    heartbeat_interval_s: float = 2.0
    heartbeat_timeout_s: float = 30.0
    requeue_after_s: float = 300.0
    reconcile_interval_s: float = 10.0
    visibility_timeout_s: int = 43200
    org_concurrency: int = 4
    retry_backoff_s: float = 1.0
    retry_backoff_max_s: float = 60.0
    #: How long a catalog operation is retried (with back-off) through a database outage.
    db_retry_budget_s: float = 30.0
    #: How often a job waiting for its parts looks at them.
    part_poll_s: float = 0.1

    def __post_init__(self) -> None:
        if self.heartbeat_timeout_s < 3 * self.heartbeat_interval_s:
            raise ConfigurationError(
                "the job heartbeat timeout must be at least 3 heartbeat intervals "
                f"({self.heartbeat_timeout_s} s < 3 x {self.heartbeat_interval_s} s)"
            )
        if self.pool_size < 1 or self.max_attempts < 1 or self.org_concurrency < 0:
            raise ConfigurationError("job pool size and attempts must be positive")

    @classmethod
    def from_settings(cls, settings: Settings) -> JobConfig:
        return cls(
            pool_size=settings.worker_pool_size,
            max_attempts=settings.job_max_attempts,
            heartbeat_interval_s=settings.job_heartbeat_interval_s,
            heartbeat_timeout_s=settings.job_heartbeat_timeout_s,
            requeue_after_s=settings.job_requeue_after_s,
            reconcile_interval_s=settings.job_reconcile_interval_s,
            visibility_timeout_s=settings.job_visibility_timeout_s,
            org_concurrency=settings.job_org_concurrency,
            retry_backoff_s=settings.job_retry_backoff_s,
            retry_backoff_max_s=settings.job_retry_backoff_max_s,
        )

    @property
    def part_lease_s(self) -> float:
        """How long a claimed part stays claimed without a refresh (a dead worker's expires)."""
        return self.heartbeat_timeout_s

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1``: exponential, capped."""
        return float(min(self.retry_backoff_max_s, self.retry_backoff_s * 2 ** max(0, attempt - 1)))


def store_from_settings(settings: Settings) -> ObjectStore:
    """The object store the settings name (a worker builds its own, like the API does)."""
    from terrascan.io.storage import open_store

    url = settings.resolved_storage_url
    if url.startswith("s3://"):
        return open_store(url, **settings.s3_options())
    return open_store(url)
