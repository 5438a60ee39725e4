"""Tile latency and throughput: TerraScan's tile routes against rio-tiler called directly.

Prints, each beside its baseline measured in the same run:

1. p50/p95 of a 256 px NDVI tile (``algorithm=ndvi``, rescaled to -1..1 with a colour map, PNG)
   through the HTTP app in-process (authentication, catalog lookup, titiler, cache missed on
   purpose) against the floor: rio-tiler in this process on the same stored COG, a new
   ``Reader`` per tile as the app opens one, the same NDVI as a band-math expression, the same
   rescale, colour map and PNG encoding. The overhead at p95 is the target (< 20 %).
2. p50/p95 of a cached tile (same request again: authentication, catalog lookup, cache hit)
   against the uncached tile (target < 5 ms).
3. 8 concurrent clients (threads, one ``httpx.Client`` each) against a real uvicorn on
   127.0.0.1 running the same data directory: throughput and p95 for uncached tiles (each
   request a tile not asked for before) and for cached tiles, against 1 client.

The scene is a realistic 4-band 2048 x 2048 uint16 scene (blue, green, red, nir; smooth fields,
sharp-edged patches, texture and noise, from ``benchmarks.raster_engine``) written as a COG,
uploaded through the API (so the file measured is the one TerraScan stores) in a temporary
folder that is removed at the end.

``python -m benchmarks.tiles [--quick] [--samples N] [--seconds S]``
"""

from __future__ import annotations

import argparse
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
    """The app over a data directory, with one signed-in user who uploaded the scene."""

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

    def get(self, tile: tuple[int, int, int]) -> bytes:
        response = self.client.get(self.url(tile), headers=self.headers)
        assert response.status_code == 200, response.text
        return bytes(response.content)

    def get_record(self) -> None:
        response = self.client.get(f"/api/v1/imagery/{self.imagery_id}", headers=self.headers)
        assert response.status_code == 200, response.text

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.app.state.catalog.dispose()


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
def uvicorn_server(data_dir: Path, cache: str) -> Iterator[str]:
    import httpx

    port = free_port()
    env = {**os.environ, "TERRASCAN_DATA_DIR": str(data_dir), "TERRASCAN_MODE": "embedded",
           "TERRASCAN_LOG_LEVEL": "WARNING", "TERRASCAN_TILE_CACHE_URL": cache}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "terrascan.api.app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--no-access-log"],
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
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def load_test(
    base: str, paths: list[str], headers: dict[str, str], clients: int, seconds: float
) -> tuple[float, list[float]]:
    """``clients`` threads take paths from one shared iterator for ``seconds``; returns the
    throughput (responses per second) and every latency."""
    import httpx

    latencies: list[float] = []
    lock = threading.Lock()
    source = iter(paths)
    deadline = time.monotonic() + seconds
    errors: list[str] = []

    def client() -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            while time.monotonic() < deadline:
                with lock:
                    path = next(source, None)
                if path is None:
                    return
                started = time.perf_counter()
                response = http.get(path)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if response.status_code != 200:
                        errors.append(f"{response.status_code} {path}")

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, first: {errors[0]}")
    return len(latencies) / (time.perf_counter() - started), latencies


# -- the measurements --------------------------------------------------------------------


def bench_in_process(app: App, tiles: list[tuple[int, int, int]], samples: int) -> None:
    chosen = [tiles[i % len(tiles)] for i in range(samples)]
    for tile in chosen[:3]:  # warm both paths up (imports, numexpr, GDAL caches)
        floor_tile(app.stored, tile)
        app.get(tile)
    cache = app.app.state.tile_cache
    floor, served = [], []
    for tile in chosen:  # alternate, so that load on the machine hits both alike
        floor.append(timed(lambda t=tile: floor_tile(app.stored, t)))  # type: ignore[misc]
        served.append(timed(lambda t=tile: app.get(t), before=cache.clear))  # type: ignore[misc]
    agree = pixels_agree(floor_tile(app.stored, chosen[0]), app.get(chosen[0]))
    over50 = pct(served, 50) / pct(floor, 50) - 1
    over95 = pct(served, 95) / pct(floor, 95) - 1
    print(f"NDVI tile 256 px PNG via the API in-process, uncached: {summary(served)}  "
          f"(baseline rio-tiler direct, same file and process: {summary(floor)}; "
          f"overhead p50 {over50:+.0%}, p95 {over95:+.0%}; target p95 < +20 %)")  # fmt: skip
    print(f"  {samples} tiles at z{chosen[0][0]}, a new reader per tile on both sides; "
          f"API and floor PNG pixels within 1 DN: {agree:.1%}")  # fmt: skip

    tile = chosen[0]
    app.get(tile)
    cached, record = [], []
    for _ in range(samples * 2):
        cached.append(timed(lambda: app.get(tile)))
        record.append(timed(app.get_record))
    print(f"Cached NDVI tile via the API in-process: {summary(cached)}  (baseline uncached: "
          f"{summary(served)}; ratio p50 {pct(served, 50) / pct(cached, 50):.1f}x faster; "
          f"target < 5 ms)")  # fmt: skip
    print(f"  the same client reading the imagery record (GET /imagery/{{id}}, the same "
          f"sign-in and catalog checks, no tile): {summary(record)}")  # fmt: skip


def bench_http(app: App, data_dir: Path, samples: int, seconds: float) -> None:
    """Against uvicorn: uncached latency (cache off) beside the floor, then load."""
    import httpx

    tiles = tiles_over(app.stored, 14)
    chosen = [tiles[i % len(tiles)] for i in range(samples)]
    with uvicorn_server(data_dir, cache="off") as base:
        with httpx.Client(base_url=base, headers=app.headers, timeout=30) as http:

            def fetch(tile: tuple[int, int, int]) -> None:
                assert http.get(app.url(tile)).status_code == 200

            for tile in chosen[:3]:
                fetch(tile)
            floor, served = [], []
            for tile in chosen:
                floor.append(timed(lambda t=tile: floor_tile(app.stored, t)))  # type: ignore[misc]
                served.append(timed(lambda t=tile: fetch(t)))  # type: ignore[misc]
        over50 = pct(served, 50) / pct(floor, 50) - 1
        over95 = pct(served, 95) / pct(floor, 95) - 1
        print(f"NDVI tile 256 px PNG via uvicorn on 127.0.0.1, uncached: {summary(served)}  "
              f"(baseline rio-tiler direct, same file, in the client process: {summary(floor)};"
              f" overhead p50 {over50:+.0%}, p95 {over95:+.0%}; target p95 < +20 %)")  # fmt: skip
        paths = [app.url(t) for t in tiles] * 1000
        one, one_lat = load_test(base, paths, app.headers, 1, seconds)
        eight, eight_lat = load_test(base, paths, app.headers, 8, seconds)
    print(f"8 clients, uvicorn on 127.0.0.1, uncached NDVI tiles: {eight:.1f} tiles/s, "
          f"p95 {pct(eight_lat, 95) * 1e3:.0f} ms  (baseline 1 client: {one:.1f} tiles/s, "
          f"p95 {pct(one_lat, 95) * 1e3:.0f} ms; throughput ratio {eight / one:.2f}x)")  # fmt: skip

    warm = tiles[:16]
    with uvicorn_server(data_dir, cache="memory") as base:
        with httpx.Client(base_url=base, headers=app.headers, timeout=30) as http:
            for tile in warm:  # fill the server's cache
                assert http.get(app.url(tile)).status_code == 200
            cached = [
                timed(lambda t=tile: http.get(app.url(t)))  # type: ignore[misc]
                for tile in warm * max(1, samples // 8)
            ]
        paths = [app.url(t) for t in warm] * 100_000
        one, one_lat = load_test(base, paths, app.headers, 1, seconds)
        eight, eight_lat = load_test(base, paths, app.headers, 8, seconds)
    print(f"Cached NDVI tile via uvicorn on 127.0.0.1: {summary(cached)}  (baseline uncached "
          f"via uvicorn: {summary(served)}; target < 5 ms)")  # fmt: skip
    print(f"8 clients, uvicorn on 127.0.0.1, cached tiles: {eight:.0f} tiles/s, "
          f"p95 {pct(eight_lat, 95) * 1e3:.1f} ms  (baseline 1 client: {one:.0f} tiles/s, "
          f"p95 {pct(one_lat, 95) * 1e3:.1f} ms; throughput ratio {eight / one:.2f}x)")  # fmt: skip
    print(f"  {seconds:.0f} s per load run, one uvicorn worker process; the load generator "
          f"(threads, httpx) shares the 2 cores with the server")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, shorter runs")
    parser.add_argument("--samples", type=int, default=None, help="tiles per latency figure")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per load run")
    args = parser.parse_args(argv)
    samples = args.samples or (30 if args.quick else 150)
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
            bench_in_process(app, tiles, samples)
            bench_http(app, tmp / "data", samples, seconds)
        finally:
            app.close()
        print(f"finished; {load()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
