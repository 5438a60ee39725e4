"""Uploaded GeoTIFFs: refused early when they are anything else, converted to COGs when not.

Checks, in order, before GDAL reads a pixel (SECURITY.md T3, T4, T5):

1. size: empty files and files over ``max_bytes`` are refused;
2. the first bytes must be a TIFF or BigTIFF header: a VRT, MRF, HDF5, PNG, PDF, NITF or HTML
   file named ``.tif`` is refused before GDAL sees it (415);
3. the file is opened with the GTiff driver only; its declared width x height x bands must fit
   ``max_pixels`` (413); it must have a CRS with an EPSG code, a real data type and at most
   :data:`MAX_BANDS` bands (422);
4. band names come from the mapping given (``red=1,green=2,...``), else from the band
   descriptions (common names, or product band ids with a sensor), else from the colour
   interpretation (red/green/blue); a file whose bands cannot be named is refused (422).

:func:`write_upload_cog` then rewrites the named bands block by block as a COG whose band
descriptions are the common names. A file that turns out damaged while it is read (truncated,
mutated) raises :class:`~terrascan.errors.InvalidInputError`, never a raw GDAL error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from affine import Affine
from rasterio.enums import ColorInterp
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from rasterio.warp import transform_bounds

from terrascan.errors import InvalidInputError, TooLargeError, UnsupportedFormatError
from terrascan.io.cog import CogWriter
from terrascan.io.grid import Bounds, Grid
from terrascan.io.raster import Raster
from terrascan.io.scene import render_thumbnail
from terrascan.io.sensors import BAND_NAMES, check_band_name, parse_band_mapping
from terrascan.io.sources import open_dataset

__all__ = [
    "MAX_BANDS",
    "UploadPlan",
    "describe",
    "inspect_upload",
    "sniff_tiff",
    "upload_thumbnail",
    "write_upload_cog",
]

MAX_BANDS = 64
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_COLOUR_NAMES = {ColorInterp.red: "red", ColorInterp.green: "green", ColorInterp.blue: "blue"}


@attrs.frozen
class UploadPlan:
    """What an accepted upload holds: its grid, type and which file band is which name."""

    grid: Grid
    dtype: str
    nodata: float | None
    bands: tuple[tuple[str, int], ...]  # (common name, 1-based index in the file)
    epsg: int
    bounds_wgs84: Bounds

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.bands)


def sniff_tiff(path: Path, max_bytes: int) -> int:
    """Return the file's size after checking it is a non-empty (Big)TIFF within ``max_bytes``."""
    size = path.stat().st_size
    if size == 0:
        raise InvalidInputError("the uploaded file is empty")
    if size > max_bytes:
        raise TooLargeError(f"the uploaded file is {size:,} bytes, over the limit of {max_bytes:,}")
    with path.open("rb") as fh:
        head = fh.read(4)
    if head not in _TIFF_MAGIC:
        raise UnsupportedFormatError(
            "the uploaded file is not a GeoTIFF (only GeoTIFF is accepted)"
        )
    return size


def _open(path: Path, max_pixels: int) -> DatasetReader:
    try:
        return open_dataset(str(path), drivers=("GTiff",), max_pixels=max_pixels)
    except (InvalidInputError, TooLargeError, UnsupportedFormatError) as exc:
        # The same error, without the server's temporary path in its message.
        message = str(exc).replace(f"raster {path}", "the file").replace(str(path), "the file")
        raise type(exc)(message) from None
    except (RasterioError, OSError, ValueError, TypeError):
        raise InvalidInputError("the uploaded file is not a readable GeoTIFF") from None


def _names_from_file(src: DatasetReader) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, description in enumerate(src.descriptions, start=1):
        key = (description or "").strip().lower()
        if key in BAND_NAMES:
            found.setdefault(key, index)
    if found:
        return found
    for index, colour in enumerate(src.colorinterp, start=1):
        if colour in _COLOUR_NAMES:
            found.setdefault(_COLOUR_NAMES[colour], index)
    return found


def _band_plan(
    src: DatasetReader, mapping: str | Mapping[str, int] | None
) -> tuple[tuple[str, int], ...]:
    if mapping:
        indexes = parse_band_mapping(mapping) if isinstance(mapping, str) else dict(mapping)
        for name, index in indexes.items():
            check_band_name(name)
            if not isinstance(index, int) or not 1 <= index <= src.count:
                raise InvalidInputError(
                    f"band {name}={index} is out of range: the file has {src.count} band(s)"
                )
    else:
        indexes = _names_from_file(src)
        if not indexes:
            raise InvalidInputError(
                "cannot tell which band is which: give a mapping such as "
                "'red=1,green=2,blue=3,nir=4' or set the band descriptions to common names"
            )
    return tuple(sorted(indexes.items(), key=lambda kv: kv[1]))


def inspect_upload(
    path: Path,
    *,
    max_bytes: int,
    max_pixels: int,
    mapping: str | Mapping[str, int] | None = None,
) -> UploadPlan:
    """Check an uploaded file (see the module) and return its :class:`UploadPlan`."""
    sniff_tiff(path, max_bytes)
    with _open(path, max_pixels) as src:
        if src.count > MAX_BANDS:
            raise InvalidInputError(f"the file has {src.count} bands; at most {MAX_BANDS}")
        dtype = np.dtype(src.dtypes[0])
        if dtype.kind not in "uif" or len(set(src.dtypes)) != 1:
            raise InvalidInputError(f"unsupported data type {src.dtypes[0]}")
        epsg = src.crs.to_epsg() if src.crs is not None else None
        if epsg is None:
            raise InvalidInputError("the file's coordinate reference system has no EPSG code")
        grid = Grid(src.crs, src.transform, src.width, src.height)
        try:
            west, south, east, north = transform_bounds(
                src.crs, "EPSG:4326", *grid.bounds, densify_pts=21
            )
        except Exception:
            raise InvalidInputError("the file's bounds cannot be placed on the globe") from None
        if not all(math.isfinite(v) for v in (west, south, east, north)):
            raise InvalidInputError("the file's bounds cannot be placed on the globe")
        return UploadPlan(
            grid, dtype.name, src.nodata, _band_plan(src, mapping), epsg, (west, south, east, north)
        )


def write_upload_cog(path: Path, plan: UploadPlan, out: Path) -> Path:
    """Write the plan's bands of ``path`` to a COG at ``out`` (descriptions = common names)."""
    indexes = [index for _, index in plan.bands]
    try:
        with (
            _open(path, max_pixels=2**62) as src,
            CogWriter(
                out,
                grid=plan.grid,
                count=len(indexes),
                dtype=plan.dtype,
                nodata=plan.nodata,
                band_names=plan.names,
            ) as writer,
        ):
            for window in writer.block_windows():
                writer.write(src.read(indexes, window=window), window)
    except RasterioError:
        out.unlink(missing_ok=True)
        raise InvalidInputError("the uploaded file is damaged or truncated") from None
    return out


def upload_thumbnail(cog: Path, plan: UploadPlan, size: int = 512) -> bytes:
    """A PNG thumbnail of the COG (read from its overviews at about ``size`` pixels)."""
    step = max(1, math.ceil(max(plan.grid.width, plan.grid.height) / size))
    shape = (math.ceil(plan.grid.height / step), math.ceil(plan.grid.width / step))
    with _open(cog, max_pixels=2**62) as src:
        data = src.read(out_shape=(src.count, *shape), masked=True).astype(np.float32)
    values = data.filled(np.nan)
    grid = plan.grid
    transform = grid.transform @ Affine.scale(step)
    return render_thumbnail(Raster(values, transform, grid.crs, plan.names), size)


def describe(plan: UploadPlan) -> dict[str, Any]:
    return {
        "names": list(plan.names),
        "indexes": [index for _, index in plan.bands],
        "dtype": plan.dtype,
        "nodata": None
        if plan.nodata is None
        else ("nan" if math.isnan(plan.nodata) else plan.nodata),
        "width": plan.grid.width,
        "height": plan.grid.height,
    }
