"""Where pixels come from: resolving hrefs safely and opening datasets within budgets.

Nothing a user typed reaches GDAL unchecked (ARCHITECTURE.md, section 6):

- a remote href (``http``, ``https``, ``s3``) is opened only when its host (for ``s3://``, its
  bucket) is in the caller's ``allowed_hosts``; ``s3://bucket/key`` becomes ``/vsis3/bucket/key``
  and ``https://host/...`` becomes ``/vsicurl/https://host/...``;
- a local href is resolved to an absolute path (relative ones against the STAC item's folder)
  and, when the caller passes ``local_roots``, must lie inside one of them;
- GDAL virtual paths (``/vsi...``) and other schemes are refused;
- every open names its drivers (``GTiff`` unless the caller widens it) and the declared size
  (width x height x bands) is checked against a pixel budget before any pixel is read.

GDAL (3.10) follows HTTP redirects itself; the allow-list applies to the href as given.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Collection, Sequence
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import attrs
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.io import DatasetReader

from terrascan.errors import (
    InvalidInputError,
    NotFoundError,
    TooLargeError,
    UnsupportedFormatError,
)

__all__ = [
    "DEFAULT_DRIVERS",
    "DEFAULT_MAX_DATASET_PIXELS",
    "BandRef",
    "DatasetPool",
    "check_pixel_budget",
    "open_dataset",
    "resolve_href",
]

#: Drivers an untrusted file may be opened with.
DEFAULT_DRIVERS: tuple[str, ...] = ("GTiff",)

#: Declared width x height x bands above which a dataset is refused before it is read.
#: A 13-band Sentinel-2 stack at 10 m is about 1.6e9.
DEFAULT_MAX_DATASET_PIXELS = 4_000_000_000

_REMOTE_PREFIX = {"http": "/vsicurl/", "https": "/vsicurl/"}


@attrs.frozen
class BandRef:
    """One band to read: band ``index`` (1-based) of the dataset at GDAL ``path``.

    ``value = DN * scale + offset``; pixels equal to ``nodata`` (the dataset's own nodata when
    ``None``) become NaN. ``categorical`` bands (classes, QA bits) use nearest-neighbour
    resampling.
    """

    name: str
    path: str
    index: int = 1
    scale: float = 1.0
    offset: float = 0.0
    nodata: float | None = None
    categorical: bool = False


def resolve_href(
    href: str,
    *,
    base: Path | None = None,
    allowed_hosts: Collection[str] = (),
    local_roots: Collection[str | Path] | None = None,
) -> str:
    """Turn an asset href into a path GDAL may open, or raise :class:`InvalidInputError`.

    ``base`` is the folder relative hrefs are resolved against (the item's folder).
    ``local_roots=None`` allows any local file (the command line, the user's own machine);
    services pass the folders their data lives in.
    """
    if not isinstance(href, str) or not href.strip():
        raise InvalidInputError("asset href is empty")
    href = href.strip()
    parts = urlsplit(href)
    scheme = parts.scheme.lower()
    if scheme in _REMOTE_PREFIX or scheme == "s3":
        return _remote_path(href, scheme, allowed_hosts)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidInputError(f"file:// href with a host is not supported: {href!r}")
        href = url2pathname(parts.path)
    elif scheme and not (len(scheme) == 1 and os.name == "nt"):
        raise InvalidInputError(f"unsupported href scheme {scheme!r} in {href!r}")
    return _local_path(href, base, local_roots)


def _remote_path(href: str, scheme: str, allowed_hosts: Collection[str]) -> str:
    parts = urlsplit(href)
    if parts.username is not None or parts.password is not None:
        raise InvalidInputError("remote hrefs with credentials are refused")
    host = (parts.hostname or "").lower()
    allowed = {h.strip().lower() for h in allowed_hosts}
    if not host or host not in allowed:
        what = "bucket" if scheme == "s3" else "host"
        raise InvalidInputError(
            f"remote {what} {host!r} is not in the allowed hosts; refusing to open {href!r}"
        )
    if scheme == "s3":
        key = parts.path.lstrip("/")
        if not key:
            raise InvalidInputError(f"s3 href without a key: {href!r}")
        return f"/vsis3/{host}/{key}"
    return _REMOTE_PREFIX[scheme] + href


def _local_path(href: str, base: Path | None, local_roots: Collection[str | Path] | None) -> str:
    path = Path(href)
    if not path.is_absolute():
        if base is None:
            raise InvalidInputError(f"relative href {href!r} needs the item's location")
        path = base / path
    resolved = Path(os.path.abspath(path))
    if str(resolved).startswith("/vsi") or href.startswith("/vsi"):
        raise InvalidInputError(f"GDAL virtual paths are refused: {href!r}")
    if local_roots is not None:
        real = resolved.resolve()
        roots = [Path(r).resolve() for r in local_roots]
        if not any(real.is_relative_to(root) for root in roots):
            raise InvalidInputError(f"local href {href!r} is outside the allowed folders")
    return str(resolved)


def check_pixel_budget(width: int, height: int, bands: int, budget: int, what: str) -> None:
    """Raise :class:`TooLargeError` when ``width * height * bands`` exceeds ``budget``."""
    pixels = int(width) * int(height) * int(bands)
    if pixels > budget:
        raise TooLargeError(
            f"{what} is {width} x {height} x {bands} = {pixels:,} pixels, over the budget "
            f"of {budget:,}"
        )


def open_dataset(
    path: str,
    *,
    drivers: Sequence[str] = DEFAULT_DRIVERS,
    max_pixels: int = DEFAULT_MAX_DATASET_PIXELS,
) -> DatasetReader:
    """Open ``path`` with only ``drivers`` and refuse it when its declared size is over
    ``max_pixels`` or when it has no CRS. Errors map to TerraScan's classes."""
    if not path.startswith("/vsi") and not os.path.exists(path):
        raise NotFoundError(f"raster not found: {path}")
    src = _open_with(path, drivers)
    try:
        check_pixel_budget(src.width, src.height, src.count, max_pixels, f"raster {path}")
        if src.crs is None:
            raise InvalidInputError(f"raster {path} has no coordinate reference system")
    except Exception:
        src.close()
        raise
    return src


def _open_with(path: str, drivers: Sequence[str]) -> DatasetReader:
    """Open ``path`` with the first of ``drivers`` that recognises it."""
    if not drivers:
        raise InvalidInputError("no raster drivers allowed")
    error: RasterioIOError | None = None
    for driver in drivers:
        try:
            with warnings.catch_warnings():
                # A file without georeferencing is refused by the caller, with a clear message.
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                return rasterio.open(path, driver=driver)
        except RasterioIOError as exc:
            error = exc
    assert error is not None
    raise _open_error(path, error, drivers) from None


def _open_error(path: str, exc: RasterioIOError, drivers: Sequence[str]) -> Exception:
    message = str(exc)
    lowered = message.lower()
    if "no such file" in lowered or "does not exist" in lowered or "404" in lowered:
        return NotFoundError(f"raster not found: {path}")
    if "not recognized" in lowered or "not a supported" in lowered:
        names = ", ".join(drivers)
        return UnsupportedFormatError(f"{path} is not a raster of the accepted formats ({names})")
    return UnsupportedFormatError(f"cannot open {path}: {message}")


class DatasetPool:
    """Opens each path once and keeps the handles until :meth:`close`."""

    def __init__(
        self,
        drivers: Sequence[str] = DEFAULT_DRIVERS,
        max_pixels: int = DEFAULT_MAX_DATASET_PIXELS,
    ) -> None:
        self.drivers = tuple(drivers)
        self.max_pixels = max_pixels
        self._open: dict[str, DatasetReader] = {}

    def get(self, path: str) -> DatasetReader:
        src = self._open.get(path)
        if src is None:
            src = open_dataset(path, drivers=self.drivers, max_pixels=self.max_pixels)
            self._open[path] = src
        return src

    def close(self) -> None:
        for src in self._open.values():
            src.close()
        self._open.clear()
