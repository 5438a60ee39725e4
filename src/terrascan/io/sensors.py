"""Sensor profiles: which STAC asset holds which band, at what resolution, with what scaling.

Band names are STAC ``eo`` common names (ARCHITECTURE.md, section 4). A profile maps each
common name a sensor has to the asset key Earth Search v1 (and the USGS Landsat STAC) use for
it, its native resolution in metres and the default ``scale``/``offset`` that turn stored digital
numbers into physical values::

    value = DN * scale + offset

Defaults are only a fallback: the item's ``raster:bands`` on the asset win (see
:func:`scale_offset`), because the same collection changes its scaling over time (Sentinel-2
processing baseline 04.00 added an offset of -0.1).

Quality bands (Sentinel-2 ``scl``, Landsat ``qa_pixel``) are listed under their asset key; they
are never scaled and are resampled with nearest neighbour.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from terrascan.errors import InvalidInputError

__all__ = [
    "BAND_NAMES",
    "COLLECTION_ALIASES",
    "COMMON_NAMES",
    "QUALITY_BANDS",
    "SENSORS",
    "BandKind",
    "BandSpec",
    "SensorProfile",
    "check_band_name",
    "get_sensor",
    "parse_band_mapping",
    "scale_offset",
    "sensor_for_item",
]

BandKind = Literal["reflectance", "radiance", "temperature", "classification", "bitfield"]

#: STAC ``eo`` common names TerraScan understands, in spectral order.
COMMON_NAMES: tuple[str, ...] = (
    "coastal",
    "blue",
    "green",
    "red",
    "rededge1",
    "rededge2",
    "rededge3",
    "nir",
    "nir08",
    "nir09",
    "cirrus",
    "swir16",
    "swir22",
    "pan",
    "lwir",
    "lwir11",
    "lwir12",
)

#: Quality bands addressed by their asset key: Sentinel-2 scene classification, Landsat QA bits.
QUALITY_BANDS: tuple[str, ...] = ("scl", "qa_pixel")

#: Every band name a caller may ask for.
BAND_NAMES: frozenset[str] = frozenset(COMMON_NAMES + QUALITY_BANDS)

_CATEGORICAL: frozenset[BandKind] = frozenset({"classification", "bitfield"})


@attrs.frozen
class BandSpec:
    """One band of a sensor: where it lives in a STAC item and how to scale it."""

    name: str
    asset: str
    resolution: float
    scale: float = 1.0
    offset: float = 0.0
    kind: BandKind = "reflectance"
    band_id: str | None = None  # the product's own band id (Sentinel-2 "B04"), if unambiguous

    @property
    def categorical(self) -> bool:
        """True for class and bit-field bands: never scaled, resampled with nearest."""
        return self.kind in _CATEGORICAL


@attrs.frozen
class SensorProfile:
    """The bands of one product (a STAC collection), keyed by common name."""

    name: str
    bands: Mapping[str, BandSpec]
    quality: str | None = None  # the key in ``bands`` of the quality-mask band
    aliases: Mapping[str, str] = attrs.field(factory=dict)  # e.g. Landsat "nir" -> "nir08"

    def band(self, name: str) -> BandSpec:
        """Return the band called ``name`` (common name, alias or quality asset key)."""
        key = self.aliases.get(name, name)
        try:
            return self.bands[key]
        except KeyError:
            known = ", ".join(sorted(self.bands))
            raise InvalidInputError(
                f"sensor {self.name!r} has no band {name!r}; it has: {known}"
            ) from None

    def has_band(self, name: str) -> bool:
        return self.aliases.get(name, name) in self.bands

    def by_band_id(self, band_id: str) -> BandSpec | None:
        """Return the band whose product id (``B04``) is ``band_id``, case-insensitively."""
        wanted = band_id.strip().upper()
        for spec in self.bands.values():
            if spec.band_id is not None and spec.band_id.upper() == wanted:
                return spec
        return None


def _profile(
    name: str,
    specs: list[BandSpec],
    quality: str | None = None,
    aliases: Mapping[str, str] | None = None,
) -> SensorProfile:
    return SensorProfile(name, {s.name: s for s in specs}, quality, dict(aliases or {}))


# Sentinel-2 MSI: L2A is bottom-of-atmosphere reflectance, L1C top-of-atmosphere; both store
# reflectance * 10000 and, from processing baseline 04.00 (January 2022), add 1000 to every DN,
# hence the offset of -0.1 (see _S2_OFFSET_FROM_BASELINE below).
_S2_BANDS = [
    ("coastal", "B01", 60.0),
    ("blue", "B02", 10.0),
    ("green", "B03", 10.0),
    ("red", "B04", 10.0),
    ("rededge1", "B05", 20.0),
    ("rededge2", "B06", 20.0),
    ("rededge3", "B07", 20.0),
    ("nir", "B08", 10.0),
    ("nir08", "B8A", 20.0),
    ("nir09", "B09", 60.0),
    ("swir16", "B11", 20.0),
    ("swir22", "B12", 20.0),
]
_S2_CIRRUS = ("cirrus", "B10", 60.0)
_S2_SCALE = 1e-4
_S2_OFFSET = -0.1
_S2_BASELINE_WITH_OFFSET = (4, 0)


def _s2_specs(bands: list[tuple[str, str, float]]) -> list[BandSpec]:
    return [
        BandSpec(name, name, res, _S2_SCALE, _S2_OFFSET, "reflectance", band_id)
        for name, band_id, res in bands
    ]


# Landsat Collection 2. Level-2 surface reflectance: DN * 2.75e-5 - 0.2; surface temperature
# (kelvin): DN * 0.00341802 + 149. Level-1 top-of-atmosphere reflectance: DN * 2e-5 - 0.1
# (before the sun-elevation correction); thermal radiance varies little around 3.342e-4 / 0.1.
_LANDSAT_OLI = [
    ("coastal", 30.0),
    ("blue", 30.0),
    ("green", 30.0),
    ("red", 30.0),
    ("nir08", 30.0),
    ("swir16", 30.0),
    ("swir22", 30.0),
]
_LANDSAT_NIR_ALIAS = {"nir": "nir08"}


def _landsat_l2() -> SensorProfile:
    specs = [BandSpec(n, n, r, 2.75e-5, -0.2) for n, r in _LANDSAT_OLI]
    specs += [
        BandSpec("lwir11", "lwir11", 30.0, 0.00341802, 149.0, "temperature"),
        BandSpec("lwir", "lwir", 30.0, 0.00341802, 149.0, "temperature"),  # Landsat 4-7 TM/ETM+
        BandSpec("qa_pixel", "qa_pixel", 30.0, kind="bitfield"),
    ]
    return _profile("landsat-c2-l2", specs, "qa_pixel", _LANDSAT_NIR_ALIAS)


def _landsat_l1() -> SensorProfile:
    specs = [BandSpec(n, n, r, 2e-5, -0.1) for n, r in _LANDSAT_OLI]
    specs += [
        BandSpec("pan", "pan", 15.0, 2e-5, -0.1),
        BandSpec("cirrus", "cirrus", 30.0, 2e-5, -0.1),
        BandSpec("lwir11", "lwir11", 30.0, 3.342e-4, 0.1, "radiance"),
        BandSpec("lwir12", "lwir12", 30.0, 3.342e-4, 0.1, "radiance"),
        BandSpec("qa_pixel", "qa_pixel", 30.0, kind="bitfield"),
    ]
    return _profile("landsat-c2-l1", specs, "qa_pixel", _LANDSAT_NIR_ALIAS)


#: The sensor profiles, by name (the STAC collection id on Earth Search v1 / USGS).
SENSORS: Mapping[str, SensorProfile] = {
    p.name: p
    for p in (
        _profile(
            "sentinel-2-l2a",
            [*_s2_specs(_S2_BANDS), BandSpec("scl", "scl", 20.0, kind="classification")],
            "scl",
        ),
        _profile("sentinel-2-l1c", _s2_specs([*_S2_BANDS, _S2_CIRRUS])),
        _landsat_l2(),
        _landsat_l1(),
    )
}


def get_sensor(name: str) -> SensorProfile:
    """Return the profile called ``name`` or raise :class:`InvalidInputError`."""
    try:
        return SENSORS[name.strip().lower()]
    except KeyError:
        known = ", ".join(SENSORS)
        raise InvalidInputError(f"unknown sensor {name!r}; known sensors: {known}") from None


#: Other catalogues' names for the same products (Earth Search collection 1, USGS STAC).
COLLECTION_ALIASES: Mapping[str, str] = {
    "sentinel-2-c1-l2a": "sentinel-2-l2a",
    "landsat-c2l2-sr": "landsat-c2-l2",
    "landsat-c2l1": "landsat-c2-l1",
}


def sensor_for_item(item: Mapping[str, Any]) -> SensorProfile | None:
    """Return the profile of a STAC item's collection, or ``None`` for an unknown collection."""
    collection = item.get("collection")
    if not isinstance(collection, str):
        return None
    name = collection.lower()
    return SENSORS.get(COLLECTION_ALIASES.get(name, name))


def _s2_baseline(properties: Mapping[str, Any]) -> tuple[int, int] | None:
    value = properties.get("s2:processing_baseline")
    match = re.fullmatch(r"\s*(\d+)\.(\d+)\s*", str(value)) if value is not None else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def _default_scale_offset(
    spec: BandSpec, sensor: SensorProfile, properties: Mapping[str, Any]
) -> tuple[float, float]:
    offset = spec.offset
    if sensor.name.startswith("sentinel-2") and spec.kind == "reflectance":
        baseline = _s2_baseline(properties)
        # An unknown baseline keeps the current (>= 04.00) default of -0.1.
        if baseline is not None and baseline < _S2_BASELINE_WITH_OFFSET:
            offset = 0.0
    return spec.scale, offset


def scale_offset(
    asset: Mapping[str, Any] | None,
    spec: BandSpec | None,
    sensor: SensorProfile | None,
    properties: Mapping[str, Any] | None = None,
) -> tuple[float, float]:
    """Return ``(scale, offset)`` for one band: ``raster:bands`` first, then the profile.

    Each of ``scale`` and ``offset`` is taken from the asset's first ``raster:bands`` entry when
    it is there; a missing one falls back to the profile default (Sentinel-2's default offset
    follows ``s2:processing_baseline`` in ``properties``), and to 1 / 0 without a profile.
    Categorical bands (classes, QA bits) are never scaled.
    """
    if spec is not None and spec.categorical:
        return 1.0, 0.0
    scale, offset = 1.0, 0.0
    if spec is not None and sensor is not None:
        scale, offset = _default_scale_offset(spec, sensor, properties or {})
    raster_bands = asset.get("raster:bands") if asset is not None else None
    if isinstance(raster_bands, list) and raster_bands and isinstance(raster_bands[0], dict):
        first = raster_bands[0]
        scale = _number(first.get("scale"), scale)
        offset = _number(first.get("offset"), offset)
    return scale, offset


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


_MAPPING_ITEM = re.compile(r"^\s*([A-Za-z0-9_]+)\s*=\s*(-?\d+)\s*$")


def parse_band_mapping(text: str) -> dict[str, int]:
    """Parse ``"red=3,nir=4"`` into ``{"red": 3, "nir": 4}`` (1-based band indexes).

    Raises :class:`InvalidInputError` for an empty mapping, a malformed item, an unknown band
    name, an index below 1, or a name or index given twice.
    """
    if not text or not text.strip():
        raise InvalidInputError("band mapping is empty; expected e.g. 'red=3,nir=4'")
    mapping: dict[str, int] = {}
    for item in text.split(","):
        match = _MAPPING_ITEM.match(item)
        if match is None:
            raise InvalidInputError(
                f"band mapping item {item.strip()!r} is not NAME=INDEX (e.g. 'red=3')"
            )
        name, index = match.group(1).lower(), int(match.group(2))
        check_band_name(name)
        if index < 1:
            raise InvalidInputError(f"band index for {name!r} must be 1 or more, got {index}")
        if name in mapping:
            raise InvalidInputError(f"band {name!r} is mapped twice")
        if index in mapping.values():
            other = next(k for k, v in mapping.items() if v == index)
            raise InvalidInputError(f"band index {index} is mapped to both {other!r} and {name!r}")
        mapping[name] = index
    return mapping


def check_band_name(name: str) -> str:
    """Return ``name`` if it is a known band name, else raise :class:`InvalidInputError`."""
    if name not in BAND_NAMES:
        known = ", ".join(COMMON_NAMES + QUALITY_BANDS)
        raise InvalidInputError(f"unknown band name {name!r}; use one of: {known}")
    return name
