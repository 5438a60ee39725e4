"""Where an analysis looks: an AOI of the job's organisation (or a point) on a raster's grid.

:func:`clip_window` finds the window of a raster that an area covers (its bounding window,
rounded outwards to whole pixels and clipped to the raster) and which pixels of that window lie
inside the area (``rasterio.features.geometry_mask``: a pixel is inside when its centre is; a
point covers the one pixel that contains it). :func:`crop_to_area` writes that window of a
raster as float32 with NaN outside the area and where the source has no data, keeping band
names, scales and offsets, so the engine computes indices, changes and statistics over the area
alone.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from terrascan.catalog.repositories import AOIRepository
from terrascan.errors import InvalidInputError
from terrascan.jobs.context import JobContext

__all__ = ["Clip", "aoi_geometry", "clip_window", "crop_to_area"]


@dataclass(frozen=True)
class Clip:
    """The window of a raster an area covers and the area's pixels in it."""

    #: ``(col_off, row_off, width, height)`` in the raster's pixels, inside the raster.
    col_off: int
    row_off: int
    width: int
    height: int
    #: ``(height, width)``: True where the pixel lies inside the area.
    inside: npt.NDArray[np.bool_]

    @property
    def window(self) -> Any:
        from rasterio.windows import Window

        return Window(self.col_off, self.row_off, self.width, self.height)

    @property
    def pixels(self) -> int:
        """Pixels of the area on the raster (its part outside the raster not counted)."""
        return int(self.inside.sum())


def aoi_geometry(ctx: JobContext, aoi_id: uuid.UUID) -> BaseGeometry:
    """The polygon (EPSG:4326) of an AOI of the job's organisation; NotFoundError otherwise."""
    if ctx.catalog is None:
        raise InvalidInputError("an AOI needs the catalog")
    with ctx.catalog.session() as session:
        geometry: BaseGeometry = AOIRepository(session).get(aoi_id, org_id=ctx.org_id).geometry
    return geometry


def clip_window(src: Any, area: BaseGeometry) -> Clip:
    """The :class:`Clip` of ``area`` (EPSG:4326) on the open dataset ``src``; InvalidInputError
    when the area does not overlap the raster."""
    from rasterio.features import geometry_mask
    from rasterio.warp import transform_geom
    from rasterio.windows import transform as window_transform

    if src.crs is None:
        raise InvalidInputError("the raster has no coordinate reference system")
    projected = transform_geom("EPSG:4326", src.crs, mapping(area))
    if area.geom_type == "Point":
        x, y = projected["coordinates"][:2]
        col, row = (math.floor(v) for v in ~src.transform * (x, y))
        if not (0 <= col < src.width and 0 <= row < src.height):
            raise InvalidInputError("the point lies outside the raster")
        return Clip(col, row, 1, 1, np.ones((1, 1), dtype=bool))
    col0, row0, col1, row1 = _pixel_bounds(src, projected)
    col0, row0 = max(col0, 0), max(row0, 0)
    col1, row1 = min(col1, src.width), min(row1, src.height)
    if col1 <= col0 or row1 <= row0:
        raise InvalidInputError("the area does not overlap the raster")
    from rasterio.windows import Window

    win = Window(col0, row0, col1 - col0, row1 - row0)
    inside = geometry_mask(
        [projected],
        out_shape=(row1 - row0, col1 - col0),
        transform=window_transform(win, src.transform),
        invert=True,
    )
    if not inside.any():
        raise InvalidInputError("the area covers no pixel centre of the raster")
    return Clip(col0, row0, col1 - col0, row1 - row0, inside)


def _pixel_bounds(src: Any, geometry: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """The area's bounds as whole pixel columns and rows ``(col0, row0, col1, row1)``."""
    from shapely.geometry import shape

    west, south, east, north = shape(geometry).bounds
    inverse = ~src.transform
    cols, rows = zip(*(inverse * (x, y) for x in (west, east) for y in (south, north)), strict=True)
    return (
        math.floor(min(cols)),
        math.floor(min(rows)),
        math.ceil(max(cols)),
        math.ceil(max(rows)),
    )


def crop_to_area(
    path: str, out: Path, area: BaseGeometry, *, env: Mapping[str, Any] | None = None
) -> Clip:
    """Write the window of the GeoTIFF ``path`` that ``area`` covers to ``out``: every band as
    float32, NaN outside the area and where the source is masked (its nodata or mask band),
    with the source's band descriptions, scales and offsets."""
    import rasterio
    from rasterio.windows import transform as window_transform

    with rasterio.Env(**dict(env or {})), rasterio.open(path, driver="GTiff") as src:
        clip = clip_window(src, area)
        profile = {
            "driver": "GTiff",
            "width": clip.width,
            "height": clip.height,
            "count": src.count,
            "dtype": "float32",
            "crs": src.crs,
            "transform": window_transform(clip.window, src.transform),
            "nodata": math.nan,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
        }
        with rasterio.open(out, "w", **profile) as dst:
            for band in src.indexes:
                values = src.read(band, window=clip.window, masked=True)
                data = np.ma.filled(values.astype("float32"), np.nan)
                data[~clip.inside] = np.nan
                dst.write(data, band)
            dst.descriptions = src.descriptions
            dst.scales = src.scales
            dst.offsets = src.offsets
    return clip
