"""Removing the outputs of attempts that did not win: a job keeps one result and no orphans."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime

from terrascan.catalog.database import Catalog
from terrascan.catalog.models import JobStatus
from terrascan.io.storage import ObjectStore
from terrascan.jobs.catalog_ops import with_jobs
from terrascan.jobs.context import JOBS_PREFIX, PARTS_DIR, attempt_prefix, job_prefix

log = logging.getLogger(__name__)
_ATTEMPT_KEY = re.compile(rf"^{JOBS_PREFIX}/([0-9a-f-]{{36}})/attempt-(\d+)/({PARTS_DIR})?")


def delete_prefix(store: ObjectStore, prefix: str) -> int:
    """Delete every object under ``prefix``; returns how many."""
    infos = store.list(prefix)
    for info in infos:
        store.delete(info.key)
    return len(infos)


def remove_other_attempts(store: ObjectStore, job_id: uuid.UUID, keep_attempt: int) -> int:
    """After ``keep_attempt`` committed: delete what every other attempt of the job wrote."""
    keep = attempt_prefix(job_id, keep_attempt)
    removed = 0
    for info in store.list(job_prefix(job_id)):
        if not info.key.startswith(keep):
            store.delete(info.key)
            removed += 1
    return removed


def remove_job_outputs(store: ObjectStore, job_id: uuid.UUID) -> int:
    """Delete every output of a job that failed or was cancelled."""
    return delete_prefix(store, job_prefix(job_id))


def remove_orphans(catalog: Catalog, store: ObjectStore, *, older_than: datetime) -> int:
    """Sweep ``jobs/``: delete objects (last written before ``older_than``) that belong to no
    winning attempt: outputs of jobs that are gone, failed or cancelled, of attempts that lost
    a completed job, of earlier attempts of a job that is queued or running again, and parts
    of completed jobs (merged into their result)."""
    found: dict[uuid.UUID, list[tuple[str, int, bool]]] = {}
    for info in store.list(f"{JOBS_PREFIX}/"):
        match = _ATTEMPT_KEY.match(info.key)
        if match is None or info.modified >= older_than:
            continue
        found.setdefault(uuid.UUID(match[1]), []).append((info.key, int(match[2]), bool(match[3])))
    if not found:
        return 0
    states = with_jobs(catalog, lambda jobs: jobs.states(list(found)))
    removed = 0
    for job_id, keys in found.items():
        status, attempts = states.get(job_id, ("", 0))
        for key, attempt, part in keys:
            if _is_orphan(status, attempts, attempt, part=part):
                store.delete(key)
                removed += 1
    if removed:
        log.info("removed %d orphaned job outputs", removed)
    return removed


def _is_orphan(status: str, attempts: int, attempt: int, *, part: bool) -> bool:
    if status == JobStatus.COMPLETED:  # parts were merged into the result
        return attempt != attempts or part
    if status == JobStatus.RUNNING:
        return attempt < attempts
    return status != JobStatus.PENDING
