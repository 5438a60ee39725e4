"""Zones for zonal statistics: polygons from a GeoJSON file, burnt into label rasters.

A zone is a polygon or multipolygon feature; its id is the feature's ``id``, a property
chosen by the caller, or its 1-based position. GeoJSON coordinates are longitude/latitude
(RFC 7946); a legacy ``crs`` member naming ``EPSG:<code>`` (or its OGC URN) is honoured.
:func:`rasterize_zones` burns labels 1..N (0 outside every zone) for one window of a grid, so
the engine can label a scene block by block; where zones overlap, the later one wins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from rasterio.features import rasterize
from rasterio.warp import transform_geom
from rasterio.windows import Window

from terrascan.errors import InvalidInputError, NotFoundError, TooLargeError
from terrascan.io._threads import WARNINGS_LOCK
from terrascan.io.grid import Grid, parse_crs

__all__ = ["MAX_ZONES_BYTES", "Zone", "load_zones", "rasterize_zones"]

#: A zones file larger than this is refused before it is parsed.
MAX_ZONES_BYTES = 64 * 1024 * 1024
#: Most vertices accepted over all zones.
MAX_VERTICES = 5_000_000

_URN = re.compile(r"urn:ogc:def:crs:EPSG:[\d.]*:(\d+)", re.IGNORECASE)


@attrs.frozen
class Zone:
    """One zone: its id, its geometry (GeoJSON mapping, in the grid's CRS once projected) and
    its bounds (west, south, east, north)."""

    id: Any
    geometry: dict[str, Any]
    bounds: tuple[float, float, float, float]


def _crs_of(collection: dict[str, Any]) -> str:
    crs = collection.get("crs")
    if not isinstance(crs, dict):
        return "EPSG:4326"
    name = str((crs.get("properties") or {}).get("name", ""))
    if name.upper() in ("URN:OGC:DEF:CRS:OGC:1.3:CRS84", "EPSG:4326"):
        return "EPSG:4326"
    match = _URN.fullmatch(name)
    return f"EPSG:{match.group(1)}" if match else name


def _features(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, dict) and document.get("type") == "FeatureCollection":
        features = document.get("features")
        if isinstance(features, list):
            return [f for f in features if isinstance(f, dict)]
    if isinstance(document, dict) and document.get("type") == "Feature":
        return [document]
    raise InvalidInputError("zones must be a GeoJSON FeatureCollection or Feature")


def _coordinates(geometry: dict[str, Any]) -> npt.NDArray[np.float64]:
    kind = geometry.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        raise InvalidInputError(f"zones must be polygons, got a {kind}")
    parts = [geometry["coordinates"]] if kind == "Polygon" else geometry["coordinates"]
    rings = [ring for part in parts for ring in part]
    try:
        points = np.array([p[:2] for ring in rings for p in ring], dtype=np.float64)
    except (TypeError, ValueError, IndexError):
        raise InvalidInputError("zone coordinates are not numbers") from None
    if points.ndim != 2 or points.shape[0] < 3 or not np.isfinite(points).all():
        raise InvalidInputError("a zone polygon needs at least three finite points")
    return points


def _bounds(points: npt.NDArray[np.float64]) -> tuple[float, float, float, float]:
    west, south = points.min(axis=0)
    east, north = points.max(axis=0)
    return float(west), float(south), float(east), float(north)


def load_zones(path: str | Path, grid: Grid, id_field: str | None = None) -> list[Zone]:
    """Read the polygon features of a GeoJSON file and project them onto ``grid``'s CRS."""
    file = Path(path)
    try:
        size = file.stat().st_size
    except FileNotFoundError:
        raise NotFoundError(f"zones file not found: {file}") from None
    if size > MAX_ZONES_BYTES:
        raise TooLargeError(f"zones file {file} is {size:,} bytes, over {MAX_ZONES_BYTES:,}")
    try:
        document = json.loads(file.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{file} is not valid JSON: {exc}") from None
    src_crs = parse_crs(_crs_of(document)) if isinstance(document, dict) else None
    zones, vertices = [], 0
    for position, feature in enumerate(_features(document), start=1):
        geometry = feature.get("geometry")
        if not isinstance(geometry, dict):
            raise InvalidInputError(f"zone {position} has no geometry")
        vertices += _coordinates(geometry).shape[0]
        if vertices > MAX_VERTICES:
            raise TooLargeError(f"zones have more than {MAX_VERTICES:,} vertices")
        if src_crs is not None and src_crs != grid.crs:
            geometry = transform_geom(src_crs, grid.crs, geometry)
        zones.append(
            Zone(_zone_id(feature, position, id_field), geometry, _bounds(_coordinates(geometry)))
        )
    if not zones:
        raise InvalidInputError(f"{file} holds no zone")
    return zones


def _zone_id(feature: dict[str, Any], position: int, id_field: str | None) -> Any:
    if id_field is not None:
        properties = feature.get("properties") or {}
        if id_field not in properties:
            raise InvalidInputError(f"zone {position} has no property {id_field!r}")
        return properties[id_field]
    return feature.get("id", position)


def rasterize_zones(
    zones: Sequence[Zone], grid: Grid, window: Window | None = None
) -> npt.NDArray[np.int32]:
    """Label each pixel of ``window`` of ``grid`` with 1 + the index of its zone, 0 outside."""
    win = window if window is not None else grid.window()
    sub = grid.window_grid(win)
    west, south, east, north = sub.bounds
    shapes = [
        (zone.geometry, label)
        for label, zone in enumerate(zones, start=1)
        if zone.bounds[0] <= east
        and zone.bounds[2] >= west
        and zone.bounds[1] <= north
        and zone.bounds[3] >= south
    ]
    if not shapes:
        return np.zeros((sub.height, sub.width), np.int32)
    with WARNINGS_LOCK:  # see terrascan.io._threads
        labels: npt.NDArray[np.int32] = rasterize(
            shapes, out_shape=(sub.height, sub.width), transform=sub.transform, fill=0,
            dtype="int32",
        )  # fmt: skip
    return labels
