"""Raster engine speed: whole scenes, each figure beside a baseline measured in the same run.

1. NDVI of a 10980 x 10980 two-band uint16 COG into a COG, against the straightforward script
   (rasterio reads both bands whole, numpy computes, rasterio writes a GeoTIFF with the input's
   profile), time and peak memory of each.
2. The NDVI kernel alone against a numpy expression on the same arrays and against a plain copy
   of the kernel's input bytes (the memory-bandwidth limit).
3. CVA + Otsu on a 10980 x 10980 four-band pair into a uint8 COG mask, against the
   straightforward script (every band read whole, numpy magnitude,
   ``skimage.filters.threshold_otsu``, mask written with rasterio), time and peak memory.
4. A 6-band 10980 x 10980 uint16 GeoTIFF rewritten as a COG (``terrascan cog``) against
   ``gdal_translate -of COG`` with default options; rasterio ships no ``gdal_translate``
   binary, so the baseline is its library equivalent, ``rasterio.shutil.copy(src, dst,
   driver="COG")`` (GDALCreateCopy with the COG driver and no creation options). Output sizes
   and ``rio_cogeo`` validation of both.

Every timed run is a fresh Python process; the time is measured inside it around the work
(imports excluded for both sides), the peak memory is that process's maximum resident set
size. Runs alternate baseline / engine and the median of ``--repeat`` runs is reported. The
input scenes are generated once per run (smooth fields, edges, texture and sensor-like noise,
so that compression behaves as on real data) into a temporary folder that is removed at the
end (``--keep DIR`` keeps them for the next run).

``python -m benchmarks.raster_engine [--quick] [--repeat N] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import terrascan  # noqa: F401  (GDAL defaults before rasterio)

QUICK_ARGS = ["--quick"]

FULL_SIZE = 10980
QUICK_SIZE = 2048
CRS = "EPSG:32629"
ORIGIN = (199980.0, 2800020.0)


# -- synthetic scenes --------------------------------------------------------------------


def _upsample(coarse: npt.NDArray[np.float32], rows: slice, cols: int, step: int) -> Any:
    """Bilinear upsampling of ``coarse`` by ``step`` for the output rows ``rows``."""
    y = np.arange(rows.start, rows.stop, dtype=np.float32) / step
    x = np.arange(cols, dtype=np.float32) / step
    y0, x0 = y.astype(np.int64), x.astype(np.int64)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x0 + 1] * fx
    bottom = coarse[y0 + 1][:, x0] * (1 - fx) + coarse[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


class Texture:
    """A band-like uint16 field: landscape-scale variation, field-scale patches with sharp
    edges, fine texture and sensor noise (about 15 DN), in [low, high]."""

    def __init__(self, size: int, seed: int, low: int, high: int) -> None:
        rng = np.random.default_rng(seed)
        self.size, self.seed, self.low, self.high = size, seed, low, high
        self.broad = rng.random((size // 256 + 2, size // 256 + 2), dtype=np.float32)
        self.fine = rng.random((size // 8 + 2, size // 8 + 2), dtype=np.float32)
        self.fields = rng.random((size // 64 + 1, size // 64 + 1), dtype=np.float32)

    def rows(self, start: int, stop: int) -> npt.NDArray[np.uint16]:
        rng = np.random.default_rng((self.seed, start))
        rows, n = slice(start, stop), self.size
        value = 0.55 * _upsample(self.broad, rows, n, 256) + 0.15 * _upsample(self.fine, rows, n, 8)
        field = self.fields[np.arange(start, stop) // 64][:, np.arange(n) // 64]
        value += 0.3 * field
        value = self.low + value * (self.high - self.low)
        noise = rng.integers(-13, 14, value.shape, dtype=np.int16)
        noise += rng.integers(-13, 14, value.shape, dtype=np.int16)
        result: npt.NDArray[np.uint16] = np.clip(value + noise, 1, 65535).astype(np.uint16)
        return result


def _grid(size: int) -> Any:
    from affine import Affine

    from terrascan.io.grid import Grid

    return Grid(CRS, Affine(10.0, 0.0, ORIGIN[0], 0.0, -10.0, ORIGIN[1]), size, size)


def write_scene_cog(path: Path, size: int, bands: list[Texture], change: bool = False) -> None:
    """A band-interleaved ZSTD COG as TerraScan stores scenes (the engine's inputs)."""
    from rasterio.windows import Window

    from terrascan.io.cog_stream import StreamingCogWriter

    writer = StreamingCogWriter(path, grid=_grid(size), count=len(bands), dtype="uint16", nodata=0)

    def block(row: int) -> None:
        stop = min(size, row + 512)
        data = np.stack([t.rows(row, stop) for t in bands])
        if change:  # cleared patches: red up, nir down, over about 2 % of the scene
            lo, hi = size // 3, size // 3 + size // 7
            if row < hi and stop > lo:
                r0, r1 = max(row, lo) - row, min(stop, hi) - row
                data[2, r0:r1, lo:hi] += 800
                data[3, r0:r1, lo:hi] -= np.minimum(data[3, r0:r1, lo:hi] - 1, 900)
        for col in range(0, size, 512):
            width = min(512, size - col)
            writer.write(data[:, :, col : col + width], Window(col, row, width, stop - row))

    with writer, ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(block, range(0, size, 512)))


def write_plain_tiff(path: Path, size: int, bands: list[Texture]) -> None:
    """A tiled (512), uncompressed, band-interleaved GeoTIFF: the COG conversion's input."""
    import rasterio
    from rasterio.windows import Window

    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": len(bands),
        "dtype": "uint16", "crs": CRS, "transform": _grid(size).transform, "nodata": 0,
        "tiled": True, "blockxsize": 512, "blockysize": 512, "interleave": "band",
        "bigtiff": "IF_SAFER",
    }  # fmt: skip
    lock = threading.Lock()
    with rasterio.open(path, "w", **profile) as dst:

        def block(row: int) -> None:
            stop = min(size, row + 512)
            data = np.stack([t.rows(row, stop) for t in bands])
            with lock:
                dst.write(data, window=Window(0, row, size, stop - row))

        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            list(pool.map(block, range(0, size, 512)))


def make_scenes(folder: Path, size: int) -> dict[str, Path]:
    """Generate the inputs once (skipped when they are already in ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "ndvi": folder / f"red_nir_{size}.tif",
        "before": folder / f"before_{size}.tif",
        "after": folder / f"after_{size}.tif",
        "six": folder / f"six_band_{size}.tif",
    }
    red, nir = Texture(size, 1, 300, 1800), Texture(size, 2, 1500, 4200)
    four = [Texture(size, 3, 200, 1200), Texture(size, 4, 300, 1500), red, nir]
    jobs: list[tuple[Path, Callable[[Path], None]]] = [
        (paths["ndvi"], lambda p: write_scene_cog(p, size, [red, nir])),
        (paths["before"], lambda p: write_scene_cog(p, size, four)),
        (paths["after"], lambda p: write_scene_cog(p, size, four, change=True)),
        (paths["six"], lambda p: write_plain_tiff(
            p, size, [*four, Texture(size, 5, 1000, 3500), Texture(size, 6, 500, 3000)])),
    ]  # fmt: skip
    for path, make in jobs:
        if not path.exists():
            started = time.perf_counter()
            tmp = path.with_suffix(".partial.tif")
            make(tmp)
            tmp.rename(path)
            print(f"  generated {path.name} in {time.perf_counter() - started:.1f} s", flush=True)
    return paths


# -- child processes ---------------------------------------------------------------------

_CHILD_PRELUDE = """
import json, resource, sys, time
t0 = time.perf_counter()
"""
# Peak RSS from /proc (VmHWM belongs to this process image: ru_maxrss would carry over the
# parent's peak through fork/exec), ru_maxrss where there is no /proc.
_CHILD_REPORT = """
seconds = time.perf_counter() - t1
try:
    with open("/proc/self/status") as status:
        peak = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) * 1024
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print("RESULT " + json.dumps({"seconds": seconds, "imports": t1 - t0, "peak": peak}))
"""

SCRIPTS = {
    # The script a user writes: both bands whole, numpy, the input's profile for the output.
    "ndvi_script": """
import numpy as np, rasterio
t1 = time.perf_counter()
with rasterio.open(SRC) as src:
    red = src.read(1).astype("float32")
    nir = src.read(2).astype("float32")
    profile = src.profile
ndvi = (nir - red) / (nir + red)
profile.update(dtype="float32", count=1, nodata=None)
with rasterio.open(DST, "w", **profile) as dst:
    dst.write(ndvi, 1)
""",
    "ndvi_engine": """
from terrascan.engine import compute_index
t1 = time.perf_counter()
compute_index(SRC, "ndvi", DST, bands="red=1,nir=2")
""",
    "cva_script": """
import numpy as np, rasterio
try:
    from skimage.filters import threshold_otsu
except ImportError:  # the same thing in numpy
    def threshold_otsu(values, nbins=256):
        counts, edges = np.histogram(values, nbins)
        centers = (edges[:-1] + edges[1:]) / 2
        w0 = np.cumsum(counts)[:-1]
        w1 = counts.sum() - w0
        s0 = np.cumsum(counts * centers)[:-1]
        s1 = (counts * centers).sum() - s0
        mean0, mean1 = s0 / np.maximum(w0, 1), s1 / np.maximum(w1, 1)
        between = np.where((w0 > 0) & (w1 > 0), w0 * w1 * (mean0 - mean1) ** 2, -1.0)
        return centers[np.argmax(between)]
t1 = time.perf_counter()
with rasterio.open(SRC) as a, rasterio.open(SRC2) as b:
    before = a.read().astype("float32")
    after = b.read().astype("float32")
    profile = a.profile
before[before == 0] = np.nan
after[after == 0] = np.nan
magnitude = np.sqrt(((after - before) ** 2).sum(axis=0))
valid = np.isfinite(magnitude)
t = threshold_otsu(magnitude[valid])
mask = (magnitude > t).astype("uint8")
mask[~valid] = 255
profile.update(dtype="uint8", count=1, nodata=255)
with rasterio.open(DST, "w", **profile) as dst:
    dst.write(mask, 1)
""",
    "cva_engine": """
from terrascan.engine import detect_change
t1 = time.perf_counter()
detect_change(SRC, SRC2, "cva", DST, bands="blue=1,green=2,red=3,nir=4", threshold="otsu")
""",
    # gdal_translate -of COG SRC DST, through the library call it makes.
    "cog_gdal": """
import rasterio
from rasterio.shutil import copy
t1 = time.perf_counter()
copy(SRC, DST, driver="COG")
""",
    "cog_engine": """
from terrascan.engine import convert_to_cog
t1 = time.perf_counter()
convert_to_cog(SRC, DST)
""",
    "cog_staged": """
from terrascan.io.cog import convert_to_cog
t1 = time.perf_counter()
convert_to_cog(SRC, DST)
""",
}


def run_child(name: str, **paths: Path) -> dict[str, float]:
    """Run one script in a fresh interpreter; return its work time, import time and peak RSS."""
    for key in ("DST",):
        if key in paths and paths[key].exists():
            paths[key].unlink()
    header = "".join(f"{key} = {str(value)!r}\n" for key, value in paths.items())
    code = _CHILD_PRELUDE + header + textwrap.dedent(SCRIPTS[name]) + _CHILD_REPORT
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=3600, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    result: dict[str, float] = json.loads(line[len("RESULT ") :])
    result["process"] = wall
    return result


def compare(
    first: str, second: str, repeat: int, **paths: Path
) -> tuple[dict[str, float], dict[str, float]]:
    """Run ``first`` and ``second`` alternately ``repeat`` times; medians of each measure.
    Each writes its own output (``DST`` with the script name added), left for inspection."""
    runs: dict[str, list[dict[str, float]]] = {first: [], second: []}
    for _ in range(repeat):
        for name in (first, second):
            dst = paths["DST"].with_name(f"{paths['DST'].stem}_{name}.tif")
            runs[name].append(run_child(name, **{**paths, "DST": dst}))
    medians = [
        {k: statistics.median(r[k] for r in runs[name]) for k in runs[name][0]}
        for name in (first, second)
    ]
    return medians[0], medians[1]


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) {five:.1f} (5 min) on {os.cpu_count()} cores"


# -- the four measurements ---------------------------------------------------------------


def bench_ndvi(paths: dict[str, Path], out: Path, repeat: int, size: int) -> None:
    base, engine = compare(
        "ndvi_script", "ndvi_engine", repeat, SRC=paths["ndvi"], DST=out / "ndvi.tif"
    )
    label = f"NDVI {size}x{size} 2-band uint16 COG -> COG"
    print(
        f"{label}: {engine['seconds']:.2f} s  (baseline rasterio+numpy script: "
        f"{base['seconds']:.2f} s, ratio {base['seconds'] / engine['seconds']:.2f}x faster)"
    )
    print(
        f"NDVI peak memory: {gb(engine['peak'])}  (baseline rasterio+numpy script: "
        f"{gb(base['peak'])}, ratio {base['peak'] / engine['peak']:.2f}x less)"
    )
    print(f"  whole processes incl. interpreter start and imports: engine "
          f"{engine['process']:.2f} s, script {base['process']:.2f} s "
          f"(ratio {base['process'] / engine['process']:.2f})")  # fmt: skip


def _parallel_copy(sources: list[Any], targets: list[Any], workers: int) -> None:
    """Copy each source into its target, split in row bands over ``workers`` threads."""
    rows = sources[0].shape[0]
    step = -(-rows // workers)

    def part(start: int) -> None:
        for s, t in zip(sources, targets, strict=True):
            np.copyto(t[start : start + step], s[start : start + step])

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(part, range(0, rows, step)))


def _best(fn: Callable[[], Any], repeat: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def bench_kernel(size: int) -> None:
    from terrascan.core.indices import ndvi

    rng = np.random.default_rng(0)
    red = rng.integers(300, 1800, (size, size)).astype(np.float32) * np.float32(1e-4)
    nir = rng.integers(1500, 4200, (size, size)).astype(np.float32) * np.float32(1e-4)
    out = np.empty_like(red)
    copies = [np.empty_like(red), np.empty_like(nir)]
    workers = os.cpu_count() or 1
    kernel = _best(lambda: ndvi(nir, red, out))
    expression = _best(lambda: (nir - red) / (nir + red))

    def copy_both() -> None:
        np.copyto(copies[0], nir)
        np.copyto(copies[1], red)

    copy_one = _best(copy_both)
    copy_all = _best(lambda: _parallel_copy([nir, red], copies, workers))
    copy = min(copy_one, copy_all)
    mpx = size * size / 1e6
    print(
        f"NDVI kernel on {size}x{size} float32: {kernel * 1e3:.1f} ms "
        f"({mpx / kernel:.0f} Mpx/s)  (baseline plain copy of its input bytes: "
        f"{copy * 1e3:.1f} ms, ratio {kernel / copy:.2f}x the copy time)"
    )
    print(
        f"NDVI kernel vs numpy expression: {kernel * 1e3:.1f} ms  (baseline numpy "
        f"(nir - red) / (nir + red): {expression * 1e3:.1f} ms, ratio "
        f"{expression / kernel:.2f}x faster)"
    )
    print(f"  copy on 1 thread {copy_one * 1e3:.1f} ms, on {workers} threads "
          f"{copy_all * 1e3:.1f} ms; best of 5 each")  # fmt: skip


def bench_cva(paths: dict[str, Path], out: Path, repeat: int, size: int) -> None:
    base, engine = compare(
        "cva_script", "cva_engine", repeat,
        SRC=paths["before"], SRC2=paths["after"], DST=out / "cva.tif",
    )  # fmt: skip
    label = f"CVA + Otsu {size}x{size} 4-band uint16 pair -> COG mask"
    print(
        f"{label}: {engine['seconds']:.2f} s  (baseline numpy+skimage script: "
        f"{base['seconds']:.2f} s, ratio {base['seconds'] / engine['seconds']:.2f}x faster)"
    )
    print(
        f"CVA peak memory: {gb(engine['peak'])}  (baseline numpy+skimage script: "
        f"{gb(base['peak'])}, ratio {base['peak'] / engine['peak']:.2f}x less)"
    )
    print(f"  whole processes: engine {engine['process']:.2f} s, script "
          f"{base['process']:.2f} s")  # fmt: skip


def bench_cog(paths: dict[str, Path], out: Path, repeat: int, size: int) -> None:
    from rio_cogeo.cogeo import cog_validate

    base, engine = compare("cog_gdal", "cog_engine", repeat, SRC=paths["six"], DST=out / "cog.tif")
    staged = run_child("cog_staged", SRC=paths["six"], DST=out / "cog_staged.tif")
    sizes = {}
    for name in ("cog_engine", "cog_gdal"):
        path = out / f"cog_{name}.tif"
        valid, errors, warnings = cog_validate(str(path), quiet=True)
        sizes[name.split("_")[1]] = (path.stat().st_size, valid and not errors, len(warnings))
    label = f"COG write 6-band {size}x{size} uint16"
    print(
        f"{label}: {engine['seconds']:.2f} s  (baseline gdal_translate -of COG defaults "
        f"[rasterio.shutil.copy(driver='COG')]: {base['seconds']:.2f} s, ratio "
        f"{base['seconds'] / engine['seconds']:.2f}x faster)"
    )
    print(
        f"COG output size: {sizes['engine'][0] / 1e6:,.0f} MB ZSTD level 1 + predictor "
        f"(baseline COG driver defaults, LZW: {sizes['gdal'][0] / 1e6:,.0f} MB, ratio "
        f"{sizes['engine'][0] / sizes['gdal'][0]:.2f})"
    )
    print(
        f"COG validity (rio_cogeo): engine valid={sizes['engine'][1]} "
        f"warnings={sizes['engine'][2]}  (baseline valid={sizes['gdal'][1]} "
        f"warnings={sizes['gdal'][2]})"
    )
    print(f"  peak memory: engine {gb(engine['peak'])}, COG driver {gb(base['peak'])}; "
          f"io.cog.convert_to_cog (GDAL staging + one compressing copy): "
          f"{staged['seconds']:.2f} s")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SIZE} px scenes, 1 run")
    parser.add_argument("--repeat", type=int, default=None, help="runs per figure (median)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the input scenes here")
    parser.add_argument(
        "--only", default="ndvi,kernel,cva,cog", help="comma-separated subset to run"
    )
    args = parser.parse_args(argv)
    size = QUICK_SIZE if args.quick else FULL_SIZE
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    only = set(args.only.split(","))
    print(f"raster engine benchmarks, {size} x {size} pixels, median of {repeat} run(s); {load()}")
    tmp = Path(tempfile.mkdtemp(prefix="terrascan-bench-"))
    try:
        scenes = args.keep if args.keep is not None else tmp / "scenes"
        paths = make_scenes(scenes, size)
        out = tmp / "out"
        out.mkdir()
        if "ndvi" in only:
            bench_ndvi(paths, out, repeat, size)
        if "kernel" in only:
            bench_kernel(size)
        if "cva" in only:
            bench_cva(paths, out, repeat, size)
        if "cog" in only:
            bench_cog(paths, out, repeat, size)
        print(f"finished; {load()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
