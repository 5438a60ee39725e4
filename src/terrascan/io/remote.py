"""Remote rasters over HTTP range requests, read by GDAL through a Python opener.

GDAL's own ``/vsicurl/`` follows HTTP redirects to any host (SECURITY.md, T2) and has no option
to stop it. So TerraScan hands GDAL a file-like object instead (rasterio's ``opener=``), and
the HTTP is done here with httpx:

- only URLs whose host (or ``host:port``) is in the allow-list are opened;
- a redirect is followed only within the same origin (scheme, host and port), at most three
  times; a redirect anywhere else is refused before it is followed;
- every request is a ``Range`` request for whole blocks (256 KiB by default), cached per file
  in a bounded LRU cache, so a window read fetches only the tiles it needs; a server that
  answers a range request with the whole file is refused (its body is never read);
- connect/read timeouts, and retries with exponential back-off on connection errors and
  429/5xx answers.

:class:`RemoteDatasetPool` plugs this into :class:`~terrascan.io.raster.MultiBandReader`:
``/vsicurl/https://...`` paths from :func:`~terrascan.io.sources.resolve_href` are opened with
the opener, anything else as before.
"""

from __future__ import annotations

import io
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Collection, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import attrs
import httpx
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.io import DatasetReader

from terrascan.errors import InvalidInputError, ServiceUnavailableError, UnsupportedFormatError
from terrascan.io.sources import (
    DEFAULT_DRIVERS,
    DEFAULT_MAX_DATASET_PIXELS,
    DatasetPool,
    check_pixel_budget,
)

__all__ = [
    "HttpRangeOpener",
    "RedirectRefusedError",
    "RemoteDatasetPool",
    "RemoteLimits",
    "RemoteReadError",
    "host_allowed",
]

_VSICURL = "/vsicurl/"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class RemoteReadError(ServiceUnavailableError):
    """A remote asset could not be read (host down, timeouts, errors, no range support)."""

    title = "Remote read failed"


class RedirectRefusedError(RemoteReadError):
    """The asset host redirected to another origin; the redirect was not followed."""

    title = "Redirect refused"


@attrs.frozen
class RemoteLimits:
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0
    retries: int = 3
    backoff_s: float = 0.5
    block_size: int = 256 * 1024
    #: Cached bytes per opener (all files together), least recently used dropped first.
    cache_bytes: int = 256 * 1024 * 1024
    max_redirects: int = 3


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"not an http(s) URL: {url[:200]!r}")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise InvalidInputError(f"invalid port in {url[:200]!r}") from None
    return scheme, parts.hostname.lower(), port


def host_allowed(url: str, allowed_hosts: Collection[str]) -> bool:
    """Whether ``url``'s host is allowed: an entry ``host`` allows every port of it, an entry
    ``host:port`` only that port."""
    _scheme, host, port = _origin(url)
    allowed = {h.strip().lower() for h in allowed_hosts}
    return host in allowed or f"{host}:{port}" in allowed


@attrs.define
class _Resource:
    url: str
    size: int


class HttpRangeOpener:
    """A rasterio ``opener``: ``rasterio.open(url, opener=HttpRangeOpener(hosts))``.

    ``requests`` and ``bytes_received`` count what was fetched, for tests and logs.
    """

    def __init__(self, allowed_hosts: Collection[str], limits: RemoteLimits | None = None) -> None:
        self.allowed_hosts = frozenset(h.strip().lower() for h in allowed_hosts)
        self.limits = limits or RemoteLimits()
        timeout = httpx.Timeout(self.limits.read_timeout_s, connect=self.limits.connect_timeout_s)
        self._client = httpx.Client(follow_redirects=False, trust_env=False, timeout=timeout)
        self._lock = threading.RLock()
        self._resources: dict[str, _Resource] = {}
        self._cache: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._cached = 0
        self.requests = 0
        self.bytes_received = 0
        self.last_error: Exception | None = None

    def __call__(self, path: str, mode: str = "rb") -> io.RawIOBase:
        if mode not in ("r", "rb"):
            raise OSError(f"remote files are read-only, not {mode!r}")
        try:
            if not host_allowed(path, self.allowed_hosts):
                raise InvalidInputError(f"host of {path[:200]!r} is not in the allowed hosts")
            return _RangeFile(self, self._resource(path))
        except (InvalidInputError, RemoteReadError) as exc:
            self.last_error = exc
            raise OSError(str(exc)) from exc

    def close(self) -> None:
        self._client.close()
        with self._lock:
            self._cache.clear()
            self._cached = 0

    def __enter__(self) -> HttpRangeOpener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- blocks

    def _resource(self, url: str) -> _Resource:
        with self._lock:
            known = self._resources.get(url)
        if known is not None:
            return known
        block, size = self._fetch(url, 0, self.limits.block_size - 1)
        resource = _Resource(url, size)
        with self._lock:
            self._resources[url] = resource
            self._remember((url, 0), block)
        return resource

    def read(self, resource: _Resource, start: int, length: int) -> bytes:
        """Bytes ``[start, start + length)`` of ``resource`` (fewer at its end)."""
        end = min(start + length, resource.size)
        if end <= start:
            return b""
        size = self.limits.block_size
        first, last = start // size, (end - 1) // size
        blocks = self._blocks(resource, first, last)
        data = b"".join(blocks)
        offset = start - first * size
        return data[offset : offset + (end - start)]

    def _blocks(self, resource: _Resource, first: int, last: int) -> list[bytes]:
        found: dict[int, bytes] = {}
        with self._lock:
            for index in range(first, last + 1):
                block = self._cache.get((resource.url, index))
                if block is not None:
                    self._cache.move_to_end((resource.url, index))
                    found[index] = block
        missing = [i for i in range(first, last + 1) if i not in found]
        for run_first, run_last in _runs(missing):
            size = self.limits.block_size
            data, _ = self._fetch(
                resource.url, run_first * size, min((run_last + 1) * size, resource.size) - 1
            )
            for index in range(run_first, run_last + 1):
                piece = data[(index - run_first) * size : (index - run_first + 1) * size]
                found[index] = piece
                with self._lock:
                    self._remember((resource.url, index), piece)
        return [found[i] for i in range(first, last + 1)]

    def _remember(self, key: tuple[str, int], block: bytes) -> None:
        if key in self._cache:
            return
        self._cache[key] = block
        self._cached += len(block)
        while self._cached > self.limits.cache_bytes and len(self._cache) > 1:
            _key, dropped = self._cache.popitem(last=False)
            self._cached -= len(dropped)

    # -------------------------------------------------------------- HTTP

    def _fetch(self, url: str, start: int, end: int) -> tuple[bytes, int]:
        """GET bytes ``start..end`` (inclusive); return them and the file's total size."""
        delay = self.limits.backoff_s
        for attempt in range(self.limits.retries + 1):
            try:
                return self._fetch_once(url, start, end)
            except RemoteReadError as exc:
                retryable = getattr(exc, "retryable", False)
                if not retryable or attempt == self.limits.retries:
                    raise
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _fetch_once(self, url: str, start: int, end: int) -> tuple[bytes, int]:
        target = url
        for _hop in range(self.limits.max_redirects + 1):
            headers = {"Range": f"bytes={start}-{end}", "Accept-Encoding": "identity"}
            try:
                with self._client.stream("GET", target, headers=headers) as response:
                    self.requests += 1
                    if response.status_code in _REDIRECTS:
                        target = self._redirect_target(target, response)
                        continue
                    return self._body(target, response, start, end)
            except httpx.TransportError as exc:
                error = RemoteReadError(f"reading {_host(target)} failed: {type(exc).__name__}")
                error.retryable = True  # type: ignore[attr-defined]
                raise error from None
        raise RedirectRefusedError(
            f"{_host(url)} redirected more than {self.limits.max_redirects} times"
        )

    def _redirect_target(self, current: str, response: httpx.Response) -> str:
        target = urljoin(current, response.headers.get("location", ""))
        try:
            same = _origin(target) == _origin(current)
        except InvalidInputError:
            same = False
        if not same:
            raise RedirectRefusedError(
                f"{_host(current)} redirected to {_host(target)}: redirects to other hosts are "
                "not followed"
            )
        return str(target)

    def _body(self, url: str, response: httpx.Response, start: int, end: int) -> tuple[bytes, int]:
        status = response.status_code
        if status == 416 and start == 0:
            return b"", 0  # an empty file
        if status in _RETRY_STATUS:
            error = RemoteReadError(f"{_host(url)} answered HTTP {status}")
            error.retryable = True  # type: ignore[attr-defined]
            raise error
        if status == 404:
            raise RemoteReadError(f"asset not found at {_host(url)} (HTTP 404)")
        if status != 206:
            raise RemoteReadError(
                f"{_host(url)} answered HTTP {status} to a range request; only servers that "
                "support range requests are read"
            )
        total = _total_size(response.headers.get("content-range", ""))
        wanted = end - start + 1
        chunks, received = [], 0
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received > wanted:
                raise RemoteReadError(f"{_host(url)} sent more bytes than were asked for")
            chunks.append(chunk)
        self.bytes_received += received
        return b"".join(chunks), total


def _total_size(content_range: str) -> int:
    # "bytes 0-262143/2381555"
    try:
        return int(content_range.rsplit("/", 1)[1])
    except (IndexError, ValueError):
        raise RemoteReadError("range response without a usable Content-Range") from None


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or "?"


def _runs(indexes: Sequence[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for index in indexes:
        if runs and runs[-1][1] == index - 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs


class _RangeFile(io.RawIOBase):
    """A read-only, seekable file over one remote resource."""

    def __init__(self, opener: HttpRangeOpener, resource: _Resource) -> None:
        super().__init__()
        self._opener, self._resource, self._pos = opener, resource, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._resource.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self._resource.size - self._pos
        try:
            data = self._opener.read(self._resource, self._pos, size)
        except RemoteReadError as exc:
            self._opener.last_error = exc
            raise OSError(str(exc)) from exc
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        view = memoryview(buffer).cast("B")
        view[: len(data)] = data
        return len(data)


class RemoteDatasetPool(DatasetPool):
    """A :class:`~terrascan.io.sources.DatasetPool` that opens ``/vsicurl/`` paths through an
    :class:`HttpRangeOpener` (never through GDAL's own HTTP client)."""

    def __init__(
        self,
        opener: HttpRangeOpener,
        drivers: Sequence[str] = DEFAULT_DRIVERS,
        max_pixels: int = DEFAULT_MAX_DATASET_PIXELS,
    ) -> None:
        super().__init__(drivers, max_pixels)
        self.opener = opener

    def get(self, path: str) -> DatasetReader:
        if not path.startswith(_VSICURL):
            return super().get(path)
        src = self._open.get(path)
        if src is None:
            src = self._open_remote(path[len(_VSICURL) :])
            self._open[path] = src
        return src

    def _open_remote(self, url: str) -> DatasetReader:
        if not host_allowed(url, self.opener.allowed_hosts):
            raise InvalidInputError(f"host {_host(url)!r} is not in the allowed hosts")
        src = self._open_with_opener(url)
        try:
            check_pixel_budget(src.width, src.height, src.count, self.max_pixels, f"raster {url}")
            if src.crs is None:
                raise InvalidInputError(f"raster {url} has no coordinate reference system")
        except Exception:
            src.close()
            raise
        return src

    def _open_with_opener(self, url: str) -> DatasetReader:
        error: Exception | None = None
        for driver in self.drivers:
            self.opener.last_error = None
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", NotGeoreferencedWarning)
                    return rasterio.open(url, driver=driver, opener=self.opener)
            except (RasterioIOError, OSError) as exc:
                error = self.opener.last_error or exc
                if isinstance(error, InvalidInputError | RemoteReadError):
                    raise error from None
        names = ", ".join(self.drivers)
        raise UnsupportedFormatError(
            f"{_host(url)} did not serve a raster of the accepted formats ({names})"
        ) from error
