"""Spectral indices over whole scenes: read the bands block by block, compute, write a COG."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from rasterio.windows import Window

from terrascan.core.indices import get_index
from terrascan.engine.output import check_output, open_cog
from terrascan.engine.progress import ProgressCallback
from terrascan.engine.results import IndexResult, OutputInfo
from terrascan.engine.session import Session
from terrascan.engine.sources import BandMapping, BlockReader, SourceLike, as_source, frame_of
from terrascan.engine.stats import RasterStatistics
from terrascan.errors import InvalidInputError


def compute_index(
    source: SourceLike,
    index_name: str,
    out_path: str | Path,
    *,
    bands: BandMapping | None = None,
    sensor: str | None = None,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> IndexResult:
    """Compute spectral index ``index_name`` (ndvi, ndwi, ndbi, evi, nbr) of ``source`` into
    a float32 COG at ``out_path`` (NaN nodata; the input's CRS and transform).

    ``source`` is a raster file, a local STAC item (path or parsed) or a
    :class:`~terrascan.engine.sources.RasterSource`; ``bands`` maps common names to file bands
    (``"red=3,nir=4"``) and ``sensor`` names a profile for asset keys and scale/offset.
    Reflectance (scale and offset applied) goes into :mod:`terrascan.core.indices`.
    """
    started = time.perf_counter()
    definition = get_index(index_name)
    src = as_source(source, mapping=bands, sensor=sensor)
    out = check_output(out_path, [src])
    opener = src.opener(list(definition.bands))
    stages = [("compute", 0.9), ("write", 0.1)]
    with Session([opener], [src.label], progress=progress, stages=stages, workers=workers) as s:
        writer = open_cog(
            out, s.frame, count=1, dtype="float32", nodata=math.nan, band_names=[definition.name]
        )
        with writer:

            def work(readers: Sequence[BlockReader], window: Window) -> RasterStatistics:
                values = definition.compute(readers[0].read(window))
                writer.write(values[np.newaxis], window)
                return RasterStatistics.of(values)

            stats = RasterStatistics()
            done = 0

            def collect(_window: Window, part: RasterStatistics) -> None:
                nonlocal stats, done
                stats = stats.merge(part)
                done += 1
                s.tracker.update("compute", done, len(s.windows), f"{definition.name}")

            s.runner.run(s.windows, work, collect)
            s.tracker.update("write", 0, 1, "writing the COG")
        s.tracker.finish(f"{definition.name} written")
        return IndexResult(
            definition.name, OutputInfo.of(out, s.frame), stats, time.perf_counter() - started
        )


# --------------------------------------------------------------------------- split runs
# A scene-sized index can be split into row bands computed apart (by different workers) and
# merged into one COG; the merged file is the same as compute_index's, pixel for pixel.


def index_rows(
    source: SourceLike,
    index_name: str,
    rows: tuple[int, int],
    *,
    bands: BandMapping | None = None,
    sensor: str | None = None,
) -> npt.NDArray[np.float32]:
    """Index ``index_name`` over rows ``rows[0]:rows[1]`` of ``source`` (float32, NaN nodata),
    read in tile-high strips so memory stays at the part's output plus one strip."""
    definition = get_index(index_name)
    src = as_source(source, mapping=bands, sensor=sensor)
    reader = src.opener(list(definition.bands))()
    try:
        frame = frame_of(reader)
        top, bottom = rows
        if not 0 <= top < bottom <= frame.height:
            raise InvalidInputError(f"rows {top}:{bottom} are outside 0:{frame.height}")
        out = np.empty((bottom - top, frame.width), np.float32)
        step = max(1, frame.block_shape[0])
        for row in range(top, bottom, step):
            height = min(step, bottom - row)
            window = Window(0, row, frame.width, height)
            out[row - top : row - top + height] = definition.compute(reader.read(window))
        return out
    finally:
        reader.close()


def merge_index_parts(
    like: SourceLike,
    index_name: str,
    parts: Iterable[tuple[int, npt.NDArray[np.float32]]],
    out_path: str | Path,
    *,
    bands: BandMapping | None = None,
    sensor: str | None = None,
) -> IndexResult:
    """Write row bands ``(first row, values)`` of an index of ``like`` as one COG on its grid.

    Bands come in row order, each starting where the last ended, on a multiple of 512 (the COG's
    tile height) but for the end, as ``terrascan.jobs.fanout.split_rows(..., align=512)`` plans
    them.
    """
    started = time.perf_counter()
    definition = get_index(index_name)
    src = as_source(like, mapping=bands, sensor=sensor)
    out = check_output(out_path, [src])
    reader = src.opener(list(definition.bands))()
    try:
        frame = frame_of(reader)
    finally:
        reader.close()
    stats = RasterStatistics()
    covered = 0
    with open_cog(
        out, frame, count=1, dtype="float32", nodata=math.nan, band_names=[definition.name]
    ) as writer:
        for top, values in parts:
            if values.ndim != 2 or values.shape[1] != frame.width or top != covered:
                raise InvalidInputError(
                    f"part at row {top} does not fit the output grid (next row: {covered})"
                )
            writer.write(values[np.newaxis], Window(0, top, frame.width, values.shape[0]))
            stats = stats.merge(RasterStatistics.of(values))
            covered += values.shape[0]
    if covered != frame.height:
        raise InvalidInputError(f"the parts cover {covered} of {frame.height} rows")
    return IndexResult(
        definition.name, OutputInfo.of(out, frame), stats, time.perf_counter() - started
    )
