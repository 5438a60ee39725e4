from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from terrascan.api.app import create_app
from terrascan.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded-mode settings in a throw-away data directory."""
    return Settings(data_dir=tmp_path / "data", mode="embedded")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    app.state.catalog.dispose()
