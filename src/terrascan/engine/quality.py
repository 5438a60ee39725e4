"""Quality masking over whole scenes: Sentinel-2 SCL classes or Landsat QA_PIXEL bits.

Without bands to mask, the output is the mask itself (uint8: 0 usable, 1 masked, 255 no
observation); with bands, those bands as float32 with NaN where the pixel is masked. The
counts (and, for SCL, the cloud fraction as :func:`~terrascan.core.masks.scl_cloud_fraction`
defines it) are merged over blocks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from rasterio.windows import Window

from terrascan.core.masks import (
    QA_DEFAULT_INVALID_BITS,
    SCL_CLOUD,
    SCL_NO_OBSERVATION,
    QaPixelBit,
    apply_mask,
    qa_pixel_invalid_mask,
    scl_invalid_mask,
)
from terrascan.engine.output import check_output, open_cog
from terrascan.engine.progress import ProgressCallback
from terrascan.engine.results import OutputInfo, QualityResult
from terrascan.engine.session import Session
from terrascan.engine.sources import (
    BandMapping,
    BlockReader,
    RasterSource,
    SourceLike,
    as_source,
)
from terrascan.errors import InvalidInputError
from terrascan.io.sensors import sensor_for_item
from terrascan.io.stac_item import load_item

QUALITY_BANDS = ("scl", "qa_pixel")
_SCL_CLOUD = np.isin(np.arange(256), sorted(SCL_CLOUD))
_SCL_NO_OBSERVATION = np.isin(np.arange(256), sorted(SCL_NO_OBSERVATION))


@attrs.frozen
class _Counts:
    pixels: int = 0
    nodata: int = 0
    masked: int = 0
    cloudy: int = 0
    observed: int = 0

    def merge(self, other: _Counts) -> _Counts:
        return _Counts(
            *(a + b for a, b in zip(attrs.astuple(self), attrs.astuple(other), strict=True))
        )


def _quality_values(values: npt.NDArray[np.float32], band: str) -> npt.NDArray[Any]:
    """The quality band as integers; nodata (NaN) becomes SCL class 0 / the QA fill bit."""
    missing = ~np.isfinite(values)
    if band == "scl":
        return np.where(missing, 0, np.clip(values, 0, 255)).astype(np.uint8)
    fill = 1 << QaPixelBit.FILL
    return np.where(missing, fill, np.clip(values, 0, 65535)).astype(np.uint16)


def mask_quality(
    source: SourceLike,
    out_path: str | Path,
    *,
    quality_band: str | None = None,
    apply: Sequence[str] = (),
    bands: BandMapping | None = None,
    sensor: str | None = None,
    include_snow: bool = False,
    qa_bits: Sequence[int] | None = None,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> QualityResult:
    """Mask clouds, shadows, cirrus, saturation and no-data using ``quality_band`` (``scl`` or
    ``qa_pixel``; the sensor's quality band by default).

    Writes the mask (uint8 0/1/255) or, with ``apply``, those bands with NaN where masked.
    ``include_snow`` masks snow too; ``qa_bits`` overrides the QA_PIXEL bits masked.
    """
    started = time.perf_counter()
    src = as_source(source, mapping=bands, sensor=sensor)
    band = _quality_band(quality_band, src.sensor or _item_collection(src))
    names = [b for b in dict.fromkeys(apply) if b != band]
    out = check_output(out_path, [src])
    with Session([src.opener([band, *names])], [src.label], progress=progress,
                 stages=[("mask", 0.95), ("write", 0.05)], workers=workers) as s:  # fmt: skip
        if names:
            writer = open_cog(
                out, s.frame, count=len(names), dtype="float32", nodata=math.nan,
                band_names=names,
            )  # fmt: skip
        else:
            writer = open_cog(
                out, s.frame, count=1, dtype="uint8", nodata=255, band_names=["masked"],
                resampling="nearest",
            )  # fmt: skip
        with writer:

            def work(readers: Sequence[BlockReader], window: Window) -> _Counts:
                data = readers[0].read(window)
                quality = _quality_values(data[band], band)
                if band == "scl":
                    invalid = scl_invalid_mask(quality, include_snow=include_snow)
                    none = _SCL_NO_OBSERVATION[quality]
                    cloudy = int(np.count_nonzero(_SCL_CLOUD[quality]))
                else:
                    bits = qa_bits if qa_bits is not None else _default_bits(include_snow)
                    invalid = qa_pixel_invalid_mask(quality, bits)
                    none = qa_pixel_invalid_mask(quality, [QaPixelBit.FILL])
                    cloudy = 0
                if names:
                    stack = np.stack([data[name] for name in names])
                    writer.write(apply_mask(stack, invalid, out=stack), window)
                else:
                    mask = invalid.astype(np.uint8)
                    mask[none] = 255
                    writer.write(mask[np.newaxis], window)
                nodata = int(np.count_nonzero(none))
                masked = int(np.count_nonzero(invalid & ~none))
                return _Counts(quality.size, nodata, masked, cloudy, quality.size - nodata)

            counts = _Counts()
            done = 0

            def collect(_w: Window, part: _Counts) -> None:
                nonlocal counts, done
                counts = counts.merge(part)
                done += 1
                s.tracker.update("mask", done, len(s.windows), "masking")

            s.runner.run(s.windows, work, collect)
            s.tracker.update("write", 0, 1, "writing the COG")
        s.tracker.finish("quality mask written")
    cloud = None
    if band == "scl":
        cloud = counts.cloudy / counts.observed if counts.observed else math.nan
    return QualityResult(
        OutputInfo.of(out, s.frame), band, tuple(names), counts.pixels, counts.nodata,
        counts.masked, cloud, time.perf_counter() - started,
    )  # fmt: skip


def _default_bits(include_snow: bool) -> list[int]:
    bits = [int(b) for b in QA_DEFAULT_INVALID_BITS]
    return [*bits, int(QaPixelBit.SNOW)] if include_snow else bits


def _item_collection(source: RasterSource) -> str | None:
    """The sensor profile of a STAC item's collection, if the source is an item."""
    if not source.is_item:
        return None
    item = source.source if isinstance(source.source, Mapping) else load_item(source.source)
    profile = sensor_for_item(item)
    return profile.name if profile is not None else None


def _quality_band(band: str | None, sensor: str | None) -> str:
    if band is None:
        if sensor is None:
            raise InvalidInputError("name the quality band (scl or qa_pixel) or a sensor")
        band = "qa_pixel" if sensor.startswith("landsat") else "scl"
    if band not in QUALITY_BANDS:
        raise InvalidInputError(f"quality band must be scl or qa_pixel, got {band!r}")
    return band
