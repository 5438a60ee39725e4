"""Runners are plain functions: called directly here, with no executor, catalog or broker."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest

from terrascan.errors import ConfigurationError, InvalidInputError
from terrascan.io.storage import LocalStore
from terrascan.jobs.builtin import SleepSpec, SyntheticNdviSpec, run_sleep
from terrascan.jobs.config import JobConfig
from terrascan.jobs.context import JobContext, JobStopped
from terrascan.jobs.fanout import MemoryPartLocks, split_rows
from terrascan.jobs.registry import default_registry
from terrascan.settings import Settings


def test_sleep_runner_reports_progress_and_writes_under_its_attempt(store: LocalStore) -> None:
    seen: list[tuple[float, str]] = []
    ctx = JobContext.local(store, attempt=2, on_progress=lambda pct, msg: seen.append((pct, msg)))
    summary = run_sleep(SleepSpec(seconds=0.05, steps=5), ctx)
    assert summary["attempt"] == 2
    assert ctx.primary_output == f"jobs/{ctx.job_id}/attempt-2/result.json"
    assert json.loads(store.get(ctx.primary_output))["attempt"] == 2
    assert [pct for pct, _ in seen] == [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]


def test_check_cancelled_stops_a_runner(store: LocalStore) -> None:
    ctx = JobContext.local(store)
    ctx.request_stop("cancelled")
    started = time.monotonic()
    with pytest.raises(JobStopped, match="cancelled"):
        run_sleep(SleepSpec(seconds=10, steps=100), ctx)
    assert time.monotonic() - started < 1


def independent_ndvi(height: int, width: int, seed: int) -> np.ndarray:
    """NDVI of the synthetic scene straight from its definition, in float64."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    red = (rows * 7 + cols * 13 + seed) % 4000 + 100
    nir = (rows * 11 + cols * 3 + 2 * seed) % 6000 + 200
    ndvi: np.ndarray = (nir - red) / (nir + red)
    return ndvi


def test_split_ndvi_merges_to_the_direct_computation(store: LocalStore) -> None:
    job_type = default_registry().get("diagnostic.synthetic-ndvi")
    spec = SyntheticNdviSpec(height=1000, width=300, parts=3, align=128, seed=5)
    ctx = JobContext.local(store)
    summary = job_type.run_here(spec, ctx)
    assert ctx.primary_output is not None
    merged = np.load(io.BytesIO(store.get(ctx.primary_output)))
    expected = independent_ndvi(1000, 300, 5)
    assert merged.dtype == np.float32 and merged.shape == (1000, 300)
    np.testing.assert_allclose(merged, expected, rtol=1e-6, atol=1e-6)
    assert summary["parts"] == 3
    assert summary["mean"] == pytest.approx(expected.mean(), rel=1e-5)


def test_split_rows_covers_every_row_once_on_tile_edges() -> None:
    windows = split_rows(1000, 300, 3, align=128)
    assert [w.row_off for w in windows] == [0, 384, 640]
    assert sum(w.height for w in windows) == 1000
    assert all(w.row_off % 128 == 0 and w.width == 300 for w in windows)
    assert len(split_rows(100, 10, 50, align=64)) == 2  # never more parts than tiles
    with pytest.raises(ValueError):
        split_rows(0, 10, 2)


def test_registry_validates_specs() -> None:
    registry = default_registry()
    assert not [name for name in registry.names() if name.startswith("diagnostic.")]
    assert "diagnostic.sleep" in registry.names(include_diagnostic=True)
    with pytest.raises(InvalidInputError, match="unknown job type"):
        registry.get("nope")
    with pytest.raises(InvalidInputError, match="seconds"):
        registry.get("diagnostic.sleep").parse({"seconds": -1})
    with pytest.raises(InvalidInputError, match="surprise: Extra inputs"):
        registry.get("diagnostic.noop").parse({"surprise": 1})


def test_part_leases_expire_and_belong_to_their_holder() -> None:
    locks = MemoryPartLocks()
    token = locks.acquire("p", 0.2)
    assert token is not None
    assert locks.acquire("p", 0.2) is None
    assert not locks.refresh("p", "someone-else", 0.2)
    assert locks.refresh("p", token, 0.2)
    time.sleep(0.25)
    assert locks.acquire("p", 0.2) is not None  # the holder died: the lease expired


def test_job_config_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERRASCAN_JOB_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("TERRASCAN_JOB_ORG_CONCURRENCY", "1")
    config = JobConfig.from_settings(Settings(data_dir=tmp_path))
    assert (config.max_attempts, config.org_concurrency) == (5, 1)
    assert config.backoff(1) == 1.0 and config.backoff(3) == 4.0
    assert JobConfig(retry_backoff_max_s=3).backoff(10) == 3
    with pytest.raises(ConfigurationError, match="heartbeat"):
        JobConfig(heartbeat_interval_s=5, heartbeat_timeout_s=10)
