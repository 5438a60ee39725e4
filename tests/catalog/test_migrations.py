"""The migrations build exactly the schema the models describe, on SQLite and on PostGIS."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from terrascan.catalog.database import Catalog
from terrascan.catalog.models import Base

TABLES = {
    "users",
    "organizations",
    "org_members",
    "aois",
    "imagery_sources",
    "analysis_jobs",
    "alert_rules",
    "alerts",
    "vector_features",
    "usage_records",
    "refresh_tokens",
    "share_links",
    "audit_log",
}


def test_upgrade_creates_every_table(catalog: Catalog) -> None:
    assert set(inspect(catalog.engine).get_table_names()) >= TABLES


def test_migrations_match_models(catalog: Catalog) -> None:
    with catalog.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = [
            d
            for d in compare_metadata(context, Base.metadata)
            # PostGIS's own table is not ours; the GIST indexes exist on PostGIS only.
            if not (d[0] == "remove_table" and d[1].name == "spatial_ref_sys")
            and not (d[0] == "remove_index" and d[1].name.endswith("_geometry_gist"))
        ]
    assert diff == []


def test_upgrade_is_repeatable_and_reversible(catalog: Catalog) -> None:
    catalog.upgrade()  # a second run is a no-op
    with catalog.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0002"
    catalog.downgrade("base")
    assert not TABLES & set(inspect(catalog.engine).get_table_names())
    catalog.upgrade()
    assert set(inspect(catalog.engine).get_table_names()) >= TABLES


def test_postgis_geometry_columns_are_native_and_indexed(postgis_url: str) -> None:
    catalog = Catalog(postgis_url)
    try:
        catalog.upgrade()
        with catalog.engine.connect() as conn:
            columns = conn.execute(
                text("SELECT f_table_name, type, srid FROM geometry_columns ORDER BY 1")
            ).all()
            indexes = (
                conn.execute(
                    text("SELECT tablename FROM pg_indexes WHERE indexdef LIKE '%USING gist%'")
                )
                .scalars()
                .all()
            )
    finally:
        catalog.dispose()
    assert [(t, s) for t, _, s in columns] == [
        ("aois", 4326),
        ("imagery_sources", 4326),
        ("vector_features", 4326),
    ]
    assert {t: k for t, k, _ in columns}["aois"] == "POLYGON"
    assert set(indexes) == {"aois", "imagery_sources", "vector_features"}
