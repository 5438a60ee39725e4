"""Tile latency and throughput: TerraScan's tile routes against rio-tiler called directly.

Prints, each beside its baseline measured in the same run:

1. p50/p95 of a 256 px NDVI tile (``algorithm=ndvi``, rescaled to -1..1 with a colour map, PNG)
   through the HTTP app in-process (the ASGI app called on an event loop of this process, as
   a server calls it: authentication, catalog lookup, titiler, cache missed on purpose), and
   through a real uvicorn on 127.0.0.1, against the floor: rio-tiler in this process on the
   same stored COG, a new ``Reader`` per tile as the app opens one, the same NDVI as a
   band-math expression, the same rescale, colour map and PNG encoding. The overhead at p95
   is the target (< 20 %).
2. p50/p95 of a cached tile (same request again: authentication, catalog lookup, cache hit)
   against the uncached tile (target < 5 ms).
3. 8 concurrent clients (wrk, 8 connections; Python threads if wrk is not installed) against
   a real uvicorn on 127.0.0.1 running the same data directory: throughput and p95 for
   uncached tiles (the server's cache off) and for cached tiles, against 1 client; and
   uncached tiles from 2 uvicorn worker processes against 1 (how replicas scale here).
4. T8: 200 connections for 60 s (``--seconds`` x 4) asking for uncached tiles: the answers
   (tiles, or 503 with Retry-After beyond the render limit), p95 and the server's memory.

The scene is a realistic 4-band 2048 x 2048 uint16 scene (blue, green, red, nir; smooth fields,
sharp-edged patches, texture and noise, from ``benchmarks.raster_engine``) written as a COG,
uploaded through the API (so the file measured is the one TerraScan stores) in a temporary
folder that is removed at the end.

``python -m benchmarks.tiles [--quick] [--samples N] [--seconds S]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import terrascan  # noqa: F401  (GDAL defaults before rasterio)
from benchmarks.raster_engine import Texture, load, write_scene_cog

QUICK_ARGS = ["--quick"]
SIZE = 2048
QUERY = "algorithm=ndvi&rescale=-1,1&colormap_name=rdylgn"
EXPRESSION = "(b4-b3)/(b4+b3)"  # the floor's NDVI: nir = b4, red = b3
PASSWORD = "benchmark password 1"


# -- statistics --------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def summary(values: list[float]) -> str:
    return f"p50 {pct(values, 50) * 1e3:.1f} ms, p95 {pct(values, 95) * 1e3:.1f} ms"


def timed(call: Callable[[], Any], before: Callable[[], None] | None = None) -> float:
    if before is not None:
        before()
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


# -- the scene and the app ---------------------------------------------------------------


def make_scene(folder: Path) -> Path:
    path = folder / "scene.tif"
    bands = [
        Texture(SIZE, 3, 200, 1200),
        Texture(SIZE, 4, 300, 1500),
        Texture(SIZE, 1, 300, 1800),
        Texture(SIZE, 2, 1500, 4200),
    ]
    write_scene_cog(path, SIZE, bands)
    return path


def tiles_over(path: Path, zoom: int) -> list[tuple[int, int, int]]:
    """Every tile of ``zoom`` wholly inside the scene (no partial edge tiles)."""
    import morecantile
    import rasterio
    from rasterio.warp import transform_bounds

    tms = morecantile.tms.get("WebMercatorQuad")
    with rasterio.open(path) as src:
        w, s, e, n = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    inside = []
    for tile in tms.tiles(w, s, e, n, [zoom]):
        b = tms.bounds(tile)
        if b.left > w and b.right < e and b.bottom > s and b.top < n:
            inside.append((tile.z, tile.x, tile.y))
    return inside


class App:
    """The app over a data directory, with one signed-in user who uploaded the scene.

    Set-up goes through a ``TestClient`` (which also runs the app's lifespan: the job system).
    Timed requests are ASGI calls (:func:`asgi_get`) from one coroutine that runs the whole
    measurement (``asyncio.run``), as a server calls the app. Not through a client library:
    a ``TestClient`` request adds a hand-over to the thread that runs the app (about 1.5 ms
    here) and httpx's ASGI transport about 1 ms of its own (it tries to import trio on every
    request); and not with an event loop per request, which would start new worker threads
    each time (anyio's live as long as the loop's main task)."""

    def __init__(self, data_dir: Path, scene: Path) -> None:
        from fastapi.testclient import TestClient

        from terrascan.api.app import create_app
        from terrascan.catalog.models import ImagerySource
        from terrascan.settings import Settings

        self.settings = Settings(data_dir=data_dir, mode="embedded", log_level="WARNING")
        self.app = create_app(self.settings)
        self.client = TestClient(self.app)
        self.client.__enter__()
        email = "bench@example.org"
        self.client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        login = self.client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        self.headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        uploaded = self.client.post(
            "/api/v1/imagery/upload",
            headers=self.headers,
            files={"file": ("scene.tif", scene.read_bytes(), "image/tiff")},
            data={"name": "bench", "bands": "blue=1,green=2,red=3,nir=4"},
        )
        assert uploaded.status_code == 201, uploaded.text
        self.imagery_id = uploaded.json()["id"]
        with self.app.state.catalog.session() as session:
            row = session.get(ImagerySource, uuid.UUID(self.imagery_id))
            assert row is not None and row.storage_key
            self.stored = Path(self.app.state.store.gdal_path(row.storage_key).path)

    def url(self, tile: tuple[int, int, int]) -> str:
        z, x, y = tile
        return f"/api/v1/imagery/{self.imagery_id}/tiles/WebMercatorQuad/{z}/{x}/{y}.png?{QUERY}"

    async def get(self, tile: tuple[int, int, int]) -> bytes:
        return await asgi_get(self.app, self.url(tile), self.headers)

    async def get_record(self) -> None:
        await asgi_get(self.app, f"/api/v1/imagery/{self.imagery_id}", self.headers)

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.app.state.catalog.dispose()


async def asgi_request(
    app: Any, target: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    """``GET target`` as one ASGI call, the way a server hands a request to the app (no client
    library in between): the status, the response headers and the body."""
    path, _, query = target.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"127.0.0.1:8000"),
                    *((k.lower().encode(), v.encode()) for k, v in headers.items())],
    }  # fmt: skip
    status, body = 0, bytearray()
    response_headers: dict[str, str] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            response_headers.update((k.decode(), v.decode()) for k, v in message["headers"])
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, send)
    return status, response_headers, bytes(body)


async def asgi_get(app: Any, target: str, headers: dict[str, str]) -> bytes:
    """The body of ``GET target`` through :func:`asgi_request`; an error unless 200."""
    status, _, body = await asgi_request(app, target, headers)
    if status != 200:
        raise RuntimeError(f"{status} {target}: {body[:200]!r}")
    return body


def pixels_agree(a: bytes, b: bytes) -> float:
    """Share of RGBA values of two PNGs within 1 DN of each other."""
    import io

    from PIL import Image

    x = np.asarray(Image.open(io.BytesIO(a)).convert("RGBA"), dtype=np.int16)
    y = np.asarray(Image.open(io.BytesIO(b)).convert("RGBA"), dtype=np.int16)
    return float((np.abs(x - y) <= 1).mean())


def floor_tile(path: Path, tile: tuple[int, int, int]) -> bytes:
    """rio-tiler alone: open, read the tile with the NDVI expression, rescale, colour, PNG."""
    from rio_tiler.colormap import cmap
    from rio_tiler.io import Reader

    z, x, y = tile
    with Reader(str(path)) as src:
        image = src.tile(x, y, z, expression=EXPRESSION)
    image.rescale(((-1.0, 1.0),))
    return bytes(image.render(img_format="PNG", colormap=cmap.get("rdylgn")))


# -- a real server -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def uvicorn_server(
    data_dir: Path, cache: str, workers: int = 1, render_limit: int | None = None
) -> Iterator[tuple[str, int]]:
    """A uvicorn over ``data_dir``: its base URL and process id."""
    import httpx

    port = free_port()
    env = {**os.environ, "TERRASCAN_DATA_DIR": str(data_dir), "TERRASCAN_MODE": "embedded",
           "TERRASCAN_LOG_LEVEL": "WARNING", "TERRASCAN_TILE_CACHE_URL": cache}  # fmt: skip
    if render_limit is not None:
        env["TERRASCAN_TILE_RENDER_LIMIT"] = str(render_limit)
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "terrascan.api.app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--no-access-log", "--workers", str(workers)],
        env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


WRK_SCRIPT = Path(__file__).with_name("tiles_wrk.lua")


class Load:
    """One load run: responses per second and latency percentiles (seconds)."""

    def __init__(
        self, throughput: float, p50: float, p95: float, statuses: dict[str, int] | None = None
    ) -> None:
        self.throughput, self.p50, self.p95 = throughput, p50, p95
        self.statuses = statuses or {}


@dataclass(frozen=True)
class LoadRun:
    """``clients`` connections asking for ``paths`` in turn for ``seconds``; answers other than
    ``accept`` are failures."""

    base: str
    paths: list[str]
    headers: dict[str, str]
    clients: int
    seconds: float
    accept: tuple[str, ...] = ("200",)


def load_test(
    base: str,
    paths: list[str],
    headers: dict[str, str],
    clients: int,
    seconds: float,
    accept: tuple[str, ...] = ("200",),
) -> Load:
    """A :class:`LoadRun` with wrk (one thread per connection, 8 at most), or, where wrk is not
    installed, Python threads with one ``httpx.Client`` each (a heavier client: it competes
    with the server for the same 2 cores)."""
    run = LoadRun(base, paths, headers, clients, seconds, accept)
    return _wrk(run) if shutil.which("wrk") else _threads(run)


def load_tool() -> str:
    return "wrk" if shutil.which("wrk") else "Python threads and httpx (wrk is not installed)"


def _wrk(run: LoadRun) -> Load:
    import json

    with tempfile.NamedTemporaryFile("w", suffix=".txt") as listing:
        listing.write("\n".join(run.paths) + "\n")
        listing.flush()
        options = [a for k, v in run.headers.items() for a in ("-H", f"{k}: {v}")]
        command = ["wrk", "-t", str(min(run.clients, 8)), "-c", str(run.clients),
                   "-d", f"{run.seconds:.0f}s", "--timeout", "30s", "-s", str(WRK_SCRIPT),
                   *options, run.base, "--", listing.name]  # fmt: skip
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    statuses = {str(k): int(v) for k, v in result["statuses"].items()}
    if result["socket_errors"] or set(statuses) - set(run.accept):
        raise RuntimeError(f"wrk saw failed requests: {result}")
    throughput = result["requests"] / (result["duration_us"] / 1e6)
    return Load(throughput, result["p50_us"] / 1e6, result["p95_us"] / 1e6, statuses)


def _threads(run: LoadRun) -> Load:
    import httpx

    latencies: list[float] = []
    lock = threading.Lock()
    source = iter(run.paths * 100_000)
    deadline = time.monotonic() + run.seconds
    errors: list[str] = []
    statuses: dict[str, int] = {}

    def client() -> None:
        with httpx.Client(base_url=run.base, headers=run.headers, timeout=30) as http:
            while time.monotonic() < deadline:
                with lock:
                    path = next(source, None)
                if path is None:
                    return
                started = time.perf_counter()
                response = http.get(path)
                elapsed = time.perf_counter() - started
                status = str(response.status_code)
                with lock:
                    latencies.append(elapsed)
                    statuses[status] = statuses.get(status, 0) + 1
                    if status not in run.accept:
                        errors.append(f"{status} {path}")

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(run.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, first: {errors[0]}")
    throughput = len(latencies) / (time.perf_counter() - started)
    return Load(throughput, pct(latencies, 50), pct(latencies, 95), statuses)


class RawClient:
    """One kept-alive HTTP/1.1 connection through the standard library: a thin client, so that
    single-request latencies are mostly the server's."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(base)
        self.connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        self.headers = headers

    def get(self, path: str) -> bytes:
        self.connection.request("GET", path, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{response.status} {path}: {body[:200]!r}")
        return body

    def close(self) -> None:
        self.connection.close()


# -- the measurements --------------------------------------------------------------------


async def bench_in_process(app: App, tiles: list[tuple[int, int, int]], samples: int) -> None:
    cache = app.app.state.tile_cache

    async def timed_get(tile: tuple[int, int, int], *, fresh: bool = False) -> float:
        if fresh:
            cache.clear()
        started = time.perf_counter()
        await app.get(tile)
        return time.perf_counter() - started

    chosen = [tiles[i % len(tiles)] for i in range(samples)]
    for tile in chosen[:3]:  # warm both paths up (imports, numexpr, GDAL caches)
        floor_tile(app.stored, tile)
        await app.get(tile)
    floor, served = [], []
    for tile in chosen:  # alternate, so that load on the machine hits both alike
        floor.append(timed(lambda t=tile: floor_tile(app.stored, t)))  # type: ignore[misc]
        served.append(await timed_get(tile, fresh=True))
    agree = pixels_agree(floor_tile(app.stored, chosen[0]), await app.get(chosen[0]))
    over50 = pct(served, 50) / pct(floor, 50) - 1
    over95 = pct(served, 95) / pct(floor, 95) - 1
    print(f"NDVI tile 256 px PNG via the API in-process, uncached: {summary(served)}  "
          f"(baseline rio-tiler direct, same file and process: {summary(floor)}; "
          f"overhead p50 {over50:+.0%}, p95 {over95:+.0%}; target p95 < +20 %)")  # fmt: skip
    print(f"  {samples} tiles at z{chosen[0][0]}, a new reader per tile on both sides; "
          f"API and floor PNG pixels within 1 DN: {agree:.1%}")  # fmt: skip

    tile = chosen[0]
    await app.get(tile)
    cached, record = [], []
    for _ in range(samples * 2):
        cached.append(await timed_get(tile))
        started = time.perf_counter()
        await app.get_record()
        record.append(time.perf_counter() - started)
    print(f"Cached NDVI tile via the API in-process: {summary(cached)}  (baseline uncached: "
          f"{summary(served)}; ratio p50 {pct(served, 50) / pct(cached, 50):.1f}x faster; "
          f"target < 5 ms)")  # fmt: skip
    print(f"  the same client reading the imagery record (GET /imagery/{{id}}, the same "
          f"sign-in and catalog checks, no tile): {summary(record)}")  # fmt: skip


def bench_http(app: App, data_dir: Path, samples: int, seconds: float) -> None:
    """Against uvicorn: uncached latency (cache off) beside the floor, cached latency, then
    load with 1 and 8 connections."""
    tiles = tiles_over(app.stored, 14)
    chosen = [tiles[i % len(tiles)] for i in range(samples)]
    paths = [app.url(t) for t in tiles]
    with uvicorn_server(data_dir, cache="off") as (base, _):
        http = RawClient(base, app.headers)
        for tile in chosen[:3]:
            http.get(app.url(tile))
        floor, served = [], []
        for tile in chosen:
            floor.append(timed(lambda t=tile: floor_tile(app.stored, t)))  # type: ignore[misc]
            served.append(timed(lambda t=tile: http.get(app.url(t))))  # type: ignore[misc]
        http.close()
        over50 = pct(served, 50) / pct(floor, 50) - 1
        over95 = pct(served, 95) / pct(floor, 95) - 1
        print(f"NDVI tile 256 px PNG via uvicorn on 127.0.0.1, uncached: {summary(served)}  "
              f"(baseline rio-tiler direct, same file, in the client process: {summary(floor)};"
              f" overhead p50 {over50:+.0%}, p95 {over95:+.0%}; target p95 < +20 %)")  # fmt: skip
        one = load_test(base, paths, app.headers, 1, seconds)
        eight = load_test(base, paths, app.headers, 8, seconds)
    print(f"8 clients, uvicorn on 127.0.0.1, uncached NDVI tiles: {eight.throughput:.1f} tiles/s,"
          f" p50 {eight.p50 * 1e3:.0f} ms, p95 {eight.p95 * 1e3:.0f} ms  (baseline 1 client: "
          f"{one.throughput:.1f} tiles/s, p95 {one.p95 * 1e3:.0f} ms; throughput ratio "
          f"{eight.throughput / one.throughput:.2f}x)")  # fmt: skip
    with uvicorn_server(data_dir, cache="off", workers=2) as (base, _):
        load_test(base, paths, app.headers, 8, 3)  # warm both processes up (imports, JIT)
        two = load_test(base, paths, app.headers, 8, seconds)
    print(f"8 clients, 2 uvicorn worker processes, uncached NDVI tiles: {two.throughput:.1f} "
          f"tiles/s, p50 {two.p50 * 1e3:.0f} ms, p95 {two.p95 * 1e3:.0f} ms  (baseline 1 worker "
          f"process, 8 clients: {eight.throughput:.1f} tiles/s; ratio "
          f"{two.throughput / eight.throughput:.2f}x)")  # fmt: skip

    warm = [app.url(t) for t in tiles[:16]]
    with uvicorn_server(data_dir, cache="memory") as (base, _):
        http = RawClient(base, app.headers)
        for path in warm:  # fill the server's cache
            http.get(path)
        cached = [timed(lambda p=path: http.get(p)) for path in warm * max(1, samples // 8)]  # type: ignore[misc]
        http.close()
        one = load_test(base, warm, app.headers, 1, seconds)
        eight = load_test(base, warm, app.headers, 8, seconds)
    print(f"Cached NDVI tile via uvicorn on 127.0.0.1: {summary(cached)}  (baseline uncached "
          f"via uvicorn: {summary(served)}; target < 5 ms)")  # fmt: skip
    print(f"8 clients, uvicorn on 127.0.0.1, cached tiles: {eight.throughput:.0f} tiles/s, "
          f"p50 {eight.p50 * 1e3:.1f} ms, p95 {eight.p95 * 1e3:.1f} ms  (baseline 1 client: "
          f"{one.throughput:.0f} tiles/s, p95 {one.p95 * 1e3:.1f} ms; throughput ratio "
          f"{eight.throughput / one.throughput:.2f}x)")  # fmt: skip
    print(f"  latencies from one kept-alive connection (http.client); load: {load_tool()}, "
          f"{seconds:.0f} s per run, against one uvicorn worker process unless said; the load "
          f"generator shares the 2 cores with the server")  # fmt: skip


def rss_mb(pid: int) -> float:
    """Resident memory of a process (Linux ``/proc``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_burst(app: App, data_dir: Path, seconds: float) -> None:
    """T8: 200 connections asking for uncached tiles for ``seconds`` against one uvicorn
    worker with the default render limit: the answers (200, or 503 with Retry-After), latency,
    and the server's memory before and after, beside 8 connections."""
    paths = [app.url(t) for t in tiles_over(app.stored, 14)]
    with uvicorn_server(data_dir, cache="off") as (base, pid):
        either = ("200", "503")
        load_test(base, paths, app.headers, 8, 3, accept=either)  # warm up (imports, JIT)
        eight = load_test(base, paths, app.headers, 8, seconds / 4, accept=either)
        before = rss_mb(pid)
        burst = load_test(base, paths, app.headers, 200, seconds / 2, accept=either)
        middle = rss_mb(pid)
        rest = load_test(base, paths, app.headers, 200, seconds / 2, accept=either)
        after = rss_mb(pid)
    for status, n in rest.statuses.items():
        burst.statuses[status] = burst.statuses.get(status, 0) + n
    done = burst.statuses.get("200", 0) / sum(burst.statuses.values())
    print(f"200 clients for {seconds:.0f} s, uvicorn on 127.0.0.1, uncached NDVI tiles: "
          f"{burst.statuses} ({done:.0%} rendered, the rest 503 with Retry-After at once); "
          f"{burst.statuses.get('200', 0) / seconds:.1f} tiles/s, p50 {rest.p50 * 1e3:.0f} ms, "
          f"p95 {burst.p95 * 1e3:.0f} / {rest.p95 * 1e3:.0f} ms over every answer in each half"
          f"  (baseline 8 clients: {eight.throughput:.1f} tiles/s, p95 {eight.p95 * 1e3:.0f} ms,"
          f" {eight.statuses}); server memory {before:.0f} MB at the start, {middle:.0f} MB "
          f"half-way, {after:.0f} MB at the end")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, shorter runs")
    parser.add_argument("--samples", type=int, default=None, help="tiles per latency figure")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per load run")
    args = parser.parse_args(argv)
    samples = args.samples or (30 if args.quick else 300)
    seconds = args.seconds or (4.0 if args.quick else 15.0)
    print(f"tile benchmarks, {SIZE} x {SIZE} 4-band uint16 COG; {load()}")
    tmp = Path(tempfile.mkdtemp(prefix="terrascan-bench-tiles-"))
    try:
        started = time.perf_counter()
        scene = make_scene(tmp)
        app = App(tmp / "data", scene)
        print(f"  scene generated and uploaded in {time.perf_counter() - started:.1f} s")
        try:
            tiles = tiles_over(app.stored, 14)
            asyncio.run(bench_in_process(app, tiles, samples))
            bench_http(app, tmp / "data", samples, seconds)
            bench_burst(app, tmp / "data", seconds * 4)
        finally:
            app.close()
        print(f"finished; {load()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
