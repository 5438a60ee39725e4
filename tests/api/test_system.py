"""Health, version, OpenAPI, problem details, request ids and metrics."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

import terrascan
from terrascan.api.app import create_app
from terrascan.errors import NotFoundError
from terrascan.settings import Settings


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_health_is_ok_on_the_embedded_defaults(client: TestClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["mode"] == "embedded"
    assert body["version"] == terrascan.__version__
    assert {k: v["status"] for k, v in body["checks"].items()} == {
        "catalog": "ok",
        "storage": "ok",
        "broker": "ok",
    }
    assert body["checks"]["catalog"]["kind"] == "sqlite"
    assert body["checks"]["broker"]["kind"] == "in-process"


def test_health_reports_an_unreachable_broker(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, mode="embedded", broker_url=f"redis://127.0.0.1:{_closed_port()}/0"
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/api/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["broker"] == {
        "status": "error",
        "kind": "redis",
        "detail": "Service unavailable",
    }
    assert body["checks"]["catalog"]["status"] == "ok"


@pytest.mark.redis
def test_health_checks_a_real_redis_broker(tmp_path: Path, redis_url: str) -> None:
    settings = Settings(data_dir=tmp_path, mode="embedded", broker_url=redis_url)
    with TestClient(create_app(settings)) as client:
        body = client.get("/api/v1/health").json()
    assert body["checks"]["broker"] == {"status": "ok", "kind": "redis", "detail": None}


@pytest.mark.postgres
def test_health_on_postgis(tmp_path: Path, postgis_url: str) -> None:
    from terrascan.catalog.database import Catalog

    migrator = Catalog(postgis_url)
    migrator.upgrade()  # production mode does not migrate at start
    migrator.dispose()
    settings = Settings(
        data_dir=tmp_path, database_url=postgis_url, secret_key="x" * 40, mode="production"
    )
    app = create_app(settings)
    with TestClient(app) as client:
        body = client.get("/api/v1/health").json()
    app.state.catalog.dispose()
    assert body["mode"] == "production"
    assert body["checks"]["catalog"] == {"status": "ok", "kind": "postgresql", "detail": None}


def test_version_and_openapi(client: TestClient) -> None:
    assert client.get("/api/v1/version").json() == {
        "name": "terrascan",
        "version": terrascan.__version__,
    }
    spec = client.get("/api/v1/openapi.json").json()
    assert spec["info"]["title"] == "TerraScan"
    assert {"/api/v1/health", "/api/v1/version"} <= set(spec["paths"])


def test_unknown_api_route_is_a_problem_document(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404 and body["title"] == "Not Found"
    assert body["instance"] == "/api/v1/nothing-here"
    assert body["request_id"] == response.headers["x-request-id"]


def _app_with_probe_routes(settings: Settings) -> TestClient:
    app = create_app(settings)
    router = APIRouter()

    @router.get("/probe/missing")
    def missing() -> None:
        raise NotFoundError("scene 42 not found")

    @router.get("/probe/crash")
    def crash() -> None:
        raise RuntimeError("/secret/path/to/file.tif: GDAL said something")

    @router.get("/probe/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    app.include_router(router, prefix="/api/v1")
    # Keep the web app's catch-all mount last, as create_app does.
    web = [route for route in app.router.routes if getattr(route, "name", "") == "web"]
    for route in web:
        app.router.routes.remove(route)
        app.router.routes.append(route)
    return TestClient(app, raise_server_exceptions=False)


def test_errors_map_through_one_table_and_hide_internals(settings: Settings) -> None:
    with _app_with_probe_routes(settings) as client:
        missing = client.get("/api/v1/probe/missing")
        assert missing.status_code == 404
        assert missing.json()["detail"] == "scene 42 not found"

        crash = client.get("/api/v1/probe/crash")
        assert crash.status_code == 500
        assert crash.headers["content-type"] == "application/problem+json"
        assert "secret" not in crash.text and "GDAL" not in crash.text
        assert "Traceback" not in crash.text

        invalid = client.get("/api/v1/probe/items/not-a-number")
        assert invalid.status_code == 422
        body = invalid.json()
        assert body["errors"][0]["loc"] == ["path", "item_id"]
        assert set(body["errors"][0]) == {"loc", "msg", "type"}  # the value is never echoed


def test_request_ids_are_kept_when_safe_and_replaced_otherwise(client: TestClient) -> None:
    kept = client.get("/api/v1/version", headers={"X-Request-ID": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    replaced = client.get("/api/v1/version", headers={"X-Request-ID": "bad id\twith spaces"})
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"
    assert len(replaced.headers["x-request-id"]) == 32


def test_metrics_count_requests_by_route_template(settings: Settings) -> None:
    with _app_with_probe_routes(settings) as client:
        for item in (1, 2, 3):
            client.get(f"/api/v1/probe/items/{item}")
        text = client.get("/metrics").text
    line = (
        "terrascan_http_requests_total"
        '{method="GET",route="/api/v1/probe/items/{item_id}",status="200"} 3.0'
    )
    assert line in text
    assert "terrascan_http_request_duration_seconds_bucket" in text
    assert "/api/v1/probe/items/1" not in text  # templates, not raw paths


def test_access_logs_are_json_with_the_request_id(
    capsys: pytest.CaptureFixture[str], settings: Settings
) -> None:
    client = TestClient(create_app(settings))  # logging is configured with capsys in place
    capsys.readouterr()
    client.get("/api/v1/version", headers={"X-Request-ID": "log-me-1"})
    lines = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    access = [entry for entry in lines if entry.get("request_id") == "log-me-1"]
    assert access and access[-1]["route"] == "/api/v1/version" and access[-1]["status"] == 200


def test_web_app_is_served_at_the_root(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "<title>TerraScan</title>" in response.text


def test_cors_names_its_origins(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, mode="embedded", cors_origins=["https://app.example.org"]
    )
    with TestClient(create_app(settings)) as client:
        allowed = client.get("/api/v1/version", headers={"Origin": "https://app.example.org"})
        other = client.get("/api/v1/version", headers={"Origin": "https://evil.example.com"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.org"
    assert "access-control-allow-origin" not in other.headers
