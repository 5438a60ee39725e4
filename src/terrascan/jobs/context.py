"""What a runner gets besides its spec: progress, cancellation, storage, catalog, output keys.

A runner is a plain function ``run(spec, ctx) -> dict``. It writes its outputs under keys from
``ctx.output(name)``, which live under ``jobs/<job id>/attempt-<n>/``: every attempt writes to
its own prefix, the catalog records the winning attempt's key in the same statement that marks
the job completed, and the other attempts' objects are removed as orphans. A test calls a runner
with :meth:`JobContext.local`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from terrascan.errors import TerraScanError

if TYPE_CHECKING:
    from terrascan.catalog.database import Catalog
    from terrascan.io.storage import ObjectStore

JOBS_PREFIX = "jobs"
#: Where the parts of a split job write, under the attempt's prefix.
PARTS_DIR = "parts/"
ProgressFn = Callable[[float, str], None]


class JobStopped(TerraScanError):
    """Raised by ``check_cancelled()``: the job was cancelled, another attempt took it over,
    or the worker is shutting down. Runners let it propagate."""

    title = "Job stopped"

    def __init__(self, reason: str) -> None:
        super().__init__(f"job stopped: {reason}")
        self.reason = reason


class TransientJobError(TerraScanError):
    """Raised by a runner for a failure worth another attempt (a flaky upstream, ...)."""

    title = "Transient job error"


def job_prefix(job_id: uuid.UUID) -> str:
    return f"{JOBS_PREFIX}/{job_id}/"


def attempt_prefix(job_id: uuid.UUID, attempt: int) -> str:
    return f"{JOBS_PREFIX}/{job_id}/attempt-{attempt}/"


@dataclass
class JobContext:
    """One attempt of one job, as its runner sees it."""

    job_id: uuid.UUID
    org_id: uuid.UUID
    attempt: int
    store: ObjectStore
    #: The catalog, for runners that read inputs from it (``None`` in a bare local call).
    catalog: Catalog | None = None
    on_progress: ProgressFn | None = None
    #: Set when the attempt must stop; ``stop_reason`` says why.
    stop: threading.Event = field(default_factory=threading.Event)
    stop_reason: str = "cancelled"
    #: Runs parts ``0..count-1`` of this job (across workers when the executor can).
    parts_runner: Callable[[JobContext, int], None] | None = None
    #: The part this context runs, when it runs one part of a split job.
    part_index: int | None = None
    outputs: list[str] = field(default_factory=list)
    primary_output: str | None = None

    @classmethod
    def local(
        cls,
        store: ObjectStore,
        *,
        job_id: uuid.UUID | None = None,
        org_id: uuid.UUID | None = None,
        attempt: int = 1,
        catalog: Catalog | None = None,
        on_progress: ProgressFn | None = None,
    ) -> JobContext:
        """A context for calling a runner directly (tests, the command line)."""
        return cls(
            job_id=job_id or uuid.uuid4(),
            org_id=org_id or uuid.uuid4(),
            attempt=attempt,
            store=store,
            catalog=catalog,
            on_progress=on_progress,
        )

    @property
    def prefix(self) -> str:
        """``jobs/<job id>/attempt-<n>/``: where this attempt writes."""
        return attempt_prefix(self.job_id, self.attempt)

    def output(self, name: str, *, primary: bool = False) -> str:
        """The key for output ``name`` of this attempt. The first output (or the one marked
        ``primary``) becomes the job's ``result_key``."""
        key = self.prefix + name
        self.outputs.append(key)
        if primary or self.primary_output is None:
            self.primary_output = key
        return key

    def part_key(self, index: int, name: str) -> str:
        """The key for output ``name`` of part ``index`` (read back by the merge step)."""
        return f"{self.prefix}{PARTS_DIR}{index:05d}/{name}"

    def progress(self, pct: float, message: str = "") -> None:
        """Report progress (0 to 100) and a short message; cheap enough to call per block."""
        if self.on_progress is not None:
            self.on_progress(max(0.0, min(100.0, float(pct))), message)

    def check_cancelled(self) -> None:
        """Raise :class:`JobStopped` if the job was cancelled or this attempt lost it. Call it
        between blocks: the executor sets the flag within one heartbeat interval."""
        if self.stop.is_set():
            raise JobStopped(self.stop_reason)

    def request_stop(self, reason: str) -> None:
        self.stop_reason = reason
        self.stop.set()

    def run_parts(self, count: int) -> None:
        """Run parts ``0..count-1`` of this job's part function and return when all are done.

        Under Celery the parts are fanned out to every worker (a group) while this attempt
        works through them too; elsewhere they run here, one after the other.
        """
        if self.parts_runner is None:
            raise TerraScanError("this context cannot run parts (no part function registered)")
        self.parts_runner(self, count)
