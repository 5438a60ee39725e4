"""Vector and picture export writers: GeoJSON, GeoPackage, zipped Shapefile, CSV, PNG.

Features come in as ``(GeoJSON geometry in EPSG:4326, properties)`` pairs. OGR formats are
written with pyogrio (drivers named explicitly); a Shapefile is zipped with its .shp, .shx, .dbf,
.prj and .cpg, its field names cut to 10 characters and kept unique.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

Feature = tuple[Mapping[str, Any], Mapping[str, Any]]
VectorFormat = Literal["geojson", "gpkg", "shapefile", "csv"]
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
#: Largest side of an exported PNG (bigger rasters are decimated).
MAX_PNG_SIDE = 4096


def safe_filename(name: str, default: str = "export") -> str:
    """An ASCII file name without path separators, control characters or quotes (E2)."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:100]
    return text or default


def content_disposition(name: str) -> str:
    """An RFC 6266 ``attachment`` header value for ``name`` (ASCII fallback plus UTF-8 form)."""
    from urllib.parse import quote

    safe = safe_filename(name)
    return f"attachment; filename=\"{safe}\"; filename*=UTF-8''{quote(safe)}"


def dbf_field_names(names: Sequence[str]) -> dict[str, str]:
    """``{name: dbf name}``: at most 10 characters, unique (``area_m2_lo``, ``area_m2_~1``)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        base = re.sub(r"[^A-Za-z0-9_]", "_", name)[:10] or "field"
        candidate, n = base, 1
        while candidate.lower() in used:
            suffix = f"_{n}"
            candidate, n = base[: 10 - len(suffix)] + suffix, n + 1
        used.add(candidate.lower())
        out[name] = candidate
    return out


def _columns(features: Sequence[Feature]) -> list[str]:
    names: dict[str, None] = {}
    for _geom, props in features:
        names.update(dict.fromkeys(props))
    return list(names)


def _field_array(features: Sequence[Feature], name: str) -> np.ndarray:
    values = [props.get(name) for _g, props in features]
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype="float64")
    return np.asarray(["" if v is None else str(v) for v in values], dtype=object)


def write_ogr(features: Sequence[Feature], path: Path, driver: str, layer: str) -> Path:
    """Write ``features`` with pyogrio's ``driver`` (``GPKG``, ``ESRI Shapefile``, ``GeoJSON``)."""
    import shapely
    from pyogrio.raw import write
    from shapely.geometry import shape

    columns = _columns(features)
    rename = dbf_field_names(columns) if driver == "ESRI Shapefile" else {c: c for c in columns}
    geoms = [shape(g) for g, _p in features]
    kinds = {g.geom_type for g in geoms}
    geometry_type = "MultiPolygon" if kinds <= {"Polygon", "MultiPolygon"} else "Unknown"
    if geometry_type == "MultiPolygon":
        geoms = [shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g for g in geoms]
    extra: dict[str, Any] = {"encoding": "UTF-8"} if driver == "ESRI Shapefile" else {}
    write(
        str(path),
        np.asarray(shapely.to_wkb(geoms), dtype=object) if geoms else np.empty(0, dtype=object),
        [_field_array(features, c) for c in columns],
        [rename[c] for c in columns],
        layer=layer,
        driver=driver,
        geometry_type=geometry_type,
        crs="EPSG:4326",
        **extra,
    )
    return path


def geojson_bytes(features: Sequence[Feature]) -> bytes:
    collection = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": dict(g), "properties": dict(p)} for g, p in features
        ],
    }
    return json.dumps(collection, allow_nan=False).encode()


def shapefile_zip(features: Sequence[Feature], folder: Path, name: str) -> bytes:
    """A zip of the Shapefile's parts, named ``<name>.shp`` and so on."""
    stem = safe_filename(name)
    write_ogr(features, folder / f"{stem}.shp", "ESRI Shapefile", stem)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for ext in SHAPEFILE_PARTS:
            part = folder / f"{stem}{ext}"
            if part.exists():
                archive.write(part, arcname=f"{stem}{ext}")
    return buffer.getvalue()


def gpkg_bytes(features: Sequence[Feature], folder: Path, name: str) -> bytes:
    stem = safe_filename(name)
    return write_ogr(features, folder / f"{stem}.gpkg", "GPKG", stem).read_bytes()


def csv_bytes(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """Rows as CSV (columns in first-seen order); cells starting with = + - @ are quoted
    against spreadsheet formula injection."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    return text.getvalue().encode()


def _cell(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def raster_png(path: str, *, value_range: tuple[float, float] | None = None) -> bytes:
    """Band 1 of a GeoTIFF as an 8-bit grey PNG with alpha (nodata transparent), decimated to
    at most :data:`MAX_PNG_SIDE` pixels a side. ``value_range`` maps to 0..255 (default: the
    data's min and max)."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile

    with rasterio.open(path, driver="GTiff") as src:
        scale = max(1.0, max(src.width, src.height) / MAX_PNG_SIDE)
        shape = (max(1, round(src.height / scale)), max(1, round(src.width / scale)))
        data = src.read(1, out_shape=shape, masked=True).astype("float64")
    values = np.ma.masked_invalid(data)
    lo, hi = value_range or (
        (float(values.min()), float(values.max())) if values.count() else (0.0, 1.0)
    )
    span = hi - lo if hi > lo else 1.0
    grey = np.clip((values.filled(lo) - lo) / span * 255.0, 0, 255).astype("uint8")
    alpha = np.where(np.ma.getmaskarray(values), 0, 255).astype("uint8")
    with warnings.catch_warnings(), MemoryFile() as memfile:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a picture, on purpose
        with memfile.open(
            driver="PNG", width=shape[1], height=shape[0], count=2, dtype="uint8"
        ) as dst:
            dst.write(np.stack([grey, alpha]))
        return bytes(memfile.read())
