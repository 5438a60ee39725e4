"""FastAPI dependencies: the app's settings, catalog sessions and object store.

Dependencies that only read the app's state are ``async def``: FastAPI runs a plain ``def``
dependency in its thread pool, a hop that costs more than the dependency itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from terrascan.catalog.database import Catalog
from terrascan.io.storage import ObjectStore
from terrascan.settings import Settings


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog
    return catalog


async def get_store(request: Request) -> ObjectStore:
    store: ObjectStore = request.app.state.store
    return store


def get_session(catalog: Annotated[Catalog, Depends(get_catalog)]) -> Iterator[Session]:
    with catalog.session() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]  # commit before responding
