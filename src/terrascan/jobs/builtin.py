"""TerraScan's built-in job types.

``diagnostic.*`` types exist to test and measure the job machinery itself; they are registered
as diagnostic, so the API refuses them (``JobSystem.submit(..., allow_diagnostic=True)`` only):

- ``diagnostic.noop``: returns at once (queue overhead benchmarks);
- ``diagnostic.sleep``: sleeps in steps, reporting progress and checking for cancellation, and
  writes one output object; it can kill its own worker process or raise on chosen attempts
  (fault-injection for the crash tests);
- ``diagnostic.synthetic-ndvi``: NDVI over a deterministic synthetic scene, split into row
  bands computed as parts (across workers under Celery) and merged into one array; the tests
  compare it with NDVI computed directly.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import time
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from terrascan.core.indices import ndvi
from terrascan.errors import InvalidInputError
from terrascan.jobs.context import JobContext, TransientJobError
from terrascan.jobs.fanout import Window, split_rows
from terrascan.jobs.registry import JobRegistry


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoopSpec(_Spec):
    pass


def run_noop(spec: NoopSpec, ctx: JobContext) -> dict[str, Any]:
    return {"ok": True}


class SleepSpec(_Spec):
    seconds: float = Field(default=0.0, ge=0, le=3600)
    steps: int = Field(default=10, ge=1, le=100_000)
    #: Attempts (1-based) on which the job SIGKILLs its own process halfway through.
    crash_on_attempts: list[int] = Field(default_factory=list)
    crash_always: bool = False
    #: Attempts on which the job raises a retryable error halfway through.
    fail_on_attempts: list[int] = Field(default_factory=list)
    #: Raise a permanent (non-retryable) error halfway through.
    fail_permanently: bool = False
    write_output: bool = True


def run_sleep(spec: SleepSpec, ctx: JobContext) -> dict[str, Any]:
    """Sleep ``seconds`` in ``steps``; fault hooks fire after the first half."""
    where = {"pid": os.getpid(), "host": socket.gethostname(), "attempt": ctx.attempt}
    place = f"(pid {where['pid']})"
    ctx.progress(0.0, f"started {place}")
    output = ctx.output("result.json") if spec.write_output else None
    for step in range(spec.steps):
        ctx.check_cancelled()
        time.sleep(spec.seconds / spec.steps)
        if step == spec.steps // 2:
            if output is not None:  # a partial output, as a crash would leave it
                ctx.store.put(output, b'{"partial": true}')
            _inject_faults(spec, ctx)
        ctx.progress(100.0 * (step + 1) / spec.steps, f"step {step + 1}/{spec.steps} {place}")
    if output is not None:
        ctx.store.put(output, f'{{"attempt": {ctx.attempt}, "pid": {where["pid"]}}}'.encode())
    return {"slept_s": spec.seconds, **where}


def _inject_faults(spec: SleepSpec, ctx: JobContext) -> None:
    if spec.crash_always or ctx.attempt in spec.crash_on_attempts:
        os.kill(os.getpid(), signal.SIGKILL)
    if spec.fail_permanently:
        raise InvalidInputError("diagnostic job asked to fail")
    if ctx.attempt in spec.fail_on_attempts:
        raise TransientJobError(f"diagnostic failure on attempt {ctx.attempt}")


class SyntheticNdviSpec(_Spec):
    height: int = Field(default=1024, ge=1, le=50_000)
    width: int = Field(default=1024, ge=1, le=50_000)
    parts: int = Field(default=4, ge=1, le=1024)
    #: Part edges fall on multiples of this many rows (a COG's internal tile height).
    align: int = Field(default=256, ge=1)
    seed: int = 0
    #: Extra seconds each part takes (to watch parts spread over workers).
    part_seconds: float = Field(default=0.0, ge=0, le=60)


def synthetic_bands(window: Window, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Red and NIR reflectance (uint16) of the synthetic scene inside ``window``."""
    rows = np.arange(window.row_off, window.row_off + window.height, dtype=np.int64)[:, None]
    cols = np.arange(window.col_off, window.col_off + window.width, dtype=np.int64)[None, :]
    red = ((rows * 7 + cols * 13 + seed) % 4000 + 100).astype(np.uint16)
    nir = ((rows * 11 + cols * 3 + 2 * seed) % 6000 + 200).astype(np.uint16)
    return red, nir


def synthetic_plan(spec: SyntheticNdviSpec) -> list[Window]:
    return split_rows(spec.height, spec.width, spec.parts, align=spec.align)


def synthetic_ndvi_part(spec: SyntheticNdviSpec, index: int, ctx: JobContext) -> None:
    window = synthetic_plan(spec)[index]
    time.sleep(spec.part_seconds)
    red, nir = synthetic_bands(window, spec.seed)
    buffer = io.BytesIO()
    np.save(buffer, ndvi(nir, red), allow_pickle=False)
    ctx.store.put(ctx.part_key(index, "ndvi.npy"), buffer.getvalue())


def run_synthetic_ndvi(spec: SyntheticNdviSpec, ctx: JobContext) -> dict[str, Any]:
    windows = synthetic_plan(spec)
    ctx.run_parts(len(windows))
    merged = np.empty((spec.height, spec.width), dtype=np.float32)
    total, count = 0.0, 0
    for index, window in enumerate(windows):
        ctx.check_cancelled()
        part = np.load(io.BytesIO(ctx.store.get(ctx.part_key(index, "ndvi.npy"))))
        merged[window.slices] = part
        valid = part[~np.isnan(part)]
        total, count = total + float(valid.sum(dtype=np.float64)), count + valid.size
    ctx.progress(95.0, "merging")
    buffer = io.BytesIO()
    np.save(buffer, merged, allow_pickle=False)
    buffer.seek(0)
    key = ctx.output("ndvi.npy")
    ctx.store.put(key, buffer)
    mean = total / count if count else None
    return {"parts": len(windows), "mean": mean, "shape": list(merged.shape)}


def register(registry: JobRegistry) -> None:
    registry.register("diagnostic.noop", NoopSpec, run_noop, diagnostic=True)
    registry.register("diagnostic.sleep", SleepSpec, run_sleep, diagnostic=True)
    registry.register(
        "diagnostic.synthetic-ndvi",
        SyntheticNdviSpec,
        run_synthetic_ndvi,
        part=synthetic_ndvi_part,
        diagnostic=True,
    )
