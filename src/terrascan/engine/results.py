"""What the engine's high-level functions return: small value objects with ``to_dict()``.

The CLI prints ``to_dict()`` for ``--json``; job runners store it as the result summary.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import attrs

from terrascan.core.change import ChangeSummary, TransitionMatrix
from terrascan.core.zonal import ZonalStatistics
from terrascan.engine.sources import Frame
from terrascan.engine.stats import RasterStatistics


def _clean(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


@attrs.frozen
class OutputInfo:
    """An output raster: path, size, CRS (``None`` for plain images) and pixel size."""

    path: Path
    width: int
    height: int
    crs: str | None
    resolution: tuple[float, float] | None

    @classmethod
    def of(cls, path: Path, frame: Frame) -> OutputInfo:
        grid = frame.grid
        crs = None
        if grid is not None:
            epsg = grid.crs.to_epsg()
            crs = f"EPSG:{epsg}" if epsg else grid.crs.to_string()
        return cls(path, frame.width, frame.height, crs, grid.res if grid else None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "width": self.width,
            "height": self.height,
            "crs": self.crs,
            "resolution": list(self.resolution) if self.resolution else None,
        }


@attrs.frozen
class IndexResult:
    """A spectral index written as a float32 COG (NaN nodata) and its statistics."""

    index: str
    output: OutputInfo
    statistics: RasterStatistics
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "output": self.output.to_dict(),
            "statistics": self.statistics.to_dict(),
            "seconds": round(self.seconds, 3),
        }


@attrs.frozen
class ChangeResult:
    """A change mask written as a uint8 COG (0 no change, 1 change, 255 nodata).

    ``summary`` holds the threshold and counts; ``score`` is where the difference / magnitude
    was written, if asked; ``transitions`` is the from-to matrix of post-classification.
    """

    output: OutputInfo
    summary: ChangeSummary
    index: str | None = None
    bands: tuple[str, ...] = ()
    score: Path | None = None
    direction: Path | None = None
    transitions: TransitionMatrix | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            **self.summary.to_dict(),
            "index": self.index,
            "bands": list(self.bands),
            "output": self.output.to_dict(),
            "score": str(self.score) if self.score else None,
            "direction": str(self.direction) if self.direction else None,
            "seconds": round(self.seconds, 3),
        }
        if self.transitions is not None:
            result["transitions"] = self.transitions.to_dict()
        return result


@attrs.frozen
class ZonalResult:
    """Statistics of one band per zone; ``ids`` are the zones' ids, in zone order."""

    band: str
    ids: tuple[Any, ...]
    statistics: ZonalStatistics
    seconds: float = 0.0

    def records(self) -> list[dict[str, Any]]:
        records = self.statistics.to_records()
        for record in records:
            record["zone"] = self.ids[int(record["zone"]) - 1]
        return records

    def to_dict(self) -> dict[str, Any]:
        return {"band": self.band, "zones": self.records(), "seconds": round(self.seconds, 3)}


@attrs.frozen
class CorrectionResult:
    """Dark-object subtraction: the dark value found per band and the corrected COG."""

    output: OutputInfo
    bands: tuple[str, ...]
    dark_values: tuple[float, ...]
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "dos",
            "output": self.output.to_dict(),
            "dark_values": dict(zip(self.bands, self.dark_values, strict=True)),
            "seconds": round(self.seconds, 3),
        }


@attrs.frozen
class QualityResult:
    """A quality mask (uint8: 0 usable, 1 masked, 255 nodata) or masked bands, with counts.

    ``cloud_fraction`` (Sentinel-2 SCL only) is cloudy / observed pixels, as
    :func:`terrascan.core.masks.scl_cloud_fraction` counts them.
    """

    output: OutputInfo
    quality_band: str
    bands: tuple[str, ...]
    pixels: int
    nodata_pixels: int
    masked_pixels: int
    cloud_fraction: float | None
    seconds: float = 0.0

    @property
    def masked_fraction(self) -> float | None:
        observed = self.pixels - self.nodata_pixels
        return self.masked_pixels / observed if observed else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "quality_band": self.quality_band,
            "bands": list(self.bands),
            "output": self.output.to_dict(),
            "pixels": self.pixels,
            "nodata_pixels": self.nodata_pixels,
            "masked_pixels": self.masked_pixels,
            "masked_fraction": self.masked_fraction,
            "cloud_fraction": _clean(self.cloud_fraction),
            "seconds": round(self.seconds, 3),
        }


@attrs.frozen
class CoregistrationResult:
    """The measured shift of the target (pixels, and map units when georeferenced) and the
    aligned COG."""

    output: OutputInfo
    band: str
    dy: float
    dx: float
    shift_x: float | None
    shift_y: float | None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "band": self.band,
            "dy_pixels": self.dy,
            "dx_pixels": self.dx,
            "shift_x": self.shift_x,
            "shift_y": self.shift_y,
            "output": self.output.to_dict(),
            "seconds": round(self.seconds, 3),
        }


@attrs.frozen
class ConversionResult:
    """A GeoTIFF rewritten as a COG."""

    output: OutputInfo
    count: int
    dtype: str
    bytes: int
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output.to_dict(),
            "count": self.count,
            "dtype": self.dtype,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
        }
