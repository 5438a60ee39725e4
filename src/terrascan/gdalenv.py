"""GDAL/PROJ environment defaults and the start-up self-check that refuses unsafe ones.

This module must not import rasterio: :func:`configure_gdal_environment` runs from
``terrascan/__init__.py`` before any other part of the package can load GDAL.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from terrascan.errors import UnsafeEnvironmentError

#: Defaults applied with ``setdefault``: a value the operator set explicitly is kept, and the
#: self-check below refuses it if it is unsafe.
SAFE_DEFAULTS: dict[str, str] = {
    # VRT reads arbitrary local files as pixels; MRF writes files where its header says.
    "GDAL_SKIP": "VRT MRF",
    # Never fetch PROJ grids (or anything else) from the network.
    "PROJ_NETWORK": "OFF",
    # Do not list remote directories when opening a file over HTTP.
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_TIMEOUT": "30",
    "GDAL_HTTP_CONNECTTIMEOUT": "10",
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF,.jp2,.JP2",
    "VSI_CACHE": "TRUE",
    # An integer would mean bytes: always give a unit.
    "GDAL_CACHEMAX": "512MB",
}

_DRIVERS_REQUIRED_SKIPPED = ("VRT", "MRF")
_MUST_NOT_BE_ON = ("GDAL_VRT_ENABLE_PYTHON", "GDAL_MEM_ENABLE_OPEN")
_TRUTHY = {"YES", "ON", "TRUE", "1", "TRUSTED_MODULES"}


def configure_gdal_environment(environ: os._Environ[str] | dict[str, str] | None = None) -> None:
    """Put the safe GDAL/PROJ defaults into ``environ`` (``os.environ`` by default)."""
    env = os.environ if environ is None else environ
    for key, value in SAFE_DEFAULTS.items():
        env.setdefault(key, value)


def unsafe_settings(environ: Mapping[str, str] | None = None) -> list[str]:
    """Return a human-readable list of the unsafe GDAL/PROJ settings in ``environ``."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    skipped = set(env.get("GDAL_SKIP", "").replace(",", " ").split())
    for driver in _DRIVERS_REQUIRED_SKIPPED:
        if driver not in skipped:
            problems.append(f"GDAL_SKIP must include {driver}")
    if env.get("PROJ_NETWORK", "OFF").upper() != "OFF":
        problems.append("PROJ_NETWORK must be OFF")
    if env.get("GDAL_DISABLE_READDIR_ON_OPEN", "").upper() != "EMPTY_DIR":
        problems.append("GDAL_DISABLE_READDIR_ON_OPEN must be EMPTY_DIR")
    for key in _MUST_NOT_BE_ON:
        if env.get(key, "").upper() in _TRUTHY:
            problems.append(f"{key} must not be enabled")
    return problems


_drivers_at_load: list[str] | None = None


def registered_unsafe_drivers() -> list[str]:
    """Return the dangerous GDAL drivers that GDAL registered when it was loaded.

    The answer is taken once per process, on the first call (``create_app`` makes it at
    start-up): GDAL reads ``GDAL_SKIP`` only then. Later, rasterio's ``WarpedVRT`` (which
    rio-tiler uses to reproject tiles) registers the VRT driver for its own use; that is why
    every open of a file names its driver (``driver="GTiff"``) instead of relying on this.
    """
    global _drivers_at_load
    if _drivers_at_load is None:
        import rasterio  # imported late on purpose, after the defaults are set

        with rasterio.Env() as env:
            drivers = env.drivers()
        _drivers_at_load = [name for name in _DRIVERS_REQUIRED_SKIPPED if name in drivers]
    return list(_drivers_at_load)


def self_check() -> None:
    """Raise :class:`UnsafeEnvironmentError` when GDAL/PROJ are configured unsafely."""
    problems = unsafe_settings()
    problems += [f"GDAL driver {name} is registered" for name in registered_unsafe_drivers()]
    if problems:
        raise UnsafeEnvironmentError("refusing to start: " + "; ".join(problems))
