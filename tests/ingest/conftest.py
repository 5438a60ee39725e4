"""Fixtures for ingest tests: the real Sentinel-2 scene served over HTTP with range requests,
its real STAC item pointing at that server, a catalog with one organisation, a local store."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from terrascan.catalog.database import Catalog
from terrascan.catalog.models import OrgMember
from terrascan.catalog.repositories import UserRepository
from terrascan.io.storage import LocalStore
from tests.stac_standin import S2_SCENE_DIR, FileServer, Server, serve_s2_item


@dataclass
class ServedScene:
    item: dict[str, Any]
    folder: Path
    server: FileServer

    def file_size(self, name: str) -> int:
        return (self.folder / name).stat().st_size


@pytest.fixture
def served_s2(fixtures_dir: Path) -> Iterator[ServedScene]:
    """The real item, its asset hrefs rewritten to a local range server of the real files."""
    server = FileServer()
    item = serve_s2_item(fixtures_dir, server)
    yield ServedScene(item, fixtures_dir / S2_SCENE_DIR, server)
    server.close()


@pytest.fixture
def canary() -> Iterator[Server]:
    server = Server()
    yield server
    server.close()


@dataclass
class Workspace:
    catalog: Catalog
    store: LocalStore
    org_id: uuid.UUID


def make_workspace(root: Path, url: str | None = None) -> Workspace:
    catalog = Catalog(url or f"sqlite:///{root / 'catalog.db'}")
    catalog.upgrade()
    with catalog.session() as session:
        user = UserRepository(session).create(
            email=f"{uuid.uuid4().hex[:8]}@example.org", name="", password_hash=None
        )
        org_id = session.query(OrgMember).filter_by(user_id=user.id).one().org_id
    return Workspace(catalog, LocalStore(root / "store"), org_id)


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    ws = make_workspace(tmp_path)
    yield ws
    ws.catalog.dispose()


def with_collection(item: dict[str, Any], collection: str) -> dict[str, Any]:
    out = copy.deepcopy(item)
    out["collection"] = collection
    return out
