"""The offline demo: realistic classes, real changes between the dates, seeded via uploads."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from terrascan.catalog.imagery import ImageryQuery, ImagerySearchRepository
from terrascan.catalog.models import AnalysisJob
from terrascan.catalog.repositories import AOIRepository
from terrascan.jobs.analysis import ChangeDetectionSpec, run_change_detection
from terrascan.jobs.context import JobContext
from terrascan.jobs.demo import BANDS, CLASSES, demo_scenes, seed_demo
from tests.ingest.conftest import make_workspace


def _index(data: np.ndarray, a: str, b: str) -> np.ndarray:
    x = data[BANDS.index(a)].astype(float)
    y = data[BANDS.index(b)].astype(float)
    return (x - y) / (x + y)


def test_demo_scenes_hold_the_landscape_and_its_changes() -> None:
    before, after, changes = demo_scenes()
    assert before.data.shape == (6, 512, 512) and before.data.dtype == np.uint16
    clear = ~np.isin(before.scl, [3, 8, 9]) & ~np.isin(after.scl, [3, 8, 9])
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


def test_the_scl_layer_tells_the_truth_about_the_sky() -> None:
    """SCL classes follow the generator's classes; shadows are darker copies of the land."""
    before, after, _ = demo_scenes()
    cloud = CLASSES.index("cloud")
    for scene in (before, after):
        assert np.array_equal(np.isin(scene.scl, [8, 9]), scene.classes == cloud)
        shadow = scene.scl == 3
        assert 0.01 < shadow.mean() < 0.2 and not (shadow & (scene.classes == cloud)).any()
        for name, code in [("water", 6), ("forest", 4), ("urban", 5)]:
            land = (scene.classes == CLASSES.index(name)) & ~shadow
            assert (scene.scl[land] == code).all(), name
        # Shadowed forest is much darker than sunlit forest, in every band.
        forest = scene.classes == CLASSES.index("forest")
        lit = np.median(scene.data[:, forest & ~shadow], axis=1)
        dark = np.median(scene.data[:, forest & shadow], axis=1)
        assert (dark < 0.5 * lit).all()


def _change_mask(tmp_path: Path, method: str, index: str | None) -> tuple[np.ndarray, Any]:
    """Seed the demo and run the change-detection runner on its pair; the mask it stored."""
    ws = make_workspace(tmp_path)
    try:
        seeded = seed_demo(ws.catalog, ws.store)
        before_id, after_id = (uuid.UUID(i) for i in seeded["imagery_ids"])
        with ws.catalog.session() as session:
            found = ImagerySearchRepository(session).query(
                org_id=uuid.UUID(seeded["org_id"]), query=ImageryQuery(providers=["demo"])
            )
            rows = {r.id: r for r in found}
            covers = [rows[before_id].cloud_cover, rows[after_id].cloud_cover]
        spec = ChangeDetectionSpec(
            imagery_id_before=before_id,
            imagery_id_after=after_id,
            method=method,
            index_name=index,
            threshold="otsu",
        )
        org_id = uuid.UUID(seeded["org_id"])
        with ws.catalog.session() as session:  # the job row its changed regions belong to
            job = AnalysisJob(org_id=org_id, job_type="change-detection", status="running")
            session.add(job)
        ctx = JobContext.local(ws.store, job_id=job.id, org_id=org_id, catalog=ws.catalog)
        result = run_change_detection(spec, ctx)
        with rasterio.open(ws.store.gdal_path(result["result_key"]).path) as src:
            return src.read(1), covers
    finally:
        ws.catalog.dispose()


@pytest.mark.parametrize(("method", "index"), [("cva", None), ("diff", "ndvi")])
def test_change_detection_on_the_demo_ignores_clouds_and_finds_the_changes(
    tmp_path: Path, method: str, index: str | None
) -> None:
    before, after, changes = demo_scenes()
    mask, covers = _change_mask(tmp_path, method, index)
    sky = np.isin(before.scl, [3, 8, 9]) | np.isin(after.scl, [3, 8, 9])
    clouds = np.isin(before.scl, [8, 9]) | np.isin(after.scl, [8, 9])
    # Expected from the generator's truth: what it planted, where both dates see the ground.
    planted = changes.new_buildings | changes.cleared_forest | changes.flooded_field
    truth = planted & (before.classes != after.classes) & ~sky
    assert truth.sum() > 5000

    # Clouds and their shadows are no data in the result, never change.
    assert clouds.sum() > 10_000
    assert (mask[clouds] == 1).sum() == 0 and (mask[sky] == 255).all()
    # Cloud cover was measured from SCL (classes 8, 9 and 10 over observed pixels).
    for scene, cover in zip((before, after), covers, strict=True):
        assert cover == pytest.approx(100 * np.isin(scene.scl, [8, 9]).mean(), abs=1e-3)

    # The planted changes are found; little else is.
    changed = mask == 1
    assert changed[truth].mean() > 0.8
    kinds = {
        "new buildings": changes.new_buildings,
        "cleared forest": changes.cleared_forest,
        "flooded field": changes.flooded_field,
    }
    for name, where in kinds.items():
        part = truth & where
        if method == "diff" and name == "new buildings":
            continue  # bare soil -> buildings barely moves NDVI: found by CVA, not by NDVI
        assert changed[part].mean() > 0.8, name
    still = ~planted & ~sky
    assert changed[still].mean() < 0.02
