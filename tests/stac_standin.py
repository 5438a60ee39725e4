"""Local stand-ins for the outside world: a STAC API replaying real Earth Search responses, a
file server with HTTP range requests, hostile variants, and a canary that must stay silent.

Every server listens on 127.0.0.1 on a free port, in a daemon thread, and records what it was
asked: method, path, headers, body, and the bytes it sent back.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

EARTH_SEARCH = "https://earth-search.aws.element84.com/v1"


@dataclass
class Request:
    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: Stream the body in this many chunks with a pause between them (slow-drip servers).
    drip: tuple[int, float] | None = None


Handler = Callable[[Request], Response]


def json_response(
    value: Any, status: int = 200, content_type: str = "application/json"
) -> Response:
    return Response(status, json.dumps(value).encode(), {"Content-Type": content_type})


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up early (refused bodies) are part of the tests


class Server:
    """A threaded HTTP server whose answers come from ``handler`` (404 by default)."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler: Handler = handler or (lambda req: Response(404, b"not here"))
        self.requests: list[Request] = []
        self.bytes_sent: dict[str, int] = {}
        self._lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                request = Request(self.command, path, query, dict(self.headers.items()), body)
                with server._lock:
                    server.requests.append(request)
                response = server.handler(request)
                self.send_response(response.status)
                headers = {"Content-Length": str(len(response.body)), **response.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command == "HEAD":
                    return
                self._write(response)
                with server._lock:
                    server.bytes_sent[path] = server.bytes_sent.get(path, 0) + len(response.body)

            def _write(self, response: Response) -> None:
                try:
                    if response.drip is None:
                        self.wfile.write(response.body)
                        return
                    import time

                    parts, pause = response.drip
                    step = max(1, len(response.body) // parts)
                    for start in range(0, len(response.body), step):
                        self.wfile.write(response.body[start : start + step])
                        self.wfile.flush()
                        time.sleep(pause)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _handle

        self.httpd = _QuietServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def count(self, path_prefix: str = "") -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path.startswith(path_prefix))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def serving(handler: Handler | None = None) -> Iterator[Server]:
    server = Server(handler)
    try:
        yield server
    finally:
        server.close()


# --------------------------------------------------------------------------- range file server

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


def serve_file(path: Path, request: Request) -> Response:
    """A file with HTTP range support (a single range, as GDAL and S3 clients ask)."""
    data = path.read_bytes()
    size = len(data)
    headers = {"Accept-Ranges": "bytes", "Content-Type": "image/tiff"}
    wanted = request.headers.get("Range") or request.headers.get("range")
    if request.method == "HEAD" or not wanted:
        if request.method == "HEAD":
            return Response(200, b"", {**headers, "Content-Length": str(size)})
        return Response(200, data, headers)
    match = _RANGE.match(wanted.strip())
    if match is None:
        return Response(416, b"", {"Content-Range": f"bytes */{size}"})
    start = int(match.group(1))
    end = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
    if start >= size:
        return Response(416, b"", {"Content-Range": f"bytes */{size}"})
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return Response(206, data[start : end + 1], headers)


class FileServer(Server):
    """Serves ``files`` (URL path -> local file) with range support; other paths are 404,
    except those in ``redirects`` (URL path -> Location)."""

    def __init__(self, files: Mapping[str, Path] | None = None) -> None:
        self.files: dict[str, Path] = dict(files or {})
        self.redirects: dict[str, str] = {}
        self.ignore_range = False
        super().__init__(self._route)

    def _route(self, request: Request) -> Response:
        if request.path in self.redirects:
            return Response(302, b"", {"Location": self.redirects[request.path]})
        path = self.files.get(request.path)
        if path is None:
            return Response(404, b"no such file")
        if self.ignore_range:
            return Response(200, path.read_bytes(), {"Content-Type": "image/tiff"})
        return serve_file(path, request)


# --------------------------------------------------------------------------- the real scene

S2_SCENE_DIR = "sentinel2-l2a-S2A_29RKH_20200219"
S2_ITEM_FILE = "S2A_29RKH_20200219_0_L2A.json"


def serve_s2_item(fixtures: Path, server: FileServer) -> dict[str, Any]:
    """The real Sentinel-2 item with each https asset that has a local file rewritten to
    ``server``, which now serves that file (with range support) under ``/cogs/``."""
    folder = fixtures / S2_SCENE_DIR
    item: dict[str, Any] = json.loads((folder / S2_ITEM_FILE).read_text())
    for asset in item["assets"].values():
        name = asset["href"].rsplit("/", 1)[1]
        if asset["href"].startswith("https://") and (folder / name).is_file():
            server.files[f"/cogs/{name}"] = folder / name
            asset["href"] = f"{server.url}/cogs/{name}"
    return item


# --------------------------------------------------------------------------- STAC API stand-in


def load_recording(fixtures: Path, name: str) -> dict[str, Any]:
    recording: dict[str, Any] = json.loads((fixtures / "earth-search-v1" / name).read_text())
    return recording


def rewrite(value: Any, old: str, new: str) -> Any:
    """``value`` with every string occurrence of ``old`` replaced by ``new``."""
    return json.loads(json.dumps(value).replace(old, new))


class EarthSearchStandIn(Server):
    """Replays the recorded Earth Search v1 responses under ``/v1`` with links rewritten to
    this server. ``items`` adds items (found by ``ids`` searches, and returned by any search
    whose collections include theirs)."""

    RECORDED_SEARCHES = (
        "search_s2l2a_landsatc2l2_point_2023-10-08.json",
        "search_cql2_cloudcover_lte40_page1.json",
        "search_cql2_cloudcover_lte40_page2_next.json",
        "search_no_collections_point_2023-10-08_empty.json",
        "search_copdem30.json",
    )

    def __init__(self, fixtures: Path) -> None:
        self.fixtures = fixtures
        self.extra_items: list[dict[str, Any]] = []
        self.searches: list[dict[str, Any]] = []
        super().__init__(self._route)
        self.base = f"{self.url}/v1"
        self._recordings = {
            name: rewrite(load_recording(fixtures, name), EARTH_SEARCH, self.base)
            for name in (*self.RECORDED_SEARCHES, "root_landing_page.json", "collections.json")
        }

    def body(self, name: str) -> Any:
        return copy.deepcopy(self._recordings[name]["response"]["body"])

    def add_item(self, item: Mapping[str, Any]) -> None:
        self.extra_items.append(rewrite(dict(item), EARTH_SEARCH, self.base))

    def recorded_items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for name in self.RECORDED_SEARCHES:
            items += self.body(name)["features"]
        return items

    def _route(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if request.method == "GET" and path == "/v1":
            return json_response(self.body("root_landing_page.json"))
        if request.method == "GET" and path == "/v1/conformance":
            return json_response({"conformsTo": self.body("root_landing_page.json")["conformsTo"]})
        if request.method == "GET" and path == "/v1/collections":
            return json_response(self.body("collections.json"))
        if request.method == "POST" and path == "/v1/search":
            body = request.json() or {}
            self.searches.append(body)
            return json_response(self._search(body), content_type="application/geo+json")
        return json_response({"code": "NotFound", "description": "not found"}, 404)

    def _search(self, body: dict[str, Any]) -> Any:
        if "next" in body:
            for name in self.RECORDED_SEARCHES:
                recorded = self._recordings[name]["request"]["body"]
                if recorded.get("next") == body["next"]:
                    return self.body(name)
            return self._collection([])
        if "ids" in body:
            wanted = set(body["ids"])
            pool = self.extra_items + self.recorded_items()
            found = {i["id"]: i for i in reversed(pool) if i["id"] in wanted}
            return self._collection(list(found.values()))
        collections = set(body.get("collections") or [])
        extra = [i for i in self.extra_items if i.get("collection") in collections]
        if "query" in body or "filter" in body:
            page = self.body("search_cql2_cloudcover_lte40_page1.json")
        elif {"sentinel-2-l2a", "landsat-c2-l2"} <= collections:
            page = self.body("search_s2l2a_landsatc2l2_point_2023-10-08.json")
        else:
            page = self._collection([])
        page["features"] = extra + page["features"]
        return page

    def _collection(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "type": "FeatureCollection",
            "features": features,
            "links": [{"rel": "root", "type": "application/json", "href": self.base}],
        }


class HostileStacApi(Server):
    """A STAC API that misbehaves in the way ``mode`` names; links may point at ``canary``."""

    def __init__(self, fixtures: Path, canary: Server, mode: str) -> None:
        self.mode = mode
        self.canary = canary
        self.local_file = "file:///etc/hostname"
        self.fixtures = fixtures
        super().__init__(self._route)
        self.base = f"{self.url}/v1"
        landing = load_recording(fixtures, "root_landing_page.json")["response"]["body"]
        self.landing = rewrite(landing, EARTH_SEARCH, self.base)
        page = load_recording(fixtures, "search_s2l2a_landsatc2l2_point_2023-10-08.json")
        self.page = rewrite(page["response"]["body"], EARTH_SEARCH, self.base)

    def _route(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if path == "/v1" and request.method == "GET":
            landing = copy.deepcopy(self.landing)
            if self.mode == "search-link-elsewhere":
                for link in landing["links"]:
                    if link["rel"] == "search":
                        link["href"] = f"{self.canary.url}/search"
            if self.mode == "search-link-local-file":
                for link in landing["links"]:
                    if link["rel"] == "search":
                        link["href"] = self.local_file
            return json_response(landing)
        if path == "/v1/search":
            return self._search(request)
        return json_response({"code": "NotFound"}, 404)

    def _search(self, request: Request) -> Response:
        page = copy.deepcopy(self.page)
        next_link = {
            "rel": "next",
            "method": "POST",
            "type": "application/geo+json",
            "href": f"{self.base}/search",
            "body": {"next": "again"},
        }
        if self.mode == "self-next":
            page["links"] = [next_link]
        elif self.mode == "growing-next":  # a new token every time: only max_pages stops it
            next_link["body"] = {"next": f"token-{len(self.requests)}"}
            page["links"] = [next_link]
        elif self.mode == "next-elsewhere":
            page["links"] = [{**next_link, "href": f"{self.canary.url}/search"}]
        elif self.mode == "redirect-elsewhere":
            return Response(302, b"", {"Location": f"{self.canary.url}/search"})
        elif self.mode == "huge-page":
            return Response(
                200,
                b'{"type":"FeatureCollection","features":[' + b" " * (8 << 20) + b"]}",
                {"Content-Type": "application/geo+json"},
            )
        elif self.mode == "slow-drip":
            body = json.dumps(page).encode()
            return Response(200, body, {"Content-Type": "application/geo+json"}, drip=(50, 0.2))
        elif self.mode == "hrefs-elsewhere":
            for feature in page["features"]:
                for asset in feature["assets"].values():
                    asset["href"] = f"{self.canary.url}/asset.tif"
        return json_response(page, content_type="application/geo+json")
