"""Repositories answer the same on SQLite and PostGIS, and never leak another org's rows."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from shapely.geometry import Polygon, box

from terrascan.catalog.database import Catalog
from terrascan.catalog.models import AOI, ImagerySource, OrgMember, Role
from terrascan.catalog.repositories import AOIRepository, ImageryRepository, UserRepository
from terrascan.errors import ConflictError, NotFoundError

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _triangle(rng: random.Random) -> Polygon:
    """A random thin triangle: its bounding box is much larger than itself, so a bbox-only
    search would return wrong rows."""
    x, y = rng.uniform(-20, 20), rng.uniform(-20, 20)
    return Polygon([(x, y), (x + rng.uniform(1, 6), y + rng.uniform(1, 6)), (x + 0.3, y)])


def _seed(catalog: Catalog, n: int = 120) -> tuple[uuid.UUID, uuid.UUID, dict[str, Polygon]]:
    rng = random.Random(7)
    with catalog.session() as session:
        users = UserRepository(session)
        org_a = users.memberships(
            users.create(email="a@example.org", name="A", password_hash=None).id
        )[0][0]
        org_b = users.memberships(
            users.create(email="b@example.org", name="B", password_hash=None).id
        )[0][0]
        repo = ImageryRepository(session)
        footprints: dict[str, Polygon] = {}
        for i in range(n):
            footprint = _triangle(rng)
            footprints[f"scene-{i}"] = footprint
            repo.add(
                ImagerySource(
                    org_id=org_a.id,
                    provider="earth-search",
                    collection="sentinel-2-l2a" if i % 2 else "landsat-c2-l2",
                    scene_id=f"scene-{i}",
                    dedupe_key=f"scene-{i}",
                    acquired_at=T0 + timedelta(days=i),
                    cloud_cover=float(i % 100),
                    geometry=footprint,
                )
            )
        # The same footprints in another organisation must never show up for A.
        for i in range(min(n, 10)):
            repo.add(
                ImagerySource(
                    org_id=org_b.id,
                    provider="upload",
                    scene_id=f"b-{i}",
                    dedupe_key=f"b-{i}",
                    geometry=footprints[f"scene-{i}"],
                )
            )
        return org_a.id, org_b.id, footprints


def test_spatial_search_matches_an_exact_brute_force(catalog: Catalog) -> None:
    org_a, _, footprints = _seed(catalog)
    rng = random.Random(11)
    with catalog.session() as session:
        repo = ImageryRepository(session)
        for _ in range(15):
            x, y = rng.uniform(-20, 20), rng.uniform(-20, 20)
            query = box(x, y, x + rng.uniform(0.5, 5), y + rng.uniform(0.5, 5))
            expected = {sid for sid, fp in footprints.items() if fp.intersects(query)}
            found = repo.search(org_id=org_a, intersects=query, limit=1000)
            assert {row.scene_id for row in found} == expected


def test_search_filters_and_orders_by_acquisition(catalog: Catalog) -> None:
    org_a, _, _ = _seed(catalog)
    start, end = T0 + timedelta(days=10), T0 + timedelta(days=40)
    with catalog.session() as session:
        found = ImageryRepository(session).search(
            org_id=org_a, start=start, end=end, max_cloud=30, collections=["sentinel-2-l2a"]
        )
    expected = [f"scene-{i}" for i in range(40, 9, -1) if i % 2 and i % 100 <= 30]
    assert [row.scene_id for row in found] == expected


def test_pagination_after_the_exact_spatial_test(catalog: Catalog) -> None:
    org_a, _, footprints = _seed(catalog)
    query = box(-20, -20, 20, 20)
    with catalog.session() as session:
        repo = ImageryRepository(session)
        everything = [r.scene_id for r in repo.search(org_id=org_a, intersects=query, limit=1000)]
        pages = [
            r.scene_id
            for offset in range(0, len(everything), 25)
            for r in repo.search(org_id=org_a, intersects=query, limit=25, offset=offset)
        ]
    assert pages == everything
    assert len(everything) == sum(fp.intersects(query) for fp in footprints.values())


def test_other_organisations_rows_are_not_found(catalog: Catalog) -> None:
    org_a, org_b, _ = _seed(catalog, n=5)
    with catalog.session() as session:
        repo = ImageryRepository(session)
        b_row = repo.search(org_id=org_b, limit=1)[0]
        with pytest.raises(NotFoundError):
            repo.get(b_row.id, org_id=org_a)
        with pytest.raises(NotFoundError):
            repo.delete(b_row.id, org_id=org_a)
        assert repo.get(b_row.id, org_id=org_b).scene_id == b_row.scene_id
        assert all(r.org_id == org_a for r in repo.list(org_id=org_a, limit=1000))
        assert {r.scene_id for r in repo.list(org_id=org_b)} == {f"b-{i}" for i in range(5)}


def test_stored_raster_is_the_ready_scenes_key_and_band_names(catalog: Catalog) -> None:
    org_a, org_b, _ = _seed(catalog, n=3)
    with catalog.session() as session:
        repo = ImageryRepository(session)
        rows = repo.list(org_id=org_a)
        ready, pending = rows[0], rows[1]
        ready.status, ready.storage_key = "ready", "imagery/a/scene.tif"
        ready.bands = {"names": ["red", "nir"]}
        pending.storage_key = "imagery/a/pending.tif"  # stored but not ready
        session.flush()
        assert repo.stored_raster(ready.id, org_id=org_a) == ("imagery/a/scene.tif", ["red", "nir"])
        for row_id, org in ((ready.id, org_b), (pending.id, org_a), (rows[2].id, org_a)):
            with pytest.raises(NotFoundError):
                repo.stored_raster(row_id, org_id=org)


def test_aoi_geometry_round_trips_and_is_searchable(catalog: Catalog) -> None:
    with catalog.session() as session:
        users = UserRepository(session)
        org = users.memberships(
            users.create(email="c@example.org", name="C", password_hash=None).id
        )[0][0]
        shape = Polygon([(10, 10), (11, 10), (11, 11), (10.5, 10.2), (10, 11)])
        aoi = AOIRepository(session).add(
            AOI(org_id=org.id, name="field", geometry=shape, area_km2=1.0)
        )
        aoi_id, org_id = aoi.id, org.id
    with catalog.session() as session:
        repo = AOIRepository(session)
        loaded = repo.get(aoi_id, org_id=org_id)
        assert loaded.geometry.equals(shape)
        assert (loaded.minx, loaded.miny, loaded.maxx, loaded.maxy) == shape.bounds
        # Inside the bounding box but in the notch of the polygon: no hit.
        assert repo.search(org_id=org_id, intersects=box(10.45, 10.5, 10.55, 10.9)) == []
        assert [
            a.id for a in repo.search(org_id=org_id, intersects=box(10.1, 10.1, 10.2, 10.2))
        ] == [aoi_id]


def test_user_creation_makes_a_personal_org_they_own(catalog: Catalog) -> None:
    with catalog.session() as session:
        users = UserRepository(session)
        user = users.create(email="  Ada@Example.ORG ", name="Ada", password_hash="x")
        [(org, role)] = users.memberships(user.id)
        assert user.email == "ada@example.org"
        assert org.is_personal and role == Role.OWNER
        assert session.get(OrgMember, (org.id, user.id)) is not None
        with pytest.raises(ConflictError):
            users.create(email="ada@example.org", name="again", password_hash=None)
