"""The catalog: SQLAlchemy models, Alembic migrations and repositories (SQLite or PostGIS)."""
