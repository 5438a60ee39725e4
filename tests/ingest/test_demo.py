"""The offline demo: realistic classes, real changes between the dates, seeded via uploads."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np

from terrascan.catalog.imagery import ImageryQuery, ImagerySearchRepository
from terrascan.catalog.repositories import AOIRepository
from terrascan.jobs.demo import BANDS, CLASSES, demo_scenes, seed_demo
from tests.ingest.conftest import make_workspace


def _index(data: np.ndarray, a: str, b: str) -> np.ndarray:
    x = data[BANDS.index(a)].astype(float)
    y = data[BANDS.index(b)].astype(float)
    return (x - y) / (x + y)


def test_demo_scenes_hold_the_landscape_and_its_changes() -> None:
    before, after, changes = demo_scenes()
    assert before.data.shape == (6, 512, 512) and before.data.dtype == np.uint16
    clear = (before.classes != CLASSES.index("cloud")) & (after.classes != CLASSES.index("cloud"))
    ndvi0, ndvi1 = _index(before.data, "nir", "red"), _index(after.data, "nir", "red")
    ndwi0, ndwi1 = _index(before.data, "green", "nir"), _index(after.data, "green", "nir")
    ndbi0, ndbi1 = _index(before.data, "swir16", "nir"), _index(after.data, "swir16", "nir")
    forest = before.classes == CLASSES.index("forest")
    water = before.classes == CLASSES.index("water")
    assert np.median(ndvi0[forest & clear]) > 0.7 and np.median(ndwi0[water & clear]) > 0.3
    for name in ("crop", "bare_soil", "urban", "road", "water", "forest"):
        assert (before.classes == CLASSES.index(name)).mean() > 0.005, name
    for scene in (before, after):
        assert 0.01 < (scene.classes == CLASSES.index("cloud")).mean() < 0.3
    cleared = changes.cleared_forest & forest & clear
    assert cleared.sum() > 500 and np.median(ndvi0[cleared] - ndvi1[cleared]) > 0.4
    flooded = changes.flooded_field & clear
    assert np.median(ndwi0[flooded]) < 0 < 0.3 < np.median(ndwi1[flooded])
    built = changes.new_buildings & clear
    assert np.median(ndbi1[built] - ndbi0[built]) > 0.1
    unchanged = clear & ~(changes.cleared_forest | changes.flooded_field | changes.new_buildings)
    assert np.median(np.abs(ndvi1[unchanged] - ndvi0[unchanged])) < 0.05


def test_seed_demo_uploads_both_scenes_once(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    try:
        first = seed_demo(ws.catalog, ws.store)
        again = seed_demo(ws.catalog, ws.store)
        assert first["created"] and not again["created"] and first["password"]
        assert sorted(again["imagery_ids"]) == sorted(first["imagery_ids"])
        with ws.catalog.session() as session:
            org = uuid.UUID(first["org_id"])
            rows = ImagerySearchRepository(session).query(
                org_id=org, query=ImageryQuery(providers=["demo"], sort="acquired_at")
            )
            aois = AOIRepository(session).list(org_id=org)
        assert [r.status for r in rows] == ["ready", "ready"]
        assert rows[0].bands["names"] == list(BANDS) and rows[0].crs == "EPSG:32632"
        assert rows[0].acquired_at < rows[1].acquired_at
        assert [a.name for a in aois] == ["Demo valley"]
        assert len(ws.store.list("imagery/")) == 4
    finally:
        ws.catalog.dispose()
