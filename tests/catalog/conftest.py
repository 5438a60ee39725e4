from __future__ import annotations

from collections.abc import Iterator

import pytest

from terrascan.catalog.database import Catalog


@pytest.fixture
def catalog(database_url: str) -> Iterator[Catalog]:
    """A migrated catalog on SQLite and, as a second parameter, on PostGIS."""
    catalog = Catalog(database_url)
    catalog.upgrade()
    try:
        yield catalog
    finally:
        catalog.dispose()
