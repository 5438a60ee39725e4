"""Job throughput and queue overhead, and a split NDVI on one worker against two.

Prints, each beside its baseline measured in the same run:

- jobs per second for a trivial job (``diagnostic.noop``) with 1 and 2 workers, against calling
  its runner directly (the queue's overhead per job is the difference of the two periods):
  the embedded executor (threads, SQLite) and, when PostgreSQL and redis-server are available,
  Celery workers (processes, PostgreSQL, Redis);
- a scene-sized NDVI (the ``spectral-index`` job on an uploaded generated scene, split into 16
  row bands computed as parts and merged into one COG) on 2 Celery workers against 1.

Run: ``python -m benchmarks.jobs_throughput [--jobs N] [--scene PIXELS] [--no-celery]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from terrascan.catalog.database import Catalog
from terrascan.catalog.models import AnalysisJob, JobStatus, Organization
from terrascan.io.storage import LocalStore
from terrascan.jobs.builtin import NoopSpec, run_noop
from terrascan.jobs.config import JobConfig
from terrascan.jobs.context import JobContext
from terrascan.jobs.system import JobSystem, build_job_system, embedded_job_system
from terrascan.settings import Settings

POSTGRES_URL = os.environ.get(
    "TERRASCAN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def direct_rate(store: LocalStore, seconds: float = 0.5) -> float:
    """Runner calls per second with no queue, catalog or executor."""
    ctx, spec, calls = JobContext.local(store), NoopSpec(), 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(1000):
            run_noop(spec, ctx)
        calls += 1000
    return calls / (time.perf_counter() - started)


def make_org(catalog: Catalog) -> uuid.UUID:
    with catalog.session() as session:
        org = Organization(name="bench", slug=f"bench-{uuid.uuid4().hex[:8]}")
        session.add(org)
        session.flush()
        return org.id


def wait_all(catalog: Catalog, job_ids: list[uuid.UUID], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with catalog.session() as session:
            left = session.scalar(
                select(func.count()).where(
                    AnalysisJob.id.in_(job_ids), AnalysisJob.status != JobStatus.COMPLETED
                )
            )
        if not left:
            return
        time.sleep(0.02)
    raise TimeoutError("jobs did not complete")


def submit_and_wait(system: JobSystem, org: uuid.UUID, count: int) -> float:
    """Seconds from the first submission to the last completion."""
    started = time.perf_counter()
    ids = [
        system.submit("diagnostic.noop", {}, org_id=org, allow_diagnostic=True).id
        for _ in range(count)
    ]
    wait_all(system.catalog, ids)
    return time.perf_counter() - started


def embedded_rate(workdir: Path, workers: int, count: int) -> float:
    catalog = Catalog(f"sqlite:///{workdir / f'embedded-{workers}.db'}")
    catalog.upgrade()
    system = embedded_job_system(
        catalog, LocalStore(workdir / "store"), config=JobConfig(pool_size=workers)
    )
    system.start()
    try:
        return count / submit_and_wait(system, make_org(catalog), count)
    finally:
        system.stop()
        catalog.dispose()


# ---------------------------------------------------------------------------- Celery


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def celery_services(workdir: Path) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database and a private redis-server; the worker environment."""
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        raise RuntimeError("redis-server not installed")
    admin = create_engine(
        POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 3},
    )
    name = f"terrascan_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    port = free_port()
    redis = subprocess.Popen(
        [
            redis_server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        time.sleep(0.3)
        yield {
            "TERRASCAN_DATABASE_URL": f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}",
            "TERRASCAN_BROKER_URL": f"redis://127.0.0.1:{port}/0",
            "TERRASCAN_STORAGE_URL": str(workdir / "store"),
            "TERRASCAN_DATA_DIR": str(workdir),
            "TERRASCAN_SECRET_KEY": uuid.uuid4().hex * 2,
        }
    finally:
        os.killpg(redis.pid, signal.SIGKILL)
        redis.wait()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def celery_workers(env: dict[str, str], count: int, workdir: Path) -> Iterator[None]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TERRASCAN_")} | env
    procs, logs = [], []
    for index in range(count):
        log = workdir / f"worker-{count}-{index}.log"
        logs.append(log)
        with log.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "terrascan.cli",
                        "worker",
                        "--concurrency",
                        "1",
                        "--loglevel",
                        "INFO",
                    ],
                    env=full_env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    try:
        deadline = time.monotonic() + 60
        while not all(" ready." in p.read_text() for p in logs):
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not start")
            time.sleep(0.1)
        yield
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def celery_rates(workdir: Path, count: int, scene: int, baseline: float) -> None:
    with celery_services(workdir) as env:
        settings = Settings(
            database_url=env["TERRASCAN_DATABASE_URL"],
            broker_url=env["TERRASCAN_BROKER_URL"],
            storage_url=env["TERRASCAN_STORAGE_URL"],
            data_dir=Path(env["TERRASCAN_DATA_DIR"]),
        )
        catalog = Catalog(settings.resolved_database_url)
        catalog.upgrade()
        org = make_org(catalog)
        system = build_job_system(settings, catalog, LocalStore(workdir / "store"))
        imagery = upload_scene(workdir, catalog, org, scene)
        ndvi: dict[int, float] = {}
        for workers in (1, 2):
            with celery_workers(env, workers, workdir):
                submit_and_wait(system, org, 20)  # warm up the pool processes
                rate = count / submit_and_wait(system, org, count)
                report(f"{workers} Celery worker{'s' if workers > 1 else ''}", rate, baseline)
                split_index_seconds(system, org, imagery, parts=2 * workers)  # imports, JIT
                ndvi[workers] = split_index_seconds(system, org, imagery, parts=16)
        print(
            f"split NDVI job {scene}x{scene} px, 16 parts: {ndvi[2]:.2f} s with 2 Celery workers "
            f"(baseline: 1 worker {ndvi[1]:.2f} s, speed-up {ndvi[1] / ndvi[2]:.2f}x)"
        )
        system.events.close()
        catalog.dispose()


def upload_scene(workdir: Path, catalog: Catalog, org: uuid.UUID, side: int) -> uuid.UUID:
    """A generated 4-band uint16 scene (red, green, blue, nir) stored as a COG and recorded."""
    import numpy as np
    import rasterio
    from affine import Affine

    from terrascan.jobs.upload import upload_imagery

    path = workdir / "scene.tif"
    profile = {
        "driver": "GTiff", "width": side, "height": side, "count": 4, "dtype": "uint16",
        "crs": "EPSG:32633", "transform": Affine(10, 0, 500000, 0, -10, 5000000),
        "tiled": True, "blockxsize": 512, "blockysize": 512,
    }  # fmt: skip
    cols = np.arange(side, dtype=np.int64)[None, :]
    with rasterio.open(path, "w", **profile) as dst:
        for top in range(0, side, 512):
            rows = np.arange(top, min(side, top + 512), dtype=np.int64)[:, None]
            window = rasterio.windows.Window(0, top, side, rows.shape[0])
            for band, (a, b, base) in enumerate([(7, 13, 400), (5, 11, 500), (3, 17, 300),
                                                 (11, 3, 2000)], start=1):  # fmt: skip
                values = ((rows * a + cols * b) % 2500 + base).astype(np.uint16)
                dst.write(values, band, window=window)
        for band, name in enumerate(["red", "green", "blue", "nir"], start=1):
            dst.set_band_description(band, name)
    row = upload_imagery(
        path, org_id=org, catalog=catalog, store=LocalStore(workdir / "store"), name="bench",
        max_bytes=path.stat().st_size + 1, max_pixels=side * side * 4 + 1,
    )  # fmt: skip
    return row.id


def split_index_seconds(system: JobSystem, org: uuid.UUID, imagery: uuid.UUID, parts: int) -> float:
    started = time.perf_counter()
    job = system.submit(
        "spectral-index",
        {"imagery_id": str(imagery), "index_name": "ndvi", "parts": parts},
        org_id=org,
    )
    wait_all(system.catalog, [job.id])
    return time.perf_counter() - started


def report(label: str, rate: float, baseline: float) -> None:
    overhead_ms = 1000 / rate - 1000 / baseline
    print(
        f"jobs/s with {label}: {rate:.1f} (baseline: direct runner calls {baseline:.0f}/s, "
        f"ratio {rate / baseline:.2e}); queue overhead {overhead_ms:.2f} ms per job"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200, help="trivial jobs per measurement")
    parser.add_argument("--scene", type=int, default=8192, help="split NDVI scene side (px)")
    parser.add_argument("--no-celery", action="store_true", help="embedded executor only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="terrascan-bench-") as tmp:
        workdir = Path(tmp)
        baseline = direct_rate(LocalStore(workdir / "direct"))
        for workers in (1, 2):
            rate = embedded_rate(workdir, workers, args.jobs)
            label = f"{workers} embedded worker thread{'s' if workers > 1 else ''} (SQLite)"
            report(label, rate, baseline)
        if args.no_celery:
            return
        try:
            celery_rates(workdir, args.jobs, args.scene, baseline)
        except Exception as exc:  # a service is missing: say so, do not fail the others
            print(f"Celery benchmarks skipped: {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
