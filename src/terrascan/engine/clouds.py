"""Cloud masks for Sentinel-2 Level-1C scenes, which carry no scene classification, with
s2cloudless (:mod:`terrascan.core.clouds`).

The model's ten bands are read onto one coarse grid (by default the grid of B01, 60 m for real
scenes, as the model's authors run it), the probability and the mask are computed there in
memory (1830 x 1830 pixels for a whole scene), and then either the mask is written as it is
(uint8: 0 clear, 1 cloud, 255 no observation) or, with ``apply``, those bands are written on
their own finest grid with NaN where the coarse mask says cloud (nearest neighbour).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from terrascan.core.clouds import (
    S2CLOUDLESS_BANDS,
    S2CLOUDLESS_NODATA,
    s2cloudless_mask,
    s2cloudless_probability,
)
from terrascan.core.masks import apply_mask
from terrascan.engine.output import check_output, open_cog
from terrascan.engine.progress import ProgressCallback
from terrascan.engine.results import OutputInfo, QualityResult
from terrascan.engine.session import Session
from terrascan.engine.sources import BandMapping, BlockReader, Frame, SourceLike, as_source
from terrascan.errors import InvalidInputError
from terrascan.io.grid import Grid

__all__ = ["detect_clouds"]

#: Largest coarse grid the model runs on in memory (a whole scene at 60 m is 3.3 Mpx).
MAX_MODEL_PIXELS = 16_000_000


def _model_grid(opener_grid: Grid, resolution: float | None) -> Grid:
    grid = opener_grid.reprojected(None, resolution) if resolution is not None else opener_grid
    if grid.width * grid.height > MAX_MODEL_PIXELS:
        raise InvalidInputError(
            f"the cloud model grid would be {grid.width} x {grid.height} pixels; "
            "choose a coarser --resolution"
        )
    return grid


def detect_clouds(
    source: SourceLike,
    out_path: str | Path,
    *,
    resolution: float | None = None,
    apply: Sequence[str] = (),
    bands: BandMapping | None = None,
    sensor: str | None = None,
    threshold: float = 0.4,
    average_over: int = 4,
    dilation_size: int = 2,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> QualityResult:
    """Detect clouds with s2cloudless and write the mask, or ``apply`` it to bands.

    ``resolution`` is the model grid's pixel size in the source CRS units (default: B01's).
    """
    started = time.perf_counter()
    src = as_source(source, mapping=bands, sensor=sensor)
    out = check_output(out_path, [src])
    names = list(dict.fromkeys(apply))
    # Applying the mask reports through the block session; writing the mask alone, from here.
    report = progress if progress is not None and not names else (lambda *_: None)

    probe = src.opener(["coastal"])()
    try:
        grid = _model_grid(probe.grid, resolution)  # type: ignore[attr-defined]
    finally:
        probe.close()
    reader = src.opener(list(S2CLOUDLESS_BANDS), grid=grid)()
    try:
        data = reader.read()
    finally:
        reader.close()
    report(0.3, "cloud probability")
    stack = np.stack([data[name] for name in S2CLOUDLESS_BANDS])
    mask = s2cloudless_mask(
        s2cloudless_probability(stack),
        threshold=threshold,
        average_over=average_over,
        dilation_size=dilation_size,
    )
    observed = mask != S2CLOUDLESS_NODATA
    cloudy = int(np.count_nonzero(mask == 1))
    nodata = int(mask.size - np.count_nonzero(observed))
    fraction = cloudy / (mask.size - nodata) if mask.size > nodata else math.nan
    report(0.6, "writing")

    if not names:
        frame = Frame(grid.height, grid.width, (512, 512), grid)
        with open_cog(
            out, frame, count=1, dtype="uint8", nodata=S2CLOUDLESS_NODATA,
            band_names=["cloud"], resampling="nearest",
        ) as writer:  # fmt: skip
            writer.write(mask[np.newaxis])
        report(1.0, "cloud mask written")
        return QualityResult(
            OutputInfo.of(out, frame), "s2cloudless", (), mask.size, nodata, cloudy, fraction,
            time.perf_counter() - started,
        )  # fmt: skip

    with Session([src.opener(names)], [src.label], progress=progress,
                 stages=[("mask", 0.95), ("write", 0.05)], workers=workers) as s:  # fmt: skip
        fine = s.frame.grid
        if fine is None or fine.crs != grid.crs:  # nearest_indexes needs one CRS
            raise InvalidInputError("the bands to mask must share the cloud model's CRS")
        with open_cog(
            out, s.frame, count=len(names), dtype="float32", nodata=math.nan, band_names=names
        ) as writer:

            def work(readers: Sequence[BlockReader], window: Window) -> None:
                block = readers[0].read(window)
                rows, cols = grid.nearest_indexes(fine, window)
                cloud = mask[np.ix_(rows, cols)] == 1
                values = np.stack([block[name] for name in names])
                writer.write(apply_mask(values, cloud, out=values), window)

            done = 0

            def collect(_w: Window, _part: None) -> None:
                nonlocal done
                done += 1
                s.tracker.update("mask", done, len(s.windows), "masking")

            s.runner.run(s.windows, work, collect)
            s.tracker.update("write", 0, 1, "writing the COG")
        s.tracker.finish("cloud-masked bands written")
        frame = s.frame
    return QualityResult(
        OutputInfo.of(out, frame), "s2cloudless", tuple(names), mask.size, nodata, cloudy,
        fraction, time.perf_counter() - started,
    )  # fmt: skip
