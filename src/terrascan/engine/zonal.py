"""Zonal statistics of one band over polygons, block by block.

Each block burns the zones that touch it into a label raster (:mod:`terrascan.io.zones`) and
keeps only the pixels inside a zone with a valid value, as (label, value) pairs; the pairs of
all blocks go through :func:`terrascan.core.zonal.zonal_statistics` once, which gives exact
medians and percentiles. Memory therefore grows with the number of pixels inside the zones
(8 bytes each), not with the scene; ``max_pixels`` bounds it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from rasterio.windows import Window

from terrascan.core.zonal import zonal_statistics
from terrascan.engine.progress import ProgressCallback
from terrascan.engine.results import ZonalResult
from terrascan.engine.session import Session
from terrascan.engine.sources import BandMapping, BlockReader, SourceLike, as_source
from terrascan.errors import InvalidInputError, TooLargeError
from terrascan.io.zones import load_zones, rasterize_zones

#: Most pixels (inside zones, with a valid value) gathered for exact statistics.
DEFAULT_MAX_ZONE_PIXELS = 200_000_000

Pairs = tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]


def zonal(
    source: SourceLike,
    zones_path: str | Path,
    band: str,
    *,
    bands: BandMapping | None = None,
    sensor: str | None = None,
    id_field: str | None = None,
    percentiles: Sequence[float] = (),
    progress: ProgressCallback | None = None,
    workers: int | None = None,
    max_pixels: int = DEFAULT_MAX_ZONE_PIXELS,
) -> ZonalResult:
    """Count, mean, median, std, min, max and ``percentiles`` of ``band`` in each polygon of
    the GeoJSON file ``zones_path`` (ids from ``id_field``, the feature id, or the position).

    ``band`` is a common name of ``source`` (mapped with ``bands`` or ``sensor``), or ``"1"``
    (the first band) for a single-band raster such as an index written by TerraScan.
    """
    started = time.perf_counter()
    qs = [float(q) for q in percentiles]
    if any(not 0 <= q <= 100 for q in qs):
        raise InvalidInputError(f"percentiles must lie in [0, 100], got {qs}")
    src = as_source(source, mapping=bands, sensor=sensor)
    if band.isdigit():
        if src.is_item:
            raise InvalidInputError("name the band of a STAC item, e.g. red")
        src = as_source(src, mapping={band: int(band)})
        opener = src.opener(None)
    else:
        opener = src.opener([band])
    with Session([opener], [src.label], progress=progress, stages=[("zones", 1.0)],
                 workers=workers) as s:  # fmt: skip
        grid = s.frame.grid
        if grid is None:
            raise InvalidInputError("zonal statistics need a georeferenced raster")
        zones = load_zones(zones_path, grid, id_field)
        name = s.band_names[0][0]
        parts: list[Pairs] = []
        gathered = 0

        def work(readers: Sequence[BlockReader], window: Window) -> Pairs:
            labels = rasterize_zones(zones, grid, window)
            values = readers[0].read(window)[name]
            keep = (labels > 0) & np.isfinite(values)
            return labels[keep], values[keep]

        done = 0

        def collect(_w: Window, pairs: Pairs) -> None:
            nonlocal gathered, done
            gathered += pairs[0].size
            if gathered > max_pixels:
                raise TooLargeError(
                    f"the zones cover more than {max_pixels:,} valid pixels; "
                    "use smaller zones or a coarser raster"
                )
            if pairs[0].size:
                parts.append(pairs)
            done += 1
            s.tracker.update("zones", done, len(s.windows), "gathering zone pixels")

        s.runner.run(s.windows, work, collect)
        labels = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int32)
        values = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.float32)
        statistics = zonal_statistics(
            values, labels, percentiles=qs, nodata_zone=0, zone_ids=range(1, len(zones) + 1)
        )
        s.tracker.finish("zonal statistics done")
    return ZonalResult(band, tuple(z.id for z in zones), statistics, time.perf_counter() - started)
