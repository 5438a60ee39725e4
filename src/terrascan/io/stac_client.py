"""Search a STAC API (Earth Search v1 by default) and normalise what it returns.

Built on pystac-client, with the limits a service needs around it:

- every request goes to the API's own origin (scheme, host and port of the URL it was opened
  with): a ``next`` link, a ``search`` link or a redirect that points anywhere else is refused
  before it is sent, and hrefs that are not ``http(s)`` URLs are never read (pystac would open
  them as local files);
- connect/read timeouts, a few retries with exponential back-off on connection errors and
  429/5xx answers, and one overall deadline that also bounds slow-drip bodies;
- each response body is capped in bytes, and pagination is bounded in pages and items; a
  ``next`` link seen before ends the search (a server that links a page to itself);
- results become :class:`Scene` values: id, collection, platform, time, cloud cover,
  footprint, the bands available (common names) with their scale and offset, the thumbnail
  href and the raw item.

Cloud cover is filtered by the server where it can (CQL2 ``filter`` or the ``query``
extension, whichever the API declares) and again here, so the answer is right either way.
"""

from __future__ import annotations

import json
import math
import re
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import attrs
import requests
from pystac_client import Client
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from requests.adapters import HTTPAdapter
from urllib3 import Retry

from terrascan.errors import (
    InvalidInputError,
    NotFoundError,
    TooLargeError,
    UpstreamError,
)
from terrascan.io.sensors import (
    COMMON_NAMES,
    QUALITY_BANDS,
    scale_offset,
    sensor_for_item,
)
from terrascan.io.stac_item import find_asset

__all__ = [
    "DEFAULT_COLLECTIONS",
    "RefusedRequestError",
    "Scene",
    "SceneBand",
    "SearchLimits",
    "SearchResult",
    "StacApiError",
    "StacClient",
    "normalise_item",
    "parse_bbox",
    "parse_datetime_range",
]

#: Collections searched when none are named (Earth Search v1 ids).
DEFAULT_COLLECTIONS: tuple[str, ...] = ("sentinel-2-l2a", "sentinel-2-l1c", "landsat-c2-l2")
#: Most coordinates a search geometry may have (checked before shapely sees it).
MAX_GEOMETRY_VERTICES = 10_000

_COLLECTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_ITEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
_RETRY_STATUS = (429, 500, 502, 503, 504)


class StacApiError(UpstreamError):
    """The STAC API failed, answered something unusable, or ran past its limits (an HTTP
    answer of 502)."""

    title = "STAC API error"


class RefusedRequestError(StacApiError):
    """A request to another origin (a link or a redirect) or to a non-HTTP href was refused."""

    title = "STAC API request refused"


@attrs.frozen
class SearchLimits:
    """Bounds on one search: pages, items, bytes per response, time."""

    max_pages: int = 20
    max_items: int = 1000
    page_size: int = 100
    max_response_bytes: int = 32 * 1024 * 1024
    deadline_s: float = 60.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0
    retries: int = 3
    backoff_s: float = 0.5
    max_redirects: int = 3


@attrs.frozen
class SceneBand:
    """One band of a scene: the asset holding it and how to scale its digital numbers."""

    name: str
    asset: str
    href: str
    scale: float = 1.0
    offset: float = 0.0
    nodata: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class Scene:
    """One STAC item, normalised."""

    id: str
    collection: str
    platform: str | None
    datetime: datetime | None
    cloud_cover: float | None
    footprint: dict[str, Any] | None  # GeoJSON geometry, EPSG:4326
    bbox: tuple[float, ...] | None
    bands: tuple[SceneBand, ...]
    thumbnail: str | None
    self_href: str | None
    item: dict[str, Any] = attrs.field(repr=False, eq=False)

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.bands)

    def to_dict(self, *, include_item: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "collection": self.collection,
            "platform": self.platform,
            "datetime": self.datetime.isoformat() if self.datetime else None,
            "cloud_cover": self.cloud_cover,
            "bbox": list(self.bbox) if self.bbox else None,
            "footprint": self.footprint,
            "bands": [b.to_dict() for b in self.bands],
            "thumbnail": self.thumbnail,
            "self_href": self.self_href,
        }
        if include_item:
            out["item"] = self.item
        return out

    def to_feature(self) -> dict[str, Any]:
        """The scene as a GeoJSON Feature (``POST /api/v1/imagery/discover``): the STAC item
        id, its bbox and footprint, and the normalised properties."""
        return {
            "type": "Feature",
            "id": self.id,
            "bbox": list(self.bbox) if self.bbox else None,
            "geometry": self.footprint,
            "properties": {
                "collection": self.collection,
                "platform": self.platform,
                "datetime": self.datetime.isoformat().replace("+00:00", "Z")
                if self.datetime
                else None,
                "cloud_cover": self.cloud_cover,
                "bands": [b.name for b in self.bands if b.name in COMMON_NAMES],
                "thumbnail": self.thumbnail,
            },
        }


@attrs.frozen
class SearchResult:
    """Scenes found, how many pages were read, and why the search stopped early, if it did."""

    scenes: tuple[Scene, ...]
    pages: int
    truncated: bool = False
    stop_reason: str | None = None


# --------------------------------------------------------------------------- input checks


def parse_bbox(values: Sequence[float] | str) -> tuple[float, float, float, float]:
    """Return ``(west, south, east, north)`` in degrees, checked; text may be ``"W,S,E,N"``."""
    if isinstance(values, str):
        parts: Sequence[Any] = [p for p in re.split(r"[,\s]+", values.strip()) if p]
    else:
        parts = values
    try:
        west, south, east, north = (float(v) for v in parts)
    except (TypeError, ValueError):
        raise InvalidInputError("bbox must be four numbers: west south east north") from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise InvalidInputError("bbox values must be finite numbers")
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InvalidInputError(
            "bbox must have -180 <= west < east <= 180 and -90 <= south < north <= 90"
        )
    return west, south, east, north


def _parse_instant(text: str, *, end: bool) -> datetime | None:
    text = text.strip()
    if text in ("", ".."):
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = datetime.fromisoformat(text).replace(tzinfo=UTC)
            return day + timedelta(days=1, microseconds=-1) if end else day
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"invalid date or time {text!r}; use YYYY-MM-DD or RFC 3339"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_datetime_range(text: str) -> tuple[datetime | None, datetime | None]:
    """Parse ``A/B`` (either side may be ``..`` or empty) or a single instant or day.

    Days are whole days in UTC: ``2023-10-08`` alone covers that day, and as an end it
    includes the day. Raises :class:`InvalidInputError` for anything else or an empty range.
    """
    if not isinstance(text, str) or not text.strip() or len(text) > 100:
        raise InvalidInputError("datetime must be A/B, e.g. 2023-01-01/2023-03-31")
    if "/" in text:
        first, _, second = text.partition("/")
        start, stop = _parse_instant(first, end=False), _parse_instant(second, end=True)
    else:
        start, stop = _parse_instant(text, end=False), _parse_instant(text, end=True)
    if start is None and stop is None:
        raise InvalidInputError("datetime range is open at both ends")
    if start is not None and stop is not None and start > stop:
        raise InvalidInputError("datetime range starts after it ends")
    return start, stop


def _rfc3339(value: datetime | None) -> str:
    return ".." if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _count_vertices(coordinates: Any, budget: int) -> int:
    """Count positions in nested GeoJSON coordinates, stopping past ``budget``."""
    stack, count = [coordinates], 0
    while stack:
        value = stack.pop()
        if isinstance(value, list | tuple) and value and isinstance(value[0], int | float):
            count += 1
            if count > budget:
                return count
        elif isinstance(value, list | tuple):
            stack.extend(value)
    return count


def check_geometry(geometry: Any) -> dict[str, Any]:
    """Return a GeoJSON geometry dict after checking its type, size and numbers."""
    if not isinstance(geometry, dict) or not isinstance(geometry.get("type"), str):
        raise InvalidInputError("intersects must be a GeoJSON geometry object")
    kind = geometry["type"]
    if kind not in (
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
    ):
        raise InvalidInputError(f"unsupported geometry type {kind!r}")
    count = _count_vertices(geometry.get("coordinates"), MAX_GEOMETRY_VERTICES)
    if count > MAX_GEOMETRY_VERTICES:
        raise TooLargeError(f"geometry has more than {MAX_GEOMETRY_VERTICES:,} vertices")
    if count == 0:
        raise InvalidInputError("geometry has no coordinates")
    text = json.dumps(geometry.get("coordinates"), allow_nan=True)
    if "NaN" in text or "Infinity" in text:
        raise InvalidInputError("geometry coordinates must be finite numbers")
    return {"type": kind, "coordinates": geometry["coordinates"]}


def check_collections(collections: Sequence[str] | None) -> tuple[str, ...]:
    names = tuple(c.strip() for c in (collections or DEFAULT_COLLECTIONS) if c.strip())
    if not names or len(names) > 20:
        raise InvalidInputError("give between 1 and 20 collections")
    for name in names:
        if not _COLLECTION_ID.fullmatch(name):
            raise InvalidInputError(f"invalid collection id {name!r}")
    return names


def check_item_ids(ids: Sequence[str]) -> tuple[str, ...]:
    out = tuple(i.strip() for i in ids)
    if not out or len(out) > 100:
        raise InvalidInputError("give between 1 and 100 item ids")
    for item_id in out:
        if not _ITEM_ID.fullmatch(item_id):
            raise InvalidInputError(f"invalid item id {item_id!r}")
    return out


# --------------------------------------------------------------------------- normalising


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _item_datetime(properties: Mapping[str, Any]) -> datetime | None:
    for key in ("datetime", "start_datetime"):
        value = properties.get(key)
        if isinstance(value, str) and value:
            try:
                return _parse_instant(value, end=False)
            except InvalidInputError:
                return None
    return None


def _nodata(asset: Mapping[str, Any]) -> float | None:
    bands = asset.get("raster:bands")
    if isinstance(bands, list) and bands and isinstance(bands[0], dict):
        return _number(bands[0].get("nodata"))
    return None


def _scene_bands(item: Mapping[str, Any]) -> tuple[SceneBand, ...]:
    sensor = sensor_for_item(item)
    props = item.get("properties") if isinstance(item.get("properties"), dict) else {}
    names = list(sensor.bands) if sensor is not None else [*COMMON_NAMES, *QUALITY_BANDS]
    bands = []
    for name in names:
        try:
            key, asset = find_asset(item, name, sensor)
        except InvalidInputError:
            continue
        spec = sensor.band(name) if sensor is not None and sensor.has_band(name) else None
        scale, offset = scale_offset(asset, spec, sensor, props)
        bands.append(SceneBand(name, key, str(asset["href"]), scale, offset, _nodata(asset)))
    return tuple(bands)


def _thumbnail(item: Mapping[str, Any]) -> str | None:
    assets = item.get("assets") or {}
    candidates = [assets.get("thumbnail")] + [
        a for a in assets.values() if isinstance(a, dict) and "thumbnail" in (a.get("roles") or [])
    ]
    for asset in candidates:
        if isinstance(asset, dict) and isinstance(asset.get("href"), str):
            return str(asset["href"])
    return None


def _self_href(item: Mapping[str, Any]) -> str | None:
    for link in item.get("links") or []:
        if (
            isinstance(link, dict)
            and link.get("rel") == "self"
            and isinstance(link.get("href"), str)
        ):
            return str(link["href"])
    return None


def normalise_item(item: Mapping[str, Any]) -> Scene:
    """Turn a STAC item (a parsed dict) into a :class:`Scene`; raises
    :class:`InvalidInputError` when it is not an item."""
    if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
        raise InvalidInputError("not a STAC item: no id")
    if not isinstance(item.get("assets"), dict):
        raise InvalidInputError(f"STAC item {item['id']!r} has no assets")
    raw_props = item.get("properties")
    props: Mapping[str, Any] = raw_props if isinstance(raw_props, dict) else {}
    geometry = item.get("geometry") if isinstance(item.get("geometry"), dict) else None
    bbox = item.get("bbox")
    box = tuple(float(v) for v in bbox) if isinstance(bbox, list) and len(bbox) in (4, 6) else None
    platform = props.get("platform")
    return Scene(
        id=str(item["id"]),
        collection=str(item.get("collection") or ""),
        platform=str(platform) if isinstance(platform, str) else None,
        datetime=_item_datetime(props),
        cloud_cover=_number(props.get("eo:cloud_cover")),
        footprint=geometry,
        bbox=box,
        bands=_scene_bands(item),
        thumbnail=_thumbnail(item),
        self_href=_self_href(item),
        item=dict(item),
    )


# --------------------------------------------------------------------------- transport


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise RefusedRequestError(f"not an http(s) URL: {url[:200]!r}")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise RefusedRequestError(f"invalid port in {url[:200]!r}") from None
    return scheme, parts.hostname.lower(), port


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.reset()

    def reset(self) -> None:
        self.until = time.monotonic() + self.seconds

    def remaining(self) -> float:
        left = self.until - time.monotonic()
        if left <= 0:
            raise StacApiError(f"the STAC API did not answer within {self.seconds:g} s")
        return left


class _GuardedSession(requests.Session):
    """A requests session that only talks to one origin, within byte and time limits."""

    def __init__(self, origin: tuple[str, str, int], limits: SearchLimits) -> None:
        super().__init__()
        self.trust_env = False  # no proxies or .netrc from the environment
        self.origin = origin
        self.limits = limits
        self.deadline = _Deadline(limits.deadline_s)
        self.refusal: StacApiError | None = None
        self.requests_sent = 0
        retry = Retry(
            total=limits.retries,
            connect=limits.retries,
            read=limits.retries,
            status=limits.retries,
            redirect=False,
            status_forcelist=_RETRY_STATUS,
            allowed_methods=None,  # searches are safe to repeat, POST included
            backoff_factor=limits.backoff_s,
            backoff_max=8.0,
            respect_retry_after_header=False,
            raise_on_status=False,
        )
        for prefix in ("http://", "https://"):
            self.mount(prefix, HTTPAdapter(max_retries=retry))

    def _check(self, url: str) -> None:
        try:
            where = _origin(url)
        except RefusedRequestError as exc:
            self.refusal = exc
            raise
        if where != self.origin:
            self.refusal = RefusedRequestError(
                f"refusing a request to {where[1]}:{where[2]}: the STAC API is at "
                f"{self.origin[1]}:{self.origin[2]}"
            )
            raise self.refusal

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        try:
            return self._send(request, **kwargs)
        except StacApiError as exc:
            self.refusal = exc
            raise

    def _send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False
        kwargs["stream"] = True
        for _hop in range(self.limits.max_redirects + 1):
            self._check(str(request.url))
            left = self.deadline.remaining()
            kwargs["timeout"] = (
                min(self.limits.connect_timeout_s, left),
                min(self.limits.read_timeout_s, left),
            )
            self.requests_sent += 1
            response = super().send(request, **kwargs)
            if not response.is_redirect:
                self._read_body(response)
                return response
            target = urljoin(str(request.url), response.headers.get("location", ""))
            response.close()  # never read a redirect's body
            request = request.copy()
            request.url = target
            if response.status_code == 303:
                request.method, request.body = "GET", None
        raise StacApiError(f"the STAC API redirected more than {self.limits.max_redirects} times")

    def _read_body(self, response: requests.Response) -> None:
        cap = self.limits.max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            response.close()
            self.refusal = StacApiError(
                f"STAC API response of {int(declared):,} bytes is too large"
            )
            raise self.refusal
        chunks, size = [], 0
        try:
            for chunk in _chunks(response):
                size += len(chunk)
                if size > cap:
                    self.refusal = StacApiError(f"STAC API response is over {cap:,} bytes")
                    raise self.refusal
                self.deadline.remaining()
                chunks.append(chunk)
        except StacApiError as exc:
            self.refusal = exc
            response.close()
            raise
        response._content = b"".join(chunks)
        response._content_consumed = True


def _chunks(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives: each chunk is one socket read, so a slow sender cannot hold
    a read for longer than the read timeout between deadline checks."""
    raw = response.raw
    while True:
        try:
            chunk = raw.read1(64 * 1024, decode_content=True)
        except Exception as exc:  # urllib3 timeouts, resets, bad encodings
            raise StacApiError(f"reading the STAC API's answer failed: {_short(exc)}") from None
        if not chunk:
            return
        yield chunk


class _GuardedStacIO(StacApiIO):
    """pystac-client's IO over the guarded session; never reads local files."""

    def __init__(self, session: _GuardedSession) -> None:
        super().__init__(max_retries=None)
        self.session = session

    def read_text(self, source: Any, *args: Any, **kwargs: Any) -> str:
        href = source.get_absolute_href() if hasattr(source, "get_absolute_href") else source
        if isinstance(href, str) or href is None:
            _origin(str(href or ""))  # refuse local paths and other schemes
        return super().read_text(source, *args, **kwargs)


# --------------------------------------------------------------------------- the client


class StacClient:
    """Searches one STAC API within :class:`SearchLimits`.

    ``StacClient(settings.stac_api_url).search(bbox=..., datetime="2023-01-01/2023-02-01")``.
    """

    def __init__(self, url: str, limits: SearchLimits | None = None) -> None:
        self.url = url.rstrip("/")
        self.limits = limits or SearchLimits()
        self._session = _GuardedSession(_origin(self.url), self.limits)
        self._client: Client | None = None

    @property
    def requests_sent(self) -> int:
        return self._session.requests_sent

    def close(self) -> None:
        """Close the HTTP session and its connection pool."""
        self._session.close()

    def __enter__(self) -> StacClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self._session.refusal = None
        try:
            return fn(*args, **kwargs)
        except APIError as exc:
            raise self._session.refusal or StacApiError(f"STAC API error: {_short(exc)}") from None
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, InvalidInputError):
                raise
            raise self._session.refusal or StacApiError(
                f"unusable answer from the STAC API: {_short(exc)}"
            ) from None

    def _open(self) -> Client:
        if self._client is None:
            io = _GuardedStacIO(self._session)
            self._client = self._call(Client.open, self.url, stac_io=io)
        return self._client

    def search(
        self,
        *,
        bbox: Sequence[float] | None = None,
        intersects: Mapping[str, Any] | None = None,
        datetime: str | None = None,
        collections: Sequence[str] | None = None,
        max_cloud: float | None = None,
        limit: int | None = None,
        ids: Sequence[str] | None = None,
    ) -> SearchResult:
        """Search ``collections`` (default :data:`DEFAULT_COLLECTIONS`) and return up to
        ``limit`` scenes (at most ``limits.max_items``), newest first as the API orders them."""
        params = self._search_params(bbox, intersects, datetime, collections, max_cloud, ids)
        wanted = min(limit or self.limits.max_items, self.limits.max_items)
        if wanted < 1:
            raise InvalidInputError("limit must be at least 1")
        self._session.deadline.reset()
        client = self._open()
        params.update(self._cloud_filter(client, max_cloud))
        page_size = max(1, min(self.limits.page_size, wanted))
        search = self._call(client.search, method="POST", limit=page_size, **params)
        window = params.get("datetime")
        return self._collect(search, wanted, max_cloud, window)

    def get_items(
        self, ids: Sequence[str], collections: Sequence[str] | None = None
    ) -> list[Scene]:
        """The scenes with these item ids (in the given order); a missing id raises
        :class:`~terrascan.errors.NotFoundError`."""
        wanted = check_item_ids(ids)
        found = {
            s.id: s
            for s in self.search(ids=wanted, collections=collections, limit=len(wanted)).scenes
        }
        missing = [i for i in wanted if i not in found]
        if missing:
            raise NotFoundError(f"STAC item(s) not found: {', '.join(missing)}")
        return [found[i] for i in wanted]

    def _search_params(
        self,
        bbox: Sequence[float] | None,
        intersects: Mapping[str, Any] | None,
        datetime: str | None,
        collections: Sequence[str] | None,
        max_cloud: float | None,
        ids: Sequence[str] | None,
    ) -> dict[str, Any]:
        if bbox is not None and intersects is not None:
            raise InvalidInputError("give bbox or intersects, not both")
        params: dict[str, Any] = {"collections": list(check_collections(collections))}
        if bbox is not None:
            params["bbox"] = list(parse_bbox(bbox))
        if intersects is not None:
            params["intersects"] = check_geometry(dict(intersects))
        if datetime:
            start, stop = parse_datetime_range(datetime)
            params["datetime"] = f"{_rfc3339(start)}/{_rfc3339(stop)}"
        if max_cloud is not None and not (math.isfinite(max_cloud) and 0 <= max_cloud <= 100):
            raise InvalidInputError("max cloud cover must lie between 0 and 100")
        if ids:
            params["ids"] = list(check_item_ids(ids))
        return params

    @staticmethod
    def _cloud_filter(client: Client, max_cloud: float | None) -> dict[str, Any]:
        if max_cloud is None:
            return {}
        if client.conforms_to("FILTER"):
            return {
                "filter": {"op": "<=", "args": [{"property": "eo:cloud_cover"}, max_cloud]},
                "filter_lang": "cql2-json",
            }
        if client.conforms_to("QUERY"):
            return {"query": {"eo:cloud_cover": {"lte": max_cloud}}}
        return {}  # filtered here only

    def _collect(
        self, search: Any, wanted: int, max_cloud: float | None, window: str | None
    ) -> SearchResult:
        scenes: dict[tuple[str, str], Scene] = {}
        seen_next: set[str] = set()
        pages, reason = 0, None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pager: Iterator[dict[str, Any]] = iter(self._call(search.pages_as_dicts))
            while True:
                page = self._call(next, pager, None)
                if page is None:
                    break
                pages += 1
                self._add_page(page, scenes, wanted, max_cloud, window)
                reason = self._stop_reason(page, pages, len(scenes), wanted, seen_next)
                if reason is not None:
                    break
        truncated = reason is not None and reason != "limit"
        return SearchResult(tuple(scenes.values()), pages, truncated, reason)

    def _add_page(
        self,
        page: Mapping[str, Any],
        scenes: dict[tuple[str, str], Scene],
        wanted: int,
        max_cloud: float | None,
        window: str | None,
    ) -> None:
        features = page.get("features")
        if not isinstance(features, list):
            raise StacApiError("STAC API page has no feature list")
        for feature in features:
            if len(scenes) >= wanted:
                return
            try:
                scene = normalise_item(feature)
            except InvalidInputError:
                continue
            if max_cloud is not None and (
                scene.cloud_cover is None or scene.cloud_cover > max_cloud
            ):
                continue
            if window and not _in_window(scene.datetime, window):
                continue
            scenes.setdefault((scene.collection, scene.id), scene)

    def _stop_reason(
        self, page: Mapping[str, Any], pages: int, found: int, wanted: int, seen: set[str]
    ) -> str | None:
        if found >= wanted:
            return "limit"
        raw_links = page.get("links")
        links: list[Any] = raw_links if isinstance(raw_links, list) else []
        nxt = next((lk for lk in links if isinstance(lk, dict) and lk.get("rel") == "next"), None)
        if nxt is None:
            return None
        key = json.dumps([nxt.get("href"), nxt.get("body")], sort_keys=True, default=str)
        if key in seen:
            return "repeated next link"
        seen.add(key)
        if pages >= self.limits.max_pages:
            return f"page limit ({self.limits.max_pages})"
        return None


def _in_window(when: datetime | None, window: str) -> bool:
    if when is None:
        return False
    first, _, second = window.partition("/")
    start = _parse_instant(first, end=False)
    stop = _parse_instant(second, end=True)
    return (start is None or when >= start) and (stop is None or when <= stop)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__
