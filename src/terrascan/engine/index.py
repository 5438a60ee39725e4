"""Spectral indices over whole scenes: read the bands block by block, compute, write a COG."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from terrascan.core.indices import get_index
from terrascan.engine.output import check_output, open_cog
from terrascan.engine.progress import ProgressCallback
from terrascan.engine.results import IndexResult, OutputInfo
from terrascan.engine.session import Session
from terrascan.engine.sources import BandMapping, BlockReader, SourceLike, as_source
from terrascan.engine.stats import RasterStatistics


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
