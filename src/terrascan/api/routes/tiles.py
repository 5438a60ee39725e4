"""Dynamic tiles: titiler.core's ``TilerFactory`` over the organisation's stored COGs.

Two factories are mounted, keeping titiler's route shapes (``/{tileMatrixSetId}/tilejson.json``,
``/tiles/{tileMatrixSetId}/{z}/{x}/{y}[.{format}]``, ``/info``, ``/statistics``, ``/preview``,
``/point``):

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
- responses are cached in memory per organisation and object, and sent ``Cache-Control:
  private``.
"""

import re
import threading
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from cachetools import LRUCache
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.routing import APIRoute
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

from terrascan.api.deps import SessionDep, StoreDep
from terrascan.api.errors import problem
from terrascan.api.security import OrgContext, require
from terrascan.core.indices import INDICES, IndexDefinition
from terrascan.errors import NotFoundError

__all__ = ["TileCache", "check_expression", "install"]

#: Largest tile side (``tilesize=``) in pixels.
MAX_TILESIZE = 1024
#: Largest preview / statistics read (``max_size``, ``width``, ``height``) in pixels.
MAX_IMAGE_SIDE = 2048
MAX_EXPRESSION_CHARS = 400
MAX_EXPRESSIONS = 8
#: Bytes of responses kept by the in-memory cache.
CACHE_BYTES = 64 * 1024 * 1024

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


def imagery_source(
    imagery_id: Annotated[uuid.UUID, Path(description="An imagery record of the organisation")],
    ctx: Annotated[OrgContext, Depends(require("imagery:read"))],
    session: SessionDep,
    store: StoreDep,
) -> TileSource:
    from terrascan.catalog.imagery import ImagerySearchRepository

    row = ImagerySearchRepository(session).get(imagery_id, org_id=ctx.org_id)
    if row.storage_key is None or row.status != "ready":
        raise NotFoundError(f"imagery {imagery_id} has no stored raster")
    names = tuple(str(n) for n in (row.bands or {}).get("names", []))
    return _located(store, ctx.org_id, row.id, row.storage_key, names)


def result_source(
    job_id: Annotated[uuid.UUID, Path(description="A completed analysis job")],
    ctx: Annotated[OrgContext, Depends(require("job:read"))],
    session: SessionDep,
    store: StoreDep,
) -> TileSource:
    from terrascan.api.routes.analysis import result_job

    job = result_job(session, job_id, ctx.org_id)
    summary = job.result_summary or {}
    name = str(
        summary.get("index") or ("change" if job.job_type == "change-detection" else "value")
    )
    return _located(store, ctx.org_id, job.id, str(job.result_key), (name,))


def _located(
    store: Any, org_id: uuid.UUID, object_id: uuid.UUID, key: str, names: tuple[str, ...]
) -> TileSource:
    location = store.gdal_path(key)
    return TileSource(org_id, object_id, location.path, location.env_kwargs(), names)


class CogReader(Reader):
    """rio-tiler's Reader opening the dataset with the GTiff driver only."""

    def __attrs_post_init__(self) -> None:
        import rasterio

        if not self.dataset:
            self.dataset = self._ctx_stack.enter_context(rasterio.open(self.input, driver="GTiff"))
        super().__attrs_post_init__()  # type: ignore[no-untyped-call]


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


def _layer_dependency(resolve: Callable[..., TileSource]) -> Callable[..., LayerParams]:
    def layer(
        source: Annotated[TileSource, Depends(resolve)],
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
        if indexes and any(not 1 <= i <= max(1, len(source.band_names)) for i in indexes):
            raise HTTPException(400, "bidx: band number out of range")
        checked = check_expression(expression, source.band_names) if expression else None
        return LayerParams(indexes=indexes, expression=checked)

    return layer


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


def _process_dependency(resolve: Callable[..., TileSource], algorithms: Any) -> Callable[..., Any]:
    """titiler's ``algorithm=`` dependency, telling index algorithms the raster's band names."""
    choose = algorithms.dependency

    def post_process(
        source: Annotated[TileSource, Depends(resolve)],
        algorithm: Annotated[Any, Depends(choose)],
    ) -> Any:
        if algorithm is not None and "source_bands" in type(algorithm).model_fields:
            algorithm.source_bands = tuple(source.band_names)
        return algorithm

    return post_process


def _algorithms() -> Any:
    from titiler.core.algorithm import algorithms

    return algorithms.register(
        {name: _index_algorithm(d) for name, d in INDICES.items()},  # type: ignore[misc]
        overwrite=True,
    )


# --------------------------------------------------------------------------- caps and cache


def _check_sizes(request: Request) -> None:
    """422 for outputs beyond the caps (T7)."""
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
    if "z" in request.path_params:
        import morecantile

        tms_id = request.path_params.get("tileMatrixSetId", "WebMercatorQuad")
        try:
            tms = morecantile.tms.get(tms_id)
            z, x, y = (int(request.path_params[k]) for k in ("z", "x", "y"))
        except (KeyError, ValueError, morecantile.errors.InvalidIdentifier):
            return
        if not tms.minzoom <= z <= tms.maxzoom:
            raise HTTPException(422, f"z must be within {tms.minzoom}..{tms.maxzoom}")
        matrix = tms.matrix(z)
        if not (0 <= x < matrix.matrixWidth and 0 <= y < matrix.matrixHeight):
            raise HTTPException(422, "x or y is outside the tile matrix")


class TileCache:
    """Responses by (organisation, object, path and query); bounded in bytes, thread-safe."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self._data: LRUCache[tuple[str, ...], tuple[bytes, str, dict[str, str]]] = LRUCache(
            maxsize=max_bytes, getsizeof=lambda v: len(v[0]) + 256
        )
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> tuple[bytes, str, dict[str, str]] | None:
        with self._lock:
            return self._data.get(key)

    def put(
        self, key: tuple[str, ...], body: bytes, media_type: str, headers: dict[str, str]
    ) -> None:
        if len(body) > CACHE_BYTES // 8:
            return
        with self._lock:
            self._data[key] = (body, media_type, headers)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class _CacheHit(Exception):
    def __init__(self, entry: tuple[bytes, str, dict[str, str]]) -> None:
        self.entry = entry


def _cache_dependency(resolve: Callable[..., TileSource]) -> Callable[..., None]:
    def lookup(request: Request, source: Annotated[TileSource, Depends(resolve)]) -> None:
        _check_sizes(request)
        if request.method != "GET":
            return
        query = "&".join(sorted(f"{k}={v}" for k, v in request.query_params.multi_items()))
        key = (str(source.org_id), str(source.object_id), request.url.path, query)
        request.state.tile_cache_key = key
        entry = request.app.state.tile_cache.get(key)
        if entry is not None:
            raise _CacheHit(entry)

    return lookup


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
            except (RioTilerError, ValueError, KeyError, SyntaxError) as exc:
                # numexpr and rio-tiler refuse what the checks let through (band math
                # errors, impossible reads): the request is at fault
                response = problem(request, 400, f"{type(exc).__name__}: {exc}"[:300])
            else:
                key = getattr(request.state, "tile_cache_key", None)
                if key is not None and response.status_code == 200 and hasattr(response, "body"):
                    kept = {k: v for k, v in response.headers.items() if k.startswith("content-")}
                    kept.pop("content-length", None)
                    request.app.state.tile_cache.put(
                        key, bytes(response.body), response.media_type or "", kept
                    )
            response.headers["Cache-Control"] = "private, max-age=300"
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
    import rio_tiler.utils

    rio_tiler.utils.calculate_default_transform = _suggested_transform  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- mounting


def _factory(resolve: Callable[..., TileSource], algorithms: Any, name: str, prefix: str) -> Any:
    from titiler.core.factory import TilerFactory

    def path(source: Annotated[TileSource, Depends(resolve)]) -> str:
        return source.path

    def environment(source: Annotated[TileSource, Depends(resolve)]) -> dict[str, Any]:
        return source.env

    factory = TilerFactory(
        router=APIRouter(route_class=TileRoute),
        reader=CogReader,
        path_dependency=path,
        layer_dependency=_layer_dependency(resolve),  # type: ignore[arg-type]
        process_dependency=_process_dependency(resolve, algorithms),
        environment_dependency=environment,
        add_viewer=False,
        add_part=False,
        add_ogc_maps=False,
        name=name,
        router_prefix=prefix,
    )
    from fastapi.dependencies.utils import get_parameterless_sub_dependant

    lookup = Depends(_cache_dependency(resolve))
    for route in factory.router.routes:  # first, as titiler's add_route_dependencies does
        if isinstance(route, APIRoute):
            route.dependant.dependencies.insert(
                0, get_parameterless_sub_dependant(depends=lookup, path=route.path_format)
            )
            route.dependencies.append(lookup)
    return factory


def install(app: FastAPI, *, prefix: str) -> None:
    """Mount the imagery and result tilers under ``prefix`` and give the app a tile cache."""
    app.state.tile_cache = TileCache()
    _patch_rio_tiler()
    algorithms = _algorithms()
    for path, resolve, tag, name in (
        ("/imagery/{imagery_id}", imagery_source, "imagery tiles", "imagery"),
        ("/analysis/results/{job_id}", result_source, "result tiles", "results"),
    ):
        factory = _factory(resolve, algorithms, name, prefix + path)
        app.include_router(factory.router, prefix=prefix + path, tags=[tag])
