"""Dynamic tiles: titiler.core's ``TilerFactory`` over the organisation's stored COGs.

Two factories are mounted, keeping titiler's route shapes (``/{tileMatrixSetId}/tilejson.json``,
``/tiles/{tileMatrixSetId}/{z}/{x}/{y}[.{format}]``, ``/info``, ``GET /statistics``,
``/preview``, ``/point``; not ``POST /statistics``, whose GeoJSON features have no size budget):

- ``/api/v1/imagery/{imagery_id}``: a ready imagery record's COG;
- ``/api/v1/analysis/results/{job_id}``: a completed analysis job's result COG.

The ``path_dependency`` resolves the catalog id within the caller's organisation (404 for any
other) to the store's GDAL path; nothing in a request names a path or URL, and titiler's generic
``url=`` endpoints are not mounted. The dataset is opened with the GTiff driver only. On top of
titiler:

- the five spectral indices of :mod:`terrascan.core.indices` are ``algorithm=`` choices;
- ``expression=`` accepts band names (``nir``), band numbers (``b4``), numbers, ``+ - * /``,
  parentheses and ``;`` only, checked by a tokenizer before numexpr sees it (400 otherwise);
- output sizes are capped (zoom inside the tile matrix, tile size, preview and statistics size:
  422 beyond the caps);
- responses are cached per organisation and object (in this process's memory, or in the
  Redis ``tile_cache_url`` names) and sent ``Cache-Control: private``. The cache is consulted
  only after the route's source dependency has resolved the object for this caller, so a
  cached tile is never served to another organisation or through a revoked or expired share
  link (S2);
- at most ``tile_render_limit`` renders are in flight per process; beyond it a tile request is
  answered 503 with ``Retry-After`` before any other work (T8).

The hot path is kept short (BENCHMARKS.md): one worker-thread call for the caller's checks and
the object's lookup, titiler's parameter dependencies on the event loop, tile matrix sets kept
per thread instead of copied per request.

``mount`` also serves the public share-link tiles (``terrascan.api.routes.shares``) with a
reduced factory: tiles and tilejson only.
"""

import hashlib
import inspect
import json
import logging
import math
import re
import struct
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import attrs
import numpy as np
from cachetools import LRUCache
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from morecantile import TileMatrixSet
from morecantile.defaults import TileMatrixSets
from morecantile.defaults import tms as morecantile_tms
from morecantile.errors import MorecantileError
from rasterio._err import CPLE_AppDefinedError
from rasterio.errors import RasterioIOError
from rio_tiler.errors import (
    InvalidBandName,
    InvalidExpression,
    MissingBands,
    RioTilerError,
    TileOutsideBounds,
)
from rio_tiler.io import Reader
from rio_tiler.models import ImageData
from starlette.responses import Response

from terrascan.api.deps import CatalogDep, StoreDep
from terrascan.api.errors import problem
from terrascan.api.security import Access, access_for
from terrascan.catalog.database import Catalog
from terrascan.catalog.repositories import ImageryRepository
from terrascan.core.indices import INDICES, IndexDefinition
from terrascan.errors import ConfigurationError
from terrascan.io.storage import forget_remote
from terrascan.settings import Settings

__all__ = [
    "RedisTileCache",
    "TileCache",
    "TileSource",
    "check_expression",
    "install",
    "make_tile_cache",
    "mount",
    "result_tile_source",
]

logger = logging.getLogger("terrascan.api.tiles")

#: Largest tile side (``tilesize=``) in pixels.
MAX_TILESIZE = 1024
#: Largest preview / statistics read (``max_size``, ``width``, ``height``) in pixels.
MAX_IMAGE_SIDE = 2048
MAX_EXPRESSION_CHARS = 400
MAX_HISTOGRAM_BINS = 1000
FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_EXPRESSIONS = 8
#: Bytes of responses kept by the in-memory cache.
CACHE_BYTES = 64 * 1024 * 1024
#: Seconds a client is asked to wait when the object store did not answer a tile's read.
STORE_RETRY_AFTER_S = 5
#: Largest response either cache keeps (bigger ones are served, not cached).
MAX_ENTRY_BYTES = 4 * 1024 * 1024

_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>[-+*/();]))"
)


# --------------------------------------------------------------------------- objects


@dataclass(frozen=True)
class TileSource:
    """A stored COG the caller may read: its org (for cache keys), GDAL path and env."""

    org_id: uuid.UUID
    object_id: uuid.UUID
    path: str
    env: dict[str, Any]
    band_names: tuple[str, ...]


UNRESOLVED = TileSource(uuid.UUID(int=0), uuid.UUID(int=0), "", {}, ())

#: A dependency resolving the request's object for the caller (``imagery_source`` and co).
Resolver = Callable[..., Awaitable[TileSource]]


def resolved(request: Request) -> TileSource:
    """The object the route's resolver found for this request. The cache lookup (every tile
    route's dependency after ``shed_load``) runs the resolver and keeps its answer on the
    request, so the other dependencies read it here: declaring ``Depends(resolver)`` again
    would make FastAPI validate the resolver's parameters again for each of them (it solves a
    dependency's own dependencies before looking in its cache).

    When the resolver's own parameters fail validation (an id that is no UUID) it does not run;
    FastAPI still runs the other dependencies before answering 422 with the errors it
    collected, so they get an empty source (the route itself never runs)."""
    source: TileSource = getattr(request.state, "tile_source", UNRESOLVED)
    return source


async def imagery_source(
    imagery_id: Annotated[uuid.UUID, Path(description="An imagery record of the organisation")],
    access: Annotated[Access, Depends(access_for("imagery:read"))],
    catalog: CatalogDep,
    store: StoreDep,
) -> TileSource:
    return await run_in_threadpool(_imagery_source, catalog, store, access, imagery_id)


def _imagery_source(
    catalog: Catalog, store: Any, access: Access, imagery_id: uuid.UUID
) -> TileSource:
    """The caller's checks and the record's lookup in one session and one worker-thread call:
    a tile request's whole catalog work."""
    with catalog.session() as session:
        org_id = access.checked_org(session)
        key, names = ImageryRepository(session).stored_raster(imagery_id, org_id=org_id)
    return _located(store, org_id, imagery_id, key, tuple(names))


async def result_source(
    job_id: Annotated[uuid.UUID, Path(description="A completed analysis job")],
    access: Annotated[Access, Depends(access_for("job:read"))],
    catalog: CatalogDep,
    store: StoreDep,
) -> TileSource:
    return await run_in_threadpool(_result_source, catalog, store, access, job_id)


def _result_source(catalog: Catalog, store: Any, access: Access, job_id: uuid.UUID) -> TileSource:
    from terrascan.api.routes.analysis import result_job

    with catalog.session() as session:
        return result_tile_source(store, result_job(session, job_id, access.checked_org(session)))


def result_tile_source(store: Any, job: Any) -> TileSource:
    """The tile source of a completed analysis job (already checked to be the caller's)."""
    summary = job.result_summary or {}
    name = str(
        summary.get("index") or ("change" if job.job_type == "change-detection" else "value")
    )
    return _located(store, job.org_id, job.id, str(job.result_key), (name,))


def _located(
    store: Any, org_id: uuid.UUID, object_id: uuid.UUID, key: str, names: tuple[str, ...]
) -> TileSource:
    location = store.gdal_path(key)
    return TileSource(org_id, object_id, location.path, location.env_kwargs(), names)


class CogReader(Reader):
    """rio-tiler's Reader opening the dataset with the GTiff driver only, refusing ``nodata``
    values the raster's type cannot hold (400; numpy would fail on them as a 500), and giving
    images a finite fill value: float results store NaN as nodata, and a NaN fill value cannot
    be cast to a PNG's integers (numpy warns; the masked pixels are transparent either way)."""

    def __attrs_post_init__(self) -> None:
        import rasterio

        if not self.dataset:
            self.dataset = self._ctx_stack.enter_context(rasterio.open(self.input, driver="GTiff"))
        super().__attrs_post_init__()  # type: ignore[no-untyped-call]

    def tile(self, *args: Any, **kwargs: Any) -> ImageData:
        self._check_nodata(kwargs)
        return _finite_fill(super().tile(*args, **kwargs))

    def part(self, *args: Any, **kwargs: Any) -> ImageData:
        self._check_nodata(kwargs)
        return _finite_fill(super().part(*args, **kwargs))

    def preview(self, *args: Any, **kwargs: Any) -> ImageData:
        self._check_nodata(kwargs)
        return _finite_fill(super().preview(*args, **kwargs))

    def feature(self, *args: Any, **kwargs: Any) -> ImageData:
        self._check_nodata(kwargs)
        return _finite_fill(super().feature(*args, **kwargs))

    def point(self, *args: Any, **kwargs: Any) -> Any:
        self._check_nodata(kwargs)
        return super().point(*args, **kwargs)

    def _check_nodata(self, options: dict[str, Any]) -> None:
        """ValueError (400 from the tile routes) for a ``nodata`` the bands' type cannot hold."""
        if options.get("nodata") is None:
            return
        value = float(options["nodata"])
        assert self.dataset is not None  # opened in __attrs_post_init__
        dtype = np.dtype(self.dataset.dtypes[0])
        if np.issubdtype(dtype, np.integer):
            limits = np.iinfo(dtype)
            fits = math.isfinite(value) and limits.min <= value <= limits.max
        else:
            fits = not math.isfinite(value) or abs(value) <= float(np.finfo(dtype).max)
        if not fits:
            raise ValueError(f"nodata {value} does not fit this raster's {dtype} values")


def _finite_fill(image: ImageData) -> ImageData:
    if np.issubdtype(image.array.dtype, np.floating) and not np.isfinite(image.array.fill_value):
        image.array.fill_value = 0
    return image


# --------------------------------------------------------------------------- expressions


def check_expression(expression: str, band_names: tuple[str, ...]) -> str:
    """Return ``expression`` with band names as rio-tiler's ``b<n>``; raise HTTP 400 for
    anything but band names/numbers, numbers, ``+ - * /``, parentheses and ``;``."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise HTTPException(400, f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    out: list[str] = []
    pos, depth = 0, 0
    numbers = {f"b{i}" for i in range(1, len(band_names) + 1)}
    lookup = {name.lower(): f"b{i}" for i, name in enumerate(band_names, start=1)}
    while pos < len(expression):
        match = _TOKEN.match(expression, pos)
        if match is None or match.end() == pos:
            if expression[pos:].strip() == "":
                break
            raise HTTPException(400, f"expression: unexpected {expression[pos : pos + 10]!r}")
        pos = match.end()
        if (name := match.group("name")) is not None:
            band = name.lower()
            if band in numbers:
                out.append(band)
            elif band in lookup:
                out.append(lookup[band])
            else:
                raise HTTPException(400, f"expression: {name!r} is not a band of this raster")
        elif (op := match.group("op")) is not None:
            depth += {"(": 1, ")": -1}.get(op, 0)
            if depth < 0:
                raise HTTPException(400, "expression: unbalanced parentheses")
            out.append(op)
        else:
            out.append(match.group("number"))
    text = "".join(out)
    parts = text.split(";")
    if "**" in text:
        raise HTTPException(400, "expression: only + - * / are allowed")
    if depth != 0 or not text or len(parts) > MAX_EXPRESSIONS or any(not p for p in parts):
        raise HTTPException(400, "expression: empty, unbalanced or too many parts")
    return text


@dataclass
class LayerParams:
    """``bidx`` and a checked ``expression`` (what titiler's ``BidxExprParams`` gives)."""

    indexes: list[int] | None = None
    expression: str | None = None

    def as_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        values = {"indexes": self.indexes, "expression": self.expression}
        return {k: v for k, v in values.items() if v is not None or not exclude_none}


async def layer_params(
    request: Request,
    indexes: Annotated[
        list[int] | None, Query(alias="bidx", description="Band numbers (1-based)")
    ] = None,
    expression: Annotated[
        str | None,
        Query(
            description="Band math: band names or b<n>, numbers, + - * / ( ) and ; only",
            max_length=MAX_EXPRESSION_CHARS,
        ),
    ] = None,
) -> LayerParams:
    """titiler's ``BidxExprParams`` with band numbers checked against the raster and the
    expression checked by ``check_expression``."""
    source = resolved(request)
    if indexes and any(not 1 <= i <= max(1, len(source.band_names)) for i in indexes):
        raise HTTPException(400, "bidx: band number out of range")
    if indexes and len(indexes) > MAX_EXPRESSIONS:
        raise HTTPException(400, f"bidx: at most {MAX_EXPRESSIONS} bands")
    checked = check_expression(expression, source.band_names) if expression else None
    if not indexes and not checked:
        indexes = _index_bands(request.query_params.get("algorithm"), source.band_names)
    return LayerParams(indexes=indexes, expression=checked)


def _index_bands(algorithm: str | None, band_names: tuple[str, ...]) -> list[int] | None:
    """For an index algorithm with no bands chosen, the band numbers it needs: a COG stores
    one plane per band, so reading 2 of 4 bands decodes half the bytes."""
    definition = INDICES.get(algorithm or "")
    names = [n.lower() for n in band_names]
    if definition is None or not all(b in names for b in definition.bands):
        return None
    return [names.index(b) + 1 for b in definition.bands]


# --------------------------------------------------------------------------- indices


def _index_algorithm(definition: IndexDefinition) -> type[Any]:
    from titiler.core.algorithm.base import BaseAlgorithm

    class IndexAlgorithm(BaseAlgorithm):
        input_nbands: int = len(definition.bands)
        output_nbands: int = 1
        output_dtype: str = "float32"
        output_min: tuple[float, ...] = (definition.value_range[0],)
        output_max: tuple[float, ...] = (definition.value_range[1],)

        #: The raster's band names in file order (set from the catalog by the dependency).
        source_bands: tuple[str, ...] = ()

        def __call__(self, img: ImageData) -> ImageData:
            names = [self._name(str(b)) for b in img.band_names]
            data = np.ma.filled(img.array.astype("float32"), np.nan)
            bands = {name: data[i] for i, name in enumerate(names)}
            missing = [b for b in definition.bands if b not in bands]
            if missing:
                raise MissingBands(f"{definition.name} needs bands {missing}")
            values = definition.compute(bands)[np.newaxis]
            mask = ~np.isfinite(values)
            return ImageData(
                np.ma.MaskedArray(np.where(mask, 0, values), mask=mask),
                assets=img.assets,
                crs=img.crs,
                bounds=img.bounds,
                band_names=[definition.name],
                band_descriptions=[definition.name],
            )

        def _name(self, band: str) -> str:
            if re.fullmatch(r"b\d+", band) and int(band[1:]) <= len(self.source_bands):
                return self.source_bands[int(band[1:]) - 1].lower()
            return band.lower()

    IndexAlgorithm.__name__ = f"{definition.name.upper()}Algorithm"
    return IndexAlgorithm


def _process_dependency(algorithms: Any) -> Callable[..., Any]:
    """titiler's ``algorithm=`` / ``algorithm_params=`` dependency (same parameters), refusing
    parameters that are not a JSON object with 400 (titiler's own answers 500), and telling
    index algorithms the raster's band names."""
    from pydantic import ValidationError

    names = tuple(algorithms.data.keys())

    async def post_process(
        request: Request,
        algorithm: Annotated[
            Literal[names] | None,  # type: ignore[valid-type]
            Query(description="Algorithm name"),
        ] = None,
        algorithm_params: Annotated[
            str | None,
            Query(description="Algorithm parameters (a JSON object)", max_length=2000),
        ] = None,
    ) -> Any:
        try:
            kwargs = json.loads(algorithm_params) if algorithm_params else {}
            if not isinstance(kwargs, dict):
                raise TypeError("algorithm_params must be a JSON object")
            if algorithm is None:
                return None
            chosen = algorithms.get(algorithm)(**kwargs)
        except (ValueError, TypeError, ValidationError) as exc:
            raise HTTPException(400, f"algorithm_params: {exc}"[:300]) from exc
        if "source_bands" in type(chosen).model_fields:
            chosen.source_bands = tuple(resolved(request).band_names)
        return chosen

    return post_process


def _algorithms() -> Any:
    from titiler.core.algorithm import algorithms

    return algorithms.register(
        {name: _index_algorithm(d) for name, d in INDICES.items()},  # type: ignore[misc]
        overwrite=True,
    )


# --------------------------------------------------------------------------- caps and cache


#: titiler's CRS parameters, which it hands to ``CRS.from_user_input`` (that reads files and
#: fetches URLs): only ``EPSG:<code>`` is let through (U6, T1).
CRS_PARAMS = ("crs", "dst_crs", "coord_crs", "bbox-crs")
_EPSG = re.compile(r"\[?EPSG:\d{1,6}\]?", re.IGNORECASE)


def _numbers(text: str) -> list[float] | None:
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        return None  # titiler's own validation answers


def _check_histogram(request: Request) -> None:
    """``histogram_bins`` (a count or the edges) at most ``MAX_HISTOGRAM_BINS``; edges and
    ``histogram_range`` finite and within float32 (numpy allocates and casts them)."""
    for name in ("histogram_bins", "histogram_range"):
        for value in request.query_params.getlist(name):
            numbers = _numbers(value)
            if numbers is None:
                continue
            too_many = len(numbers) > MAX_HISTOGRAM_BINS or (
                name == "histogram_bins" and len(numbers) == 1 and numbers[0] > MAX_HISTOGRAM_BINS
            )
            if too_many:
                raise HTTPException(422, f"{name} is capped at {MAX_HISTOGRAM_BINS} bins")
            if not all(math.isfinite(n) and abs(n) <= FLOAT32_MAX for n in numbers):
                raise HTTPException(422, f"{name} must be finite numbers within float32")


def _check_request(request: Request) -> None:
    """422 for CRS parameters other than ``EPSG:<code>`` and for outputs beyond the caps (T7).
    Runs before titiler's own parameter validation."""
    for name in CRS_PARAMS:
        for crs in request.query_params.getlist(name):
            if not _EPSG.fullmatch(crs.strip()):
                raise HTTPException(422, f"{name} must be EPSG:<code>")
    _check_histogram(request)
    params = {**request.query_params, **request.path_params}
    for name, cap in (("tilesize", MAX_TILESIZE), ("max_size", MAX_IMAGE_SIDE),
                      ("width", MAX_IMAGE_SIDE), ("height", MAX_IMAGE_SIDE),
                      ("buffer", 64), ("padding", 64)):  # fmt: skip
        if name in params:
            try:
                value = float(params[name])
            except ValueError:
                continue  # titiler's own validation answers
            if value > cap:
                raise HTTPException(422, f"{name} is capped at {cap}")
    _check_zoom_range(request)
    if "z" in request.path_params:
        import morecantile

        tms_id = request.path_params.get("tileMatrixSetId", "WebMercatorQuad")
        try:
            tms = TILE_MATRIX_SETS.get(tms_id)
            z, x, y = (int(request.path_params[k]) for k in ("z", "x", "y"))
        except (KeyError, ValueError, morecantile.errors.InvalidIdentifier):
            return
        if not tms.minzoom <= z <= tms.maxzoom:
            raise HTTPException(422, f"z must be within {tms.minzoom}..{tms.maxzoom}")
        matrix = tms.matrix(z)
        if not (0 <= x < matrix.matrixWidth and 0 <= y < matrix.matrixHeight):
            raise HTTPException(422, "x or y is outside the tile matrix")


def _check_zoom_range(request: Request) -> None:
    """``minzoom``/``maxzoom`` (tilejson, tileset metadata) within the tile matrix set's zoom
    levels: beyond them titiler computes limits at zooms whose scales overflow (a 500)."""
    names = [n for n in ("minzoom", "maxzoom") if n in request.query_params]
    if not names:
        return
    try:
        tms = TILE_MATRIX_SETS.get(request.path_params.get("tileMatrixSetId", "WebMercatorQuad"))
    except MorecantileError:
        return  # titiler's own validation answers
    for name in names:
        try:
            zoom = int(request.query_params[name])
        except ValueError:
            continue  # titiler's own validation answers
        if not tms.minzoom <= zoom <= tms.maxzoom:
            raise HTTPException(422, f"{name} must be within {tms.minzoom}..{tms.maxzoom}")


#: A cached response: body, media type, content headers.
CacheEntry = tuple[bytes, str, dict[str, str]]


def cache_key(org_id: uuid.UUID, object_id: uuid.UUID, path: str, query: str) -> str:
    """``<org>:<object>:<digest of path and query>``: scoped to the organisation and object,
    and free of whatever the path carries (a share token stays out of Redis's key space)."""
    digest = hashlib.sha256(f"{path}?{query}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"{org_id}:{object_id}:{digest[:40]}"


class TileCache:
    """The embedded mode's cache: responses in this process's memory, bounded in bytes (LRU),
    thread-safe."""

    #: Whether ``get``/``put`` wait on I/O (and so run in a worker thread).
    blocking = False

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._data: LRUCache[str, CacheEntry] = LRUCache(
            maxsize=max_bytes, getsizeof=lambda v: len(v[0]) + 256
        )
        self._lock = threading.Lock()

    def get(self, key: str) -> CacheEntry | None:
        with self._lock:
            return self._data.get(key)

    def put(self, key: str, body: bytes, media_type: str, headers: dict[str, str]) -> None:
        if len(body) > min(MAX_ENTRY_BYTES, self.max_bytes // 8):
            return
        with self._lock:
            self._data[key] = (body, media_type, headers)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class RedisTileCache:
    """Production's cache, shared by every API replica: one Redis string per response with a
    TTL, entries over ``max_entry_bytes`` skipped. Redis failing turns the cache into misses
    (logged at most once a minute), never into failed tile requests."""

    PREFIX = "terrascan:tile:"
    blocking = True

    def __init__(self, client: Any, *, ttl_s: int, max_entry_bytes: int = MAX_ENTRY_BYTES):
        self._client = client
        self.ttl_s = ttl_s
        self.max_entry_bytes = max_entry_bytes
        self._warned_at = 0.0

    @classmethod
    def from_url(cls, url: str, *, ttl_s: int) -> "RedisTileCache":
        try:
            import redis
        except ImportError as exc:
            raise ConfigurationError("a Redis tile cache needs the redis package") from exc
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        return cls(client, ttl_s=ttl_s)

    def get(self, key: str) -> CacheEntry | None:
        try:
            value = self._client.get(self.PREFIX + key)
        except Exception as exc:
            self._warn(exc)
            return None
        return None if value is None else _unpack(bytes(value))

    def put(self, key: str, body: bytes, media_type: str, headers: dict[str, str]) -> None:
        if len(body) > self.max_entry_bytes:
            return
        try:
            self._client.set(self.PREFIX + key, _pack(body, media_type, headers), ex=self.ttl_s)
        except Exception as exc:
            self._warn(exc)

    def clear(self) -> None:
        try:
            for key in self._client.scan_iter(match=self.PREFIX + "*", count=1000):
                self._client.delete(key)
        except Exception as exc:
            self._warn(exc)

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at > 60:
            self._warned_at = now
            logger.warning("tile cache unavailable, serving without it: %s", type(exc).__name__)


def _pack(body: bytes, media_type: str, headers: dict[str, str]) -> bytes:
    meta = json.dumps({"media_type": media_type, "headers": headers}).encode()
    return struct.pack(">I", len(meta)) + meta + body


def _unpack(value: bytes) -> CacheEntry | None:
    try:
        (size,) = struct.unpack(">I", value[:4])
        meta = json.loads(value[4 : 4 + size])
        return value[4 + size :], str(meta["media_type"]), dict(meta["headers"])
    except (struct.error, ValueError, KeyError, TypeError):
        return None  # not ours or damaged: a miss


def make_tile_cache(settings: Settings) -> TileCache | RedisTileCache:
    """Redis when ``tile_cache_url`` names one (a Redis of its own, with ``maxmemory`` and an
    LRU eviction policy: not the broker's); ``memory`` or unset: this process's memory;
    ``off``: no caching."""
    url = settings.tile_cache_url  # never the broker's Redis by default: it must not evict
    if url == "off":
        return TileCache(max_bytes=0)
    if not url or url == "memory":
        return TileCache()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisTileCache.from_url(url, ttl_s=settings.tile_cache_ttl_s)
    raise ConfigurationError(
        "TERRASCAN_TILE_CACHE_URL must be empty, 'memory', 'off' or a redis:// URL"
    )


class _CacheHit(Exception):
    def __init__(self, entry: CacheEntry) -> None:
        self.entry = entry


class RenderAdmission:
    """At most ``limit`` renders in flight in this process (rendering, or waiting for one of the
    thread pool's threads); a request beyond it is answered 503 with ``Retry-After`` at once, so
    a burst of requests gets quick answers instead of a queue without bound (T8). Used from the
    event loop's thread only, so plain counters suffice."""

    def __init__(self, limit: int, metrics: Any = None) -> None:
        self.limit = limit
        self.in_flight = 0
        self.peak = 0
        self._metrics = metrics

    def refuse_when_full(self) -> None:
        if self.full():
            if self._metrics is not None:
                self._metrics.tiles_shed.inc()
            raise HTTPException(
                503, "too many tiles are being rendered; retry shortly", {"Retry-After": "1"}
            )

    def enter(self) -> None:
        self.refuse_when_full()
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        if self._metrics is not None:
            self._metrics.tile_renders.set(self.in_flight)

    def full(self) -> bool:
        return self.in_flight >= self.limit

    def leave(self) -> None:
        self.in_flight -= 1
        if self._metrics is not None:
            self._metrics.tile_renders.set(self.in_flight)


async def shed_load(request: Request) -> None:
    """Every tile route's first dependency: while every render slot is taken, answer 503 before
    any other work (token, catalog, cache), so that refusing costs next to nothing when the
    process is busiest. Cached tiles are refused too then; they are asked again a second
    later."""
    admission: RenderAdmission = request.app.state.tile_admission
    admission.refuse_when_full()


def _cache_dependency(resolve: Resolver) -> Callable[..., Any]:
    """Runs after ``resolve`` has authorised the object (org membership, or a live share link),
    so that a cached response is only ever served to someone allowed the fresh one. A miss
    takes one of the process's render slots until the route returns."""

    async def lookup(
        request: Request, source: Annotated[TileSource, Depends(resolve)]
    ) -> AsyncIterator[None]:
        request.state.tile_source = source
        _check_request(request)
        if request.url.path.endswith("tilejson.json"):
            yield  # its tile URLs come from the request's Host header: never cached
            return
        query = urlencode(sorted(request.query_params.multi_items()))
        key = cache_key(source.org_id, source.object_id, request.url.path, query)
        request.state.tile_cache_key = key
        cache = request.app.state.tile_cache
        entry = await run_in_threadpool(cache.get, key) if cache.blocking else cache.get(key)
        if entry is not None:
            raise _CacheHit(entry)
        admission: RenderAdmission = request.app.state.tile_admission
        admission.enter()
        try:
            yield
        finally:
            admission.leave()

    return lookup


def _forget(source: TileSource) -> None:
    """GDAL's cache of ``source`` cleared, in its environment (the store's endpoint)."""
    import rasterio

    with rasterio.Env(**source.env):
        forget_remote(source.path)


_BAD_REQUEST = (InvalidBandName, InvalidExpression, MissingBands)


class TileRoute(APIRoute):
    """Serves cache hits, stores fresh 200s, maps rio-tiler errors, marks responses private."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except _CacheHit as hit:
                body, media_type, headers = hit.entry
                response = Response(body, media_type=media_type, headers=headers)
                response.headers["X-Cache"] = "hit"
            except TileOutsideBounds as exc:
                response = problem(request, 404, str(exc))
            except _BAD_REQUEST as exc:
                response = problem(request, 400, str(exc))
            except (
                RioTilerError, MorecantileError, ValueError, KeyError, IndexError, SyntaxError
            ) as exc:  # fmt: skip
                # numexpr and rio-tiler refuse what the checks let through (band math
                # errors, impossible reads; titiler's renderer indexes its mask by band and
                # fails on outputs fewer rows high than bands): the request is at fault
                response = problem(request, 400, f"{type(exc).__name__}: {exc}"[:300])
            except CPLE_AppDefinedError as exc:
                if not str(exc).startswith("PROJ:"):  # storage and read failures stay 5xx
                    raise
                response = problem(request, 400, "coordinates outside what the CRS can transform")
            except RasterioIOError as exc:
                source = resolved(request)
                if not source.path.startswith("/vsi"):
                    raise  # a local file that cannot be read is the server's fault
                # the object store did not answer (after GDAL's own retries): T9. GDAL would
                # remember the failure; forget it, so the next request reads the store again
                logger.warning("tile read from the object store failed: %s", str(exc)[:200])
                await run_in_threadpool(_forget, source)
                response = problem(request, 503, "the object store did not answer; retry shortly")
                response.headers["Retry-After"] = str(STORE_RETRY_AFTER_S)
            else:
                key = getattr(request.state, "tile_cache_key", None)
                if key is not None and response.status_code == 200 and hasattr(response, "body"):
                    kept = {k: v for k, v in response.headers.items() if k.startswith("content-")}
                    kept.pop("content-length", None)
                    cache = request.app.state.tile_cache
                    entry = (key, bytes(response.body), response.media_type or "", kept)
                    if cache.blocking:
                        await run_in_threadpool(cache.put, *entry)
                    else:
                        cache.put(*entry)
                    response.headers["X-Cache"] = "miss"
            # a shared link's tiles must stop when it is revoked: browsers revalidate each time
            shared = "/shared/" in request.url.path
            response.headers["Cache-Control"] = (
                "private, no-cache" if shared else ("private, max-age=300")
            )
            return response

        return route


# --------------------------------------------------------------------------- GDAL safety


def _suggested_transform(
    src_crs: Any, dst_crs: Any, width: int, height: int,
    left: float, bottom: float, right: float, top: float, **_: Any,
) -> tuple[Any, int, int]:  # fmt: skip
    """GDAL's suggested warp output (the source diagonal's pixel count kept), computed without
    opening a ``MEM:::`` dataset: rasterio's ``calculate_default_transform`` given bounds opens
    one, which TerraScan's GDAL environment refuses (``GDAL_MEM_ENABLE_OPEN`` stays off)."""
    import math

    from affine import Affine
    from rasterio.warp import transform_bounds

    west, south, east, north = transform_bounds(
        src_crs, dst_crs, left, bottom, right, top, densify_pts=21
    )
    res = math.hypot(east - west, north - south) / math.hypot(width, height)
    cols = max(1, math.ceil((east - west) / res))
    rows = max(1, math.ceil((north - south) / res))
    return Affine(res, 0.0, west, 0.0, -res, north), cols, rows


def _patch_rio_tiler() -> None:
    """Both places rio-tiler calls it: tile reads (``utils``) and min/max zoom (``io.base``,
    which tilejson uses; unpatched it falls back to the whole TMS zoom range with a warning)."""
    import rio_tiler.io.base
    import rio_tiler.utils

    rio_tiler.utils.calculate_default_transform = _suggested_transform  # type: ignore[attr-defined]
    rio_tiler.io.base.calculate_default_transform = _suggested_transform  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- mounting


class _ThreadTileMatrixSets(TileMatrixSets):
    """morecantile's registry, handing out one tile matrix set per thread and identifier.

    morecantile's ``get`` returns a deep copy each time, about 4 ms of a tile request (titiler
    asks once per tile, the caps check once more). Nothing here mutates the sets; a copy per
    thread keeps their lazily cached properties out of each other's way."""

    _local = threading.local()

    def get(self, identifier: str) -> TileMatrixSet:
        sets: dict[str, TileMatrixSet] = self._local.__dict__.setdefault("sets", {})
        found = sets.get(identifier)
        if found is None:
            found = sets[identifier] = super().get(identifier)
        return found


TILE_MATRIX_SETS = _ThreadTileMatrixSets(dict(morecantile_tms.tilematrixsets))

#: titiler's query-parameter dependencies: they only parse parameters, so they run on the event
#: loop (FastAPI runs a plain callable in its thread pool, a hop that costs more than parsing).
PARSERS = (
    "reader_dependency",
    "tile_dependency",
    "dataset_dependency",
    "stats_dependency",
    "histogram_dependency",
    "img_preview_dependency",
    "img_part_dependency",
    "colormap_dependency",
    "render_dependency",
)


def _on_loop(parse: Callable[..., Any]) -> Callable[..., Coroutine[Any, Any, Any]]:
    """``parse`` as an ``async def`` with the same parameters (FastAPI reads ``__signature__``)."""

    async def parsed(**values: Any) -> Any:
        return parse(**values)

    parsed.__signature__ = inspect.signature(parse, eval_str=True)  # type: ignore[attr-defined]
    parsed.__name__ = getattr(parse, "__name__", "parameters")
    return parsed


def _public_factory_class() -> type[Any]:
    from titiler.core.factory import TilerFactory

    class TilesOnlyFactory(TilerFactory):
        """Only ``/tiles/...`` and ``/{tileMatrixSetId}/tilejson.json`` (share links)."""

        def register_routes(self) -> None:
            self.tile()  # type: ignore[no-untyped-call]
            self.tilejson()  # type: ignore[no-untyped-call]

    return TilesOnlyFactory


def _factory(
    resolve: Resolver,
    algorithms: Any,
    name: str,
    prefix: str,
    *,
    tiles_only: bool = False,
) -> Any:
    from titiler.core.factory import TilerFactory

    async def path(request: Request) -> str:
        return resolved(request).path

    async def environment(request: Request) -> dict[str, Any]:
        return resolved(request).env

    factory_class = _public_factory_class() if tiles_only else TilerFactory
    defaults: dict[str, Any] = {f.name: f.default for f in attrs.fields(factory_class)}
    parsers: dict[str, Any] = {name: _on_loop(defaults[name]) for name in PARSERS}
    factory = factory_class(
        **parsers,
        supported_tms=TILE_MATRIX_SETS,
        router=APIRouter(route_class=TileRoute),
        reader=CogReader,
        path_dependency=path,
        layer_dependency=layer_params,  # type: ignore[arg-type]
        process_dependency=_process_dependency(algorithms),
        environment_dependency=environment,  # type: ignore[arg-type]
        add_viewer=False,
        add_part=False,
        add_ogc_maps=False,
        name=name,
        router_prefix=prefix,
    )
    from fastapi.dependencies.utils import get_parameterless_sub_dependant

    # POST /statistics (GeoJSON features) reads one unbounded window per feature with no size
    # cap and no vertex budget; zonal statistics are the zonal-stats job's (contract 4).
    factory.router.routes = [
        r
        for r in factory.router.routes
        if not (isinstance(r, APIRoute) and "POST" in (r.methods or ()))
    ]
    first = (Depends(shed_load), Depends(_cache_dependency(resolve), scope="function"))
    for route in factory.router.routes:  # first, as titiler's add_route_dependencies does
        if isinstance(route, APIRoute):
            for position, depends in enumerate(first):
                route.dependant.dependencies.insert(
                    position,
                    get_parameterless_sub_dependant(depends=depends, path=route.path_format),
                )
            route.dependencies.extend(first)
    return factory


def mount(
    app: FastAPI,
    path: str,
    resolve: Resolver,
    *,
    tag: str,
    name: str,
    tiles_only: bool = False,
) -> None:
    """Mount a tiler at ``path`` (a full path, prefix included) whose dataset ``resolve`` finds
    from the request; ``install`` must have run first."""
    factory = _factory(resolve, app.state.tile_algorithms, name, path, tiles_only=tiles_only)
    app.include_router(factory.router, prefix=path, tags=[tag])


def install(app: FastAPI, *, prefix: str) -> None:
    """Mount the imagery and result tilers under ``prefix`` and give the app a tile cache."""
    app.state.tile_cache = make_tile_cache(app.state.settings)
    app.state.tile_admission = RenderAdmission(
        app.state.settings.tile_render_limit, app.state.metrics
    )
    _patch_rio_tiler()
    app.state.tile_algorithms = _algorithms()
    for path, resolve, tag, name in (
        ("/imagery/{imagery_id}", imagery_source, "imagery tiles", "imagery"),
        ("/analysis/results/{job_id}", result_source, "result tiles", "results"),
    ):
        mount(app, prefix + path, resolve, tag=tag, name=name)
