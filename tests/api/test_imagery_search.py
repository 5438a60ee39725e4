"""Catalog search: the repository on SQLite and PostGIS gives the same rows as a plain Python
filter over the seeded records; the HTTP route adds parsing, pagination and the org boundary."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Polygon, box, mapping

from terrascan.api.app import create_app
from terrascan.catalog.database import Catalog
from terrascan.catalog.imagery import ImageryQuery, ImagerySearchRepository, SearchAfter, sort_value
from terrascan.catalog.models import ImagerySource, Organization
from tests.api._accounts import Account, account_settings, signup

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def seed_rows(org_id: uuid.UUID, count: int = 40, seed: int = 5) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        x, y = rng.uniform(-20, 20), rng.uniform(-20, 20)
        shape = box(x, y, x + rng.uniform(0.1, 3), y + rng.uniform(0.1, 3))
        if i % 7 == 0:  # some non-rectangular footprints
            shape = Polygon([(x, y), (x + 2, y), (x, y + 2), (x, y)])
        rows.append(
            {
                "id": uuid.UUID(int=i + 1),
                "org_id": org_id,
                "provider": rng.choice(["earth-search", "upload", "demo"]),
                "collection": rng.choice(["sentinel-2-l2a", "landsat-c2-l2", ""]),
                "scene_id": f"scene-{i}",
                "dedupe_key": f"k{i}",
                "acquired_at": None if i % 9 == 0 else T0 + timedelta(days=rng.randint(0, 200)),
                "cloud_cover": None if i % 11 == 0 else round(rng.uniform(0, 100), 2),
                "geometry": shape,
                "status": rng.choice(["ready", "ready", "ready", "failed", "raw"]),
                "bands": {"names": ["red", "nir"]},
            }
        )
    return rows


def insert(catalog: Catalog, rows: list[dict[str, Any]]) -> None:
    with catalog.session() as session:
        for values in rows:
            session.add(ImagerySource(**values))


def expected_ids(
    rows: list[dict[str, Any]],
    area: Any = None,
    start: datetime | None = None,
    end: datetime | None = None,
    max_cloud: float | None = None,
    providers: list[str] | None = None,
    status: str | None = None,
    sort: str = "-acquired_at",
) -> list[uuid.UUID]:
    hits = [
        r
        for r in rows
        if (area is None or area.intersects(r["geometry"]))
        and (start is None or (r["acquired_at"] is not None and r["acquired_at"] >= start))
        and (end is None or (r["acquired_at"] is not None and r["acquired_at"] <= end))
        and (max_cloud is None or (r["cloud_cover"] is not None and r["cloud_cover"] <= max_cloud))
        and (providers is None or r["provider"] in providers)
        and (status is None or r["status"] == status)
    ]
    key = sort.lstrip("-")
    present = [r for r in hits if r[key] is not None]
    missing = [r for r in hits if r[key] is None]
    present.sort(key=lambda r: r["id"])
    present.sort(key=lambda r: r[key], reverse=sort.startswith("-"))  # stable: id breaks ties
    missing.sort(key=lambda r: r["id"])
    return [r["id"] for r in present + missing]


def _ids_in_order(rows: list[ImagerySource]) -> list[uuid.UUID]:
    return [r.id for r in rows]


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"area": box(-5, -5, 5, 5)},
        {"area": Polygon([(-10, -10), (10, -10), (-10, 10), (-10, -10)])},
        {"start": T0 + timedelta(days=30), "end": T0 + timedelta(days=120)},
        {"max_cloud": 40.0, "sort": "cloud_cover"},
        {"providers": ["upload", "demo"], "status": "ready", "sort": "-cloud_cover"},
        {"area": box(-20, -20, 0, 0), "sort": "acquired_at"},
    ],
)
def test_repository_search_matches_a_python_filter(
    database_url: str, query: dict[str, Any]
) -> None:
    catalog = Catalog(database_url)
    catalog.upgrade()
    try:
        with catalog.session() as session:
            org, other = Organization(name="a", slug="a"), Organization(name="b", slug="b")
            session.add_all([org, other])
        rows = seed_rows(org.id)
        insert(
            catalog,
            rows
            + [{**r, "id": uuid.uuid4(), "org_id": other.id} for r in seed_rows(other.id, 10, 9)],
        )
        want = expected_ids(rows, **query)
        q = ImageryQuery(
            intersects=query.get("area"),
            start=query.get("start"),
            end=query.get("end"),
            max_cloud=query.get("max_cloud"),
            providers=query.get("providers"),
            status=query.get("status"),
            sort=query.get("sort", "-acquired_at"),
        )
        with catalog.session() as session:
            repo = ImagerySearchRepository(session)
            got = _ids_in_order(repo.query(org_id=org.id, query=q, limit=500))
            paged: list[uuid.UUID] = []
            for offset in range(0, len(want) + 7, 7):
                paged += _ids_in_order(repo.query(org_id=org.id, query=q, limit=7, offset=offset))
        assert got == want
        assert paged == want
    finally:
        catalog.dispose()


# --------------------------------------------------------------------------- over HTTP


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(account_settings(tmp_path_factory.mktemp("search-api")))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    app.state.catalog.dispose()


@pytest.fixture(scope="module")
def seeded(client: TestClient) -> tuple[Account, list[dict[str, Any]]]:
    alice = signup(client, "searcher@example.org")
    rows = seed_rows(alice.personal_org)
    insert(client.app.state.catalog, rows)  # type: ignore[attr-defined]
    return alice, rows


def _search(client: TestClient, who: Account, **params: Any) -> Any:
    response = client.get("/api/v1/imagery/search", params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    return response.json()


def _walk(client: TestClient, who: Account, **params: Any) -> list[str]:
    ids, page = [], _search(client, who, **params)
    while True:
        ids += [f["id"] for f in page["features"]]
        assert page["numberReturned"] == len(page["features"])
        if page["next_cursor"] is None:
            assert page["links"] == []
            return ids
        page = _search(client, who, **params, cursor=page["next_cursor"])


def test_search_filters_sorts_and_pages(
    client: TestClient, seeded: tuple[Account, list[dict[str, Any]]]
) -> None:
    alice, rows = seeded
    area = box(-18, -18, 22, 22)
    want = expected_ids(
        rows,
        area=area,
        start=T0 + timedelta(days=10),
        max_cloud=90,
        providers=["earth-search", "demo"],
        sort="-acquired_at",
    )
    got = _walk(
        client,
        alice,
        bbox="-18,-18,22,22",
        datetime="2024-01-11/..",
        max_cloud=90,
        provider="earth-search,demo",
        limit=2,
    )
    assert got == [str(i) for i in want] and len(want) > 4

    triangle = Polygon([(-15, -15), (15, -15), (-15, 15), (-15, -15)])
    page = _search(
        client,
        alice,
        intersects=json.dumps(mapping(triangle)),
        status="ready",
        sort="cloud_cover",
        limit=500,
    )
    assert [f["id"] for f in page["features"]] == [
        str(i) for i in expected_ids(rows, area=triangle, status="ready", sort="cloud_cover")
    ]
    feature = page["features"][0]
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Polygon"
    assert feature["properties"]["status"] == "ready" and "storage_key" not in feature["properties"]


def test_search_by_aoi_id_and_the_org_boundary(
    client: TestClient, seeded: tuple[Account, list[dict[str, Any]]]
) -> None:
    alice, rows = seeded
    square = box(-8, -8, 8, 8)
    aoi = client.post(
        "/api/v1/aois", headers=alice.headers, json={"name": "middle", "geometry": mapping(square)}
    )
    assert aoi.status_code == 201, aoi.text
    page = _search(client, alice, aoi_id=aoi.json()["id"], limit=500)
    assert [f["id"] for f in page["features"]] == [str(i) for i in expected_ids(rows, area=square)]
    bob = signup(client, "other-searcher@example.org")
    assert _search(client, bob, limit=500)["features"] == []
    response = client.get(
        "/api/v1/imagery/search", headers=bob.headers, params={"aoi_id": aoi.json()["id"]}
    )
    assert response.status_code == 404
    one = str(rows[1]["id"])
    assert client.get(f"/api/v1/imagery/{one}", headers=alice.headers).status_code == 200
    assert client.get(f"/api/v1/imagery/{one}", headers=bob.headers).status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"bbox": "1,2,3"},
        {"bbox": "10,0,5,5"},
        {"datetime": "2024-05-01/2024-01-01"},
        {"max_cloud": 101},
        {"sort": "name"},
        {"limit": 0},
        {"cursor": "!!!"},
        {"cursor": "eyJvIjogLTF9"},
        {"intersects": "{not json"},
        {"intersects": json.dumps({"type": "Point", "coordinates": [float("nan"), 0]})},
        {"bbox": "0,0,1,1", "intersects": json.dumps(mapping(box(0, 0, 1, 1)))},
    ],
)
def test_bad_search_parameters_are_4xx(
    client: TestClient, seeded: tuple[Account, list[dict[str, Any]]], params: dict[str, Any]
) -> None:
    alice, _rows = seeded
    response = client.get("/api/v1/imagery/search", params=params, headers=alice.headers)
    assert response.status_code in (413, 422), (params, response.text)


# --------------------------------------------------------------------------- keyset cursors


def _tied_rows(org_id: uuid.UUID, count: int, seed: int) -> list[dict[str, Any]]:
    """Rows whose sort values repeat often (few distinct days and cloud covers), some NULL."""
    rng = random.Random(seed)
    rows = []
    for values in seed_rows(org_id, count, seed):
        values["id"] = uuid.UUID(int=rng.getrandbits(128))
        values["dedupe_key"] = f"tied-{values['id']}"
        if values["acquired_at"] is not None:
            values["acquired_at"] = T0 + timedelta(days=rng.randint(0, 6))
        if values["cloud_cover"] is not None:
            values["cloud_cover"] = rng.choice([0.0, 12.5, 40.0, 99.9])
        rows.append(values)
    return rows


def _newcomers(org_id: uuid.UUID, rng: random.Random, near: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows inserted between two pages: one tied with the last row seen, one earlier, one
    later, one with NULLs (so some land before the cursor and some after it)."""
    base = seed_rows(org_id, 4, rng.randint(0, 10_000))
    shifts = [None, timedelta(days=-3), timedelta(days=3), "null"]
    for values, shift in zip(base, shifts, strict=True):
        values["id"] = uuid.UUID(int=rng.getrandbits(128))
        values["dedupe_key"] = f"new-{values['id']}"
        when, cloud = near["acquired_at"], near["cloud_cover"]
        if shift == "null":
            when, cloud = None, None
        elif isinstance(shift, timedelta):
            when = None if when is None else when + shift
            cloud = None if cloud is None else min(100.0, max(0.0, cloud + shift.days))
        values["acquired_at"], values["cloud_cover"] = when, cloud
    return base


@pytest.mark.parametrize("sort", ["-acquired_at", "acquired_at", "cloud_cover", "-created_at"])
def test_keyset_pages_survive_inserts_on_both_databases(database_url: str, sort: str) -> None:
    catalog = Catalog(database_url)
    catalog.upgrade()
    rng = random.Random(11)
    try:
        with catalog.session() as session:
            org = Organization(name="k", slug="k")
            session.add(org)
        rows = _tied_rows(org.id, 50, 3)
        insert(catalog, rows)
        query = ImageryQuery(sort=sort)  # type: ignore[arg-type]
        with catalog.session() as session:
            created = {r.id: r.created_at for r in ImagerySearchRepository(session).query(
                org_id=org.id, query=query, limit=500)}  # fmt: skip
        for values in rows:
            values["created_at"] = created[values["id"]]
        want = expected_ids(rows, sort=sort)
        seen: list[uuid.UUID] = []
        after: SearchAfter | None = None
        while True:
            with catalog.session() as session:
                page = ImagerySearchRepository(session).query(
                    org_id=org.id, query=query, limit=6, after=after
                )
                last = page[-1] if page else None
                if last is not None:
                    after = SearchAfter(sort, sort_value(last, sort), last.id)  # type: ignore[arg-type]
                    near = {"acquired_at": last.acquired_at, "cloud_cover": last.cloud_cover}
                seen += [r.id for r in page]
            if not page:
                break
            insert(catalog, _newcomers(org.id, rng, near))
        originals = {r["id"] for r in rows}
        assert [i for i in seen if i in originals] == want
        assert len(seen) == len(set(seen))
        # Newer rows sort first under -created_at (all before the cursor); otherwise some of
        # the rows inserted between pages fall after it and show up once.
        assert (len(seen) == len(want)) if sort == "-created_at" else (len(seen) > len(want))
    finally:
        catalog.dispose()


@pytest.fixture
def any_db_client(database_url: str, tmp_path: Any) -> Iterator[TestClient]:
    """The API over SQLite (embedded) or over PostGIS (production mode, migrated first)."""
    if database_url.startswith("sqlite"):
        settings = account_settings(tmp_path, database_url=database_url)
    else:
        migrator = Catalog(database_url)
        migrator.upgrade()
        migrator.dispose()
        settings = account_settings(
            tmp_path, database_url=database_url, mode="production", secret_key="k" * 48
        )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    app.state.catalog.dispose()


@pytest.mark.parametrize("sort", ["-acquired_at", "-cloud_cover"])
def test_search_cursor_pages_stay_stable_over_http(any_db_client: TestClient, sort: str) -> None:
    client = any_db_client
    alice = signup(client, "pager@example.org")
    catalog = client.app.state.catalog  # type: ignore[attr-defined]
    rows = _tied_rows(alice.personal_org, 45, 8)
    insert(catalog, rows)
    want = [str(i) for i in expected_ids(rows, status="ready", sort=sort)]
    rng = random.Random(2)
    seen: list[str] = []
    page = _search(client, alice, status="ready", sort=sort, limit=4)
    while True:
        seen += [f["id"] for f in page["features"]]
        if page["next_cursor"] is None:
            break
        last = page["features"][-1]["properties"]
        near = {
            "acquired_at": datetime.fromisoformat(last["acquired_at"])
            if last["acquired_at"]
            else None,
            "cloud_cover": last["cloud_cover"],
        }
        newcomers = _newcomers(alice.personal_org, rng, near)
        for values in newcomers:
            values["status"] = "ready"
        insert(catalog, newcomers)
        assert page["links"][0]["href"].endswith(f"cursor={page['next_cursor']}")
        page = _search(
            client, alice, status="ready", sort=sort, limit=4, cursor=page["next_cursor"]
        )
    originals = set(want)
    assert [i for i in seen if i in originals] == want
    assert len(seen) == len(set(seen)) > len(want)


def _b64(value: Any) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "bm90IGpzb24",  # base64 of "not json"
        _b64([1, 2]),
        _b64({"o": 4}),  # an offset cursor is not a search cursor
        _b64({"s": "cloud_cover", "v": 10, "i": str(uuid.UUID(int=1))}),  # another sort
        _b64({"s": "-acquired_at", "v": "2024-01-01T00:00:00Z", "i": "not-a-uuid"}),
        _b64({"s": "-acquired_at", "v": "2024-01-01T00:00:00Z", "i": 7}),
        _b64({"s": "-acquired_at", "v": "yesterday", "i": str(uuid.UUID(int=1))}),
        _b64({"s": "-acquired_at", "v": "2024-01-01T00:00:00", "i": str(uuid.UUID(int=1))}),
        _b64({"s": "-acquired_at", "v": 5, "i": str(uuid.UUID(int=1))}),
        _b64({"s": "-acquired_at", "v": None, "i": str(uuid.UUID(int=1)), "x": 1}),
    ],
)
def test_forged_or_garbled_cursors_are_422(
    client: TestClient, seeded: tuple[Account, list[dict[str, Any]]], cursor: str
) -> None:
    alice, _rows = seeded
    response = client.get(
        "/api/v1/imagery/search", params={"cursor": cursor}, headers=alice.headers
    )
    assert response.status_code == 422, (cursor, response.text)
    assert response.headers["content-type"] == "application/problem+json"


def test_a_well_formed_cursor_is_just_a_position(
    client: TestClient, seeded: tuple[Account, list[dict[str, Any]]]
) -> None:
    """A cursor written by hand names a position, nothing more: the page is the rows after it."""
    alice, rows = seeded
    want = [str(i) for i in expected_ids(rows, sort="cloud_cover")]
    cut = next(r for r in rows if r["cloud_cover"] is not None and r["cloud_cover"] > 50)
    cursor = _b64({"s": "cloud_cover", "v": cut["cloud_cover"], "i": str(cut["id"])})
    page = _search(client, alice, sort="cloud_cover", limit=500, cursor=cursor)
    assert [f["id"] for f in page["features"]] == want[want.index(str(cut["id"])) + 1 :]
