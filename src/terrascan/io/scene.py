"""One STAC scene over an area of interest: read, mask, correct, write as a COG + thumbnail.

:func:`read_scene` reads only the requested bands and only the AOI window (HTTP range requests
through :class:`~terrascan.io.remote.HttpRangeOpener`, or GDAL's ``/vsis3/`` for ``s3://``
assets, requester-pays), onto the grid of the finest requested band:

1. scale and offset from the item's ``raster:bands`` (else the sensor profile);
2. the quality band (Sentinel-2 ``scl``, Landsat ``qa_pixel``) read with nearest-neighbour;
   masked pixels (clouds, shadows, cirrus, saturation, no data) become NaN in every band.
   Sentinel-2 L1C has no quality band: when the item has the ten bands s2cloudless needs,
   its cloud mask (computed on the 60 m grid of B01) takes that place;
3. when an AOI polygon is given, pixels of the window whose centre lies outside it become NaN
   too (:func:`aoi_mask`), and the statistics below count only the pixels inside it;
4. dark-object subtraction for top-of-atmosphere products (Sentinel-2 L1C, Landsat Level-1);
5. cloud cover over the AOI from the quality band (percent of observed pixels).

:func:`write_scene` writes the bands as one float32 COG (NaN nodata, band descriptions = the
common names) and an RGBA PNG thumbnail.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.features import geometry_mask
from rasterio.io import MemoryFile
from rasterio.warp import transform_bounds, transform_geom

from terrascan.core.clouds import (
    S2CLOUDLESS_BANDS,
    S2CLOUDLESS_NODATA,
    s2cloudless_mask,
    s2cloudless_probability,
)
from terrascan.core.correction import dark_object_subtraction
from terrascan.core.masks import (
    QaPixelBit,
    qa_pixel_invalid_mask,
    scl_cloud_fraction,
    scl_invalid_mask,
)
from terrascan.errors import InvalidInputError
from terrascan.io.cog import write_raster_cog
from terrascan.io.grid import Bounds, Grid
from terrascan.io.raster import MultiBandReader, Raster
from terrascan.io.remote import HttpRangeOpener, RemoteDatasetPool, RemoteLimits
from terrascan.io.sensors import SensorProfile, check_band_name, sensor_for_item
from terrascan.io.sources import BandRef, check_pixel_budget
from terrascan.io.stac_item import check_item, item_band_refs

__all__ = [
    "DEFAULT_BANDS",
    "TOA_COLLECTIONS",
    "AssetAccess",
    "SceneProduct",
    "aoi_mask",
    "default_bands",
    "quality_mask",
    "read_scene",
    "render_thumbnail",
    "write_scene",
]

ProgressFn = Callable[[float, str], None]

#: Bands read when none are named: enough for true/false colour and every built-in index.
DEFAULT_BANDS: tuple[str, ...] = ("blue", "green", "red", "nir", "swir16", "swir22")
#: Collections holding top-of-atmosphere reflectance, corrected by dark-object subtraction.
TOA_COLLECTIONS = frozenset({"sentinel-2-l1c", "landsat-c2-l1"})
#: The quality "band" of Sentinel-2 L1C scenes: the s2cloudless mask, computed at ingest.
S2CLOUDLESS = "s2cloudless"
#: Output pixels (width x height x bands) above which a read is refused before it starts.
DEFAULT_MAX_PIXELS = 400_000_000
THUMBNAIL_SIZE = 512

_QA_CLOUD_BITS = (QaPixelBit.DILATED_CLOUD, QaPixelBit.CIRRUS, QaPixelBit.CLOUD)
_AWS_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)


def _as_hosts(hosts: Iterable[str]) -> tuple[str, ...]:
    return tuple(str(h) for h in hosts)


@attrs.frozen
class AssetAccess:
    """Where assets may be read from and how.

    ``allowed_hosts``: HTTP hosts (``host`` or ``host:port``) and S3 buckets. ``s3://`` assets
    are read through GDAL with ``AWS_REQUEST_PAYER=requester`` when ``requester_pays`` (Earth
    Search's Landsat bucket needs it) and AWS credentials from the usual environment;
    ``s3_options`` adds GDAL options for them (an endpoint, a region).
    """

    allowed_hosts: tuple[str, ...] = attrs.field(converter=_as_hosts)
    requester_pays: bool = True
    s3_options: Mapping[str, str] = attrs.field(factory=dict)
    limits: RemoteLimits = attrs.field(factory=RemoteLimits)
    max_pixels: int = DEFAULT_MAX_PIXELS

    @property
    def host_names(self) -> tuple[str, ...]:
        """The allow-list without ports, as :func:`~terrascan.io.sources.resolve_href` wants."""
        return tuple(
            sorted({h.rsplit(":", 1)[0] if h.count(":") == 1 else h for h in self.allowed_hosts})
        )

    def s3_env(self) -> dict[str, str]:
        options = dict(self.s3_options)
        if self.requester_pays:
            options.setdefault("AWS_REQUEST_PAYER", "requester")
        return options


@attrs.frozen(eq=False)
class SceneProduct:
    """The bands of one scene over one AOI, ready to store."""

    raster: Raster  # float32 (band, row, col), NaN = no data or masked
    collection: str
    quality_band: str | None
    cloud_cover: float | None  # percent of observed AOI pixels that are cloud
    valid_fraction: float  # share of AOI pixels left valid after masking
    dark_values: Mapping[str, float]  # dark-object values subtracted, per band (TOA only)
    requests: int
    bytes_fetched: int

    @property
    def bounds_wgs84(self) -> Bounds:
        west, south, east, north = transform_bounds(
            self.raster.crs, "EPSG:4326", *self.raster.bounds, densify_pts=21
        )
        return float(west), float(south), float(east), float(north)


def default_bands(sensor: SensorProfile | None) -> tuple[str, ...]:
    if sensor is None:
        return ("blue", "green", "red", "nir")
    return tuple(b for b in DEFAULT_BANDS if sensor.has_band(b))


def _check_bands(bands: Sequence[str] | None, sensor: SensorProfile | None) -> tuple[str, ...]:
    chosen = tuple(bands) if bands else default_bands(sensor)
    if not chosen or len(chosen) > 20:
        raise InvalidInputError("give between 1 and 20 bands")
    for name in chosen:
        check_band_name(name)
    if len(set(chosen)) != len(chosen):
        raise InvalidInputError(f"bands repeat: {', '.join(chosen)}")
    return chosen


def _quality_band(
    item: Mapping[str, Any], sensor: SensorProfile | None, bands: Sequence[str]
) -> str | None:
    if sensor is None or sensor.quality is None or sensor.quality in bands:
        return None
    asset = sensor.band(sensor.quality).asset
    return sensor.quality if isinstance(item["assets"].get(asset), dict) else None


def _check_s3_credentials(refs: Sequence[BandRef]) -> None:
    if not any(ref.path.startswith("/vsis3/") for ref in refs):
        return
    home_credentials = Path(os.path.expanduser("~/.aws/credentials"))
    if any(os.environ.get(v) for v in _AWS_CREDENTIAL_VARIABLES) or home_credentials.is_file():
        return
    raise InvalidInputError(
        "this item's assets are in a requester-pays S3 bucket: set AWS credentials "
        "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE) to read them"
    )


def aoi_mask(aoi: Mapping[str, Any], grid: Grid) -> npt.NDArray[np.bool_]:
    """True for the pixels of ``grid`` whose centre lies inside ``aoi`` (a GeoJSON geometry in
    EPSG:4326, reprojected vertex by vertex); an AOI too small to hold any pixel centre keeps
    the pixels it touches instead."""
    projected = transform_geom("EPSG:4326", grid.crs, dict(aoi))
    shape = (grid.height, grid.width)
    outside: npt.NDArray[np.bool_] = geometry_mask(
        [projected], out_shape=shape, transform=grid.transform
    )
    if outside.all():
        outside = geometry_mask(
            [projected], out_shape=shape, transform=grid.transform, all_touched=True
        )
    return ~outside


def read_scene(
    item: Mapping[str, Any],
    bounds: Bounds,
    *,
    access: AssetAccess,
    bands: Sequence[str] | None = None,
    aoi: Mapping[str, Any] | None = None,
    progress: ProgressFn | None = None,
) -> SceneProduct:
    """Read ``bands`` of ``item`` over ``bounds`` (W, S, E, N in EPSG:4326), masked outside
    ``aoi`` (a GeoJSON polygon in EPSG:4326) when it is given; see the module."""
    check_item(dict(item))
    report = progress or (lambda pct, msg: None)
    sensor = sensor_for_item(item)
    chosen = _check_bands(bands, sensor)
    quality = _quality_band(item, sensor, chosen)
    names = [*chosen, quality] if quality else list(chosen)
    refs = item_band_refs(item, names, sensor=sensor, allowed_hosts=access.host_names)
    _check_s3_credentials(refs)
    report(5.0, "opening assets")
    with (
        HttpRangeOpener(access.allowed_hosts, access.limits) as opener,
        rasterio.Env(**access.s3_env()),
    ):
        pool = RemoteDatasetPool(opener)
        with MultiBandReader(refs, pool, bounds=bounds, bounds_crs="EPSG:4326") as reader:
            grid = reader.grid
            check_pixel_budget(
                grid.width, grid.height, len(refs), access.max_pixels, "the AOI window"
            )
            data = _read_blocks(reader, report)
        quality_values = data[len(chosen)] if quality else None
        if quality is None and _cloud_model_applies(item, sensor):
            report(72.0, "detecting clouds (s2cloudless)")
            quality_values = _s2cloudless_quality(item, sensor, pool, grid, access)
            quality = S2CLOUDLESS
        requests, fetched = opener.requests, opener.bytes_received
    report(75.0, "masking")
    product_bands = data[: len(chosen)]
    inside = aoi_mask(aoi, grid) if aoi is not None else None
    cloud, valid = _apply_quality(product_bands, quality_values, quality, inside)
    darks = _dark_objects(product_bands, chosen, sensor) if _is_toa(item) else {}
    raster = Raster(product_bands, grid.transform, grid.crs, chosen)
    return SceneProduct(
        raster, str(item.get("collection") or ""), quality, cloud, valid, darks, requests, fetched
    )


def _read_blocks(reader: MultiBandReader, report: ProgressFn) -> npt.NDArray[np.float32]:
    grid = reader.grid
    data = np.empty((len(reader.refs), grid.height, grid.width), np.float32)
    windows = list(reader.block_windows())
    for done, window in enumerate(windows, start=1):
        arrays = reader.read(window)
        rows = slice(int(window.row_off), int(window.row_off + window.height))
        cols = slice(int(window.col_off), int(window.col_off + window.width))
        for index, name in enumerate(reader.band_names):
            data[index, rows, cols] = arrays[name]
        report(10.0 + 60.0 * done / len(windows), f"read block {done}/{len(windows)}")
    return data


def quality_mask(
    quality: npt.NDArray[Any], name: str
) -> tuple[npt.NDArray[np.bool_], float | None]:
    """``(invalid pixels, cloud cover in percent of the observed pixels)`` of a quality band:
    Sentinel-2 ``scl`` (classes) or Landsat ``qa_pixel`` (bits). NaN reads as no data (SCL
    class 0, the QA fill bit); the cover is ``None`` when nothing was observed."""
    if name == "scl":
        classes = np.where(np.isnan(quality), 0, quality).astype(np.uint8)
        invalid = scl_invalid_mask(classes)
        fraction = scl_cloud_fraction(classes)
    elif name == S2CLOUDLESS:  # 0 clear, 1 cloud, NaN no observation
        observed = np.isfinite(quality)
        invalid = ~observed | (quality == 1)
        total = int(observed.sum())
        fraction = int(np.count_nonzero(quality == 1)) / total if total else math.nan
    elif name == "qa_pixel":  # outside the data counts as fill
        bits = np.where(np.isnan(quality), 1, quality).astype(np.uint16)
        invalid = qa_pixel_invalid_mask(bits)
        fraction = _qa_cloud_fraction(bits)
    else:
        raise InvalidInputError(f"unknown quality band {name!r}; use scl or qa_pixel")
    return invalid, None if math.isnan(fraction) else round(100.0 * fraction, 3)


def _cloud_model_applies(item: Mapping[str, Any], sensor: SensorProfile | None) -> bool:
    """Sentinel-2 L1C (no scene classification) with every band s2cloudless needs."""
    if sensor is None or sensor.name != "sentinel-2-l1c":
        return False
    assets = item.get("assets") or {}
    return all(
        sensor.has_band(name) and isinstance(assets.get(sensor.band(name).asset), dict)
        for name in S2CLOUDLESS_BANDS
    )


def _s2cloudless_quality(
    item: Mapping[str, Any],
    sensor: SensorProfile | None,
    pool: RemoteDatasetPool,
    grid: Grid,
    access: AssetAccess,
) -> npt.NDArray[np.float32]:
    """s2cloudless's mask over ``grid`` (0 clear, 1 cloud, NaN no observation), computed on
    the grid of B01 (60 m; the model's authors run it at 60-160 m) and taken back to
    ``grid`` by nearest neighbour."""
    refs = item_band_refs(
        item, list(S2CLOUDLESS_BANDS), sensor=sensor, allowed_hosts=access.host_names
    )
    coarse_res = max(_native_res(pool, ref) for ref in refs)
    model_grid = grid.reprojected(None, coarse_res)
    with MultiBandReader(refs, pool, grid=model_grid) as reader:
        stack = _read_blocks(reader, lambda pct, msg: None)
    mask = s2cloudless_mask(s2cloudless_probability(stack)).astype(np.float32)
    mask[mask == S2CLOUDLESS_NODATA] = np.nan
    rows, cols = model_grid.nearest_indexes(grid)
    return mask[np.ix_(rows, cols)]


def _native_res(pool: RemoteDatasetPool, ref: BandRef) -> float:
    return float(pool.get(ref.path).res[0])


def _apply_quality(
    bands: npt.NDArray[np.float32],
    quality: npt.NDArray[np.float32] | None,
    name: str | None,
    inside: npt.NDArray[np.bool_] | None = None,
) -> tuple[float | None, float]:
    """Set masked pixels (and those outside the AOI) to NaN in place; return (cloud cover %
    over the AOI, valid fraction of the AOI's pixels)."""
    cloud: float | None = None
    if inside is not None:
        bands[:, ~inside] = np.nan
        if quality is not None:  # outside the AOI reads as "no data": not an observation
            quality[~inside] = np.nan
    if quality is not None and name is not None:
        invalid, cloud = quality_mask(quality, name)
        bands[:, invalid] = np.nan
    valid = np.all(np.isfinite(bands), axis=0)
    if inside is not None:
        valid = valid[inside]
    return cloud, float(valid.mean()) if valid.size else 0.0


def _qa_cloud_fraction(bits: npt.NDArray[np.uint16]) -> float:
    observed = (bits & (1 << QaPixelBit.FILL)) == 0
    cloudy = qa_pixel_invalid_mask(bits, _QA_CLOUD_BITS) & observed
    total = int(observed.sum())
    return int(cloudy.sum()) / total if total else float("nan")


def _is_toa(item: Mapping[str, Any]) -> bool:
    return str(item.get("collection") or "").lower() in TOA_COLLECTIONS


def _dark_objects(
    bands: npt.NDArray[np.float32], names: Sequence[str], sensor: SensorProfile | None
) -> dict[str, float]:
    """Dark-object subtraction in place on reflectance bands with valid pixels."""
    darks: dict[str, float] = {}
    for index, name in enumerate(names):
        spec = sensor.band(name) if sensor is not None and sensor.has_band(name) else None
        if spec is not None and spec.kind != "reflectance":
            continue
        if not np.isfinite(bands[index]).any():
            continue
        result = dark_object_subtraction(bands[index][np.newaxis])
        bands[index] = result.corrected[0]
        darks[name] = result.dark_values[0]
    return darks


def write_scene(product: SceneProduct, folder: Path) -> tuple[Path, Path]:
    """Write ``scene.tif`` (COG) and ``thumbnail.png`` into ``folder``; return both paths."""
    cog = write_raster_cog(folder / "scene.tif", product.raster)
    thumbnail = folder / "thumbnail.png"
    thumbnail.write_bytes(render_thumbnail(product.raster))
    return cog, thumbnail


def _rgb_indexes(names: Collection[str]) -> list[int]:
    order = list(names)
    if {"red", "green", "blue"} <= set(order):
        return [order.index("red"), order.index("green"), order.index("blue")]
    return [0, 0, 0]


def render_thumbnail(raster: Raster, max_size: int = THUMBNAIL_SIZE) -> bytes:
    """An RGBA PNG (true colour when red/green/blue exist, else the first band in grey),
    stretched between the 2nd and 98th percentiles; no data is transparent."""
    step = max(1, math.ceil(max(raster.width, raster.height) / max_size))
    rgb = raster.data[_rgb_indexes(raster.band_names)][:, ::step, ::step]
    valid = np.all(np.isfinite(rgb), axis=0)
    out = np.zeros((4, *rgb.shape[1:]), np.uint8)
    if valid.any():
        low, high = np.percentile(rgb[:, valid], [2, 98])
        scale = 255.0 / (high - low) if high > low else 0.0
        stretched = np.clip((np.nan_to_num(rgb) - low) * scale, 0, 255)
        out[:3] = np.where(valid, stretched, 0).astype(np.uint8)
    out[3] = np.where(valid, 255, 0).astype(np.uint8)
    with warnings.catch_warnings(), MemoryFile() as memfile:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with memfile.open(
            driver="PNG", width=out.shape[2], height=out.shape[1], count=4, dtype="uint8"
        ) as dst:
            dst.write(out)
        return bytes(memfile.read())
