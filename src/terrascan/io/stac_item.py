"""Bands of a STAC item whose assets hold one band each (Earth Search, USGS Landsat).

The item may be a local JSON file (relative hrefs resolve against its folder) or a dict that was
already fetched and parsed (by the STAC client). Fetching items over HTTP is not done here.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from terrascan.errors import InvalidInputError, NotFoundError, TooLargeError
from terrascan.io.sensors import (
    QUALITY_BANDS,
    BandSpec,
    SensorProfile,
    check_band_name,
    scale_offset,
    sensor_for_item,
)
from terrascan.io.sources import BandRef, resolve_href

__all__ = ["MAX_ITEM_BYTES", "find_asset", "item_band_refs", "load_item"]

#: A STAC item larger than this is refused before it is parsed.
MAX_ITEM_BYTES = 16 * 1024 * 1024

_RASTER_TYPES = ("image/tiff", "image/geotiff", "application/x-geotiff")


def load_item(path: str | Path) -> dict[str, Any]:
    """Read and parse a STAC item from a local JSON file, within :data:`MAX_ITEM_BYTES`."""
    file = Path(path)
    try:
        size = file.stat().st_size
    except FileNotFoundError:
        raise NotFoundError(f"STAC item not found: {file}") from None
    if size > MAX_ITEM_BYTES:
        raise TooLargeError(f"STAC item {file} is {size:,} bytes, over {MAX_ITEM_BYTES:,}")
    try:
        item = json.loads(file.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{file} is not valid JSON: {exc}") from None
    return check_item(item)


def check_item(item: Any) -> dict[str, Any]:
    """Return ``item`` if it looks like a STAC item with assets."""
    if not isinstance(item, dict) or not isinstance(item.get("assets"), dict):
        raise InvalidInputError("not a STAC item: expected a JSON object with 'assets'")
    return item


def find_asset(
    item: Mapping[str, Any], name: str, sensor: SensorProfile | None
) -> tuple[str, Mapping[str, Any]]:
    """Return ``(asset key, asset)`` of the band ``name`` in ``item``.

    Looks at the sensor profile's asset key, then an asset keyed by the name itself, then a
    single-band raster asset whose ``eo:bands`` name or common name is ``name``.
    """
    assets: Mapping[str, Any] = item["assets"]
    keys = []
    if sensor is not None and sensor.has_band(name):
        keys.append(sensor.band(name).asset)
    keys.append(name)
    for key in keys:
        asset = assets.get(key)
        if isinstance(asset, dict) and isinstance(asset.get("href"), str):
            return key, asset
    matches = [
        (key, asset)
        for key, asset in assets.items()
        if isinstance(asset, dict) and _single_band_named(asset, name)
    ]
    matches.sort(key=lambda kv: not _is_geotiff(kv[1]))
    if matches:
        return matches[0]
    known = ", ".join(sorted(assets))
    raise InvalidInputError(
        f"item {item.get('id', '?')!r} has no asset for band {name!r}; its assets: {known}"
    )


def _single_band_named(asset: Mapping[str, Any], name: str) -> bool:
    bands = asset.get("eo:bands")
    if not isinstance(bands, list) or len(bands) != 1 or not isinstance(bands[0], dict):
        return False
    return name in (bands[0].get("name"), bands[0].get("common_name"))


def _is_geotiff(asset: Mapping[str, Any]) -> bool:
    media = str(asset.get("type", "")).lower()
    href = str(asset.get("href", "")).lower()
    return media.startswith(_RASTER_TYPES) or href.endswith((".tif", ".tiff"))


def _asset_nodata(asset: Mapping[str, Any]) -> float | None:
    bands = asset.get("raster:bands")
    if not isinstance(bands, list) or not bands or not isinstance(bands[0], dict):
        return None
    value = bands[0].get("nodata")
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.lower() in ("nan", "inf", "-inf"):
        return float(value)
    return None


def item_band_refs(
    item: Mapping[str, Any],
    bands: Sequence[str],
    *,
    sensor: SensorProfile | None = None,
    base: Path | None = None,
    allowed_hosts: Collection[str] = (),
    local_roots: Collection[str | Path] | None = None,
) -> list[BandRef]:
    """Return one :class:`BandRef` per requested band of ``item``.

    ``sensor`` defaults to the profile of the item's collection. Scale, offset and nodata come
    from the asset's ``raster:bands`` when present, else from the profile.
    """
    check_item(item)
    profile = sensor if sensor is not None else sensor_for_item(item)
    properties = item.get("properties")
    props: Mapping[str, Any] = properties if isinstance(properties, dict) else {}
    refs = []
    for name in bands:
        check_band_name(name)
        _key, asset = find_asset(item, name, profile)
        spec = _spec(profile, name)
        scale, offset = scale_offset(asset, spec, profile, props)
        nodata = _asset_nodata(asset)
        categorical = spec.categorical if spec is not None else name in QUALITY_BANDS
        path = resolve_href(
            asset["href"], base=base, allowed_hosts=allowed_hosts, local_roots=local_roots
        )
        refs.append(BandRef(name, path, 1, scale, offset, nodata, categorical))
    return refs


def _spec(profile: SensorProfile | None, name: str) -> BandSpec | None:
    if profile is None or not profile.has_band(name):
        return None
    return profile.band(name)
