"""Any GeoTIFF rewritten as a COG, read in parallel and encoded as it is read.

Keeps the data type, nodata, CRS, transform, band descriptions and dataset tags. Rasters whose
colour interpretation matters (RGB, palettes) or whose type the streaming writer does not
encode go through :func:`terrascan.io.cog.convert_to_cog` instead, which keeps everything
GDAL knows about the file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rasterio.enums import ColorInterp
from rasterio.io import DatasetReader
from rasterio.windows import Window

from terrascan.engine.output import check_output, open_cog
from terrascan.engine.plan import plan_windows
from terrascan.engine.progress import ProgressCallback, ProgressTracker
from terrascan.engine.results import ConversionResult, OutputInfo
from terrascan.engine.runner import BlockRunner
from terrascan.engine.session import run_environment
from terrascan.engine.sources import Frame, RasterSource
from terrascan.io.cog import convert_to_cog as gdal_convert_to_cog
from terrascan.io.grid import Grid
from terrascan.io.sources import DEFAULT_DRIVERS, open_dataset

_PLAIN_COLORS = {ColorInterp.gray, ColorInterp.undefined}


class _DatasetBlocks:
    """A raw (native type) reader of every band, one per worker thread."""

    def __init__(self, src: DatasetReader) -> None:
        self.src = src

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(str(i) for i in self.src.indexes)

    def read(self, window: Window | None = None) -> Any:
        return self.src.read(window=window)

    def close(self) -> None:
        self.src.close()


def _streamable(src: DatasetReader) -> bool:
    kinds = {str(dtype)[0] for dtype in src.dtypes}
    return (
        len(set(src.dtypes)) == 1
        and kinds <= {"u", "i", "f"}
        and not str(src.dtypes[0]).startswith("complex")
        and all(ci in _PLAIN_COLORS for ci in src.colorinterp)
    )


def convert_to_cog(
    src_path: str | Path,
    dst_path: str | Path,
    *,
    drivers: Sequence[str] = DEFAULT_DRIVERS,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> ConversionResult:
    """Rewrite the raster at ``src_path`` as a COG at ``dst_path``."""
    started = time.perf_counter()
    source = RasterSource(src_path, drivers=tuple(drivers))
    path = source.path()
    out = check_output(dst_path, [source])
    tracker = ProgressTracker(progress, [("copy", 0.95), ("write", 0.05)])
    with open_dataset(path, drivers=drivers) as probe:
        grid = Grid(probe.crs, probe.transform, probe.width, probe.height)
        frame = Frame(probe.height, probe.width, tuple(probe.block_shapes[0]), grid)
        count, dtype, nodata = probe.count, probe.dtypes[0], probe.nodata
        names, tags, streamable = probe.descriptions, probe.tags(), _streamable(probe)
    if not streamable:
        tracker.update("copy", 0, 1, "converting with GDAL")
        gdal_convert_to_cog(path, out, drivers=drivers)
    else:
        _stream(path, drivers, out, frame, count, dtype, nodata, names, tags, tracker, workers)
    tracker.finish("COG written")
    return ConversionResult(
        OutputInfo.of(out, frame), count, str(dtype), os.path.getsize(out),
        time.perf_counter() - started,
    )  # fmt: skip


def _stream(
    path: str,
    drivers: Sequence[str],
    out: Path,
    frame: Frame,
    count: int,
    dtype: str,
    nodata: float | None,
    names: Sequence[str | None],
    tags: dict[str, str],
    tracker: ProgressTracker,
    workers: int | None,
) -> None:
    opener: Callable[[], Any] = lambda: _DatasetBlocks(open_dataset(path, drivers=drivers))  # noqa: E731
    windows = plan_windows(frame.height, frame.width, frame.block_shape)
    writer = open_cog(out, frame, count=count, dtype=dtype, nodata=nodata, band_names=names,
                      tags={k: v for k, v in tags.items() if k != "AREA_OR_POINT"})  # fmt: skip
    with run_environment(), writer, BlockRunner([opener], workers=workers) as runner:

        def work(readers: Sequence[Any], window: Window) -> None:
            writer.write(readers[0].read(window), window)

        done = 0

        def tick(_w: Window, _r: None) -> None:
            nonlocal done
            done += 1
            tracker.update("copy", done, len(windows), "copying blocks")

        runner.run(windows, work, tick)
        tracker.update("write", 0, 1, "writing the COG")
