"""Ingesting a Sentinel-2 L1C scene, which has no scene classification: the s2cloudless mask
takes its place. The scene is the real one with planted clouds (:mod:`tests.l1c_scene`), served
over HTTP with range requests; the expectation is the planted rectangles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.warp import transform_bounds
from scipy.ndimage import binary_dilation

from terrascan.io.scene import AssetAccess
from terrascan.jobs.ingest import aoi_geometry, ingest_scene
from tests.ingest.conftest import Workspace
from tests.l1c_scene import COARSE, ORIGIN, patch_mask, write_l1c_scene
from tests.stac_standin import FileServer

pytest.importorskip("s2cloudless")

# An AOI around the first planted cloud, in the scene's UTM zone (EPSG:32629).
AOI_UTM = (225980.0, 2756020.0, 269980.0, 2784020.0)


@pytest.fixture
def served_l1c(fixtures_dir: Path, tmp_path: Path) -> Iterator[tuple[dict[str, Any], FileServer]]:
    item = write_l1c_scene(fixtures_dir, tmp_path)
    server = FileServer()
    for asset in item["assets"].values():
        path = Path(asset["href"])
        server.files[f"/cogs/{path.name}"] = path
        asset["href"] = f"{server.url}/cogs/{path.name}"
    yield item, server
    server.close()


def test_l1c_clouds_are_masked_with_s2cloudless(
    served_l1c: tuple[dict[str, Any], FileServer], workspace: Workspace
) -> None:
    item, server = served_l1c
    bbox = transform_bounds("EPSG:32629", "EPSG:4326", *AOI_UTM)
    outcome = ingest_scene(
        item,
        aoi_geometry(bbox=bbox),
        org_id=workspace.org_id,
        catalog=workspace.catalog,
        store=workspace.store,
        access=AssetAccess((server.host,)),
        bands=["red", "nir"],
    )
    row = outcome.record
    assert row.bands["quality_band"] == "s2cloudless"
    with rasterio.open(workspace.store.gdal_path(row.storage_key).path) as src:
        data = src.read()
        transform, shape = src.transform, (src.height, src.width)
    # The planted clouds on the output grid: centres of output pixels in 600 m cells.
    rows = np.arange(shape[0]) + 0.5
    cols = np.arange(shape[1]) + 0.5
    x = transform.c + cols * transform.a
    y = transform.f + rows * transform.e
    cell_rows = np.floor((ORIGIN[1] - y) / COARSE).astype(int)
    cell_cols = np.floor((x - ORIGIN[0]) / COARSE).astype(int)
    planted_cells = patch_mask((183, 183), 1)
    core_cells = planted_cells & ~binary_dilation(~planted_cells)  # one cell in from the edge
    near_cells = binary_dilation(planted_cells, iterations=4)
    core = core_cells[np.ix_(cell_rows, cell_cols)]
    far = ~near_cells[np.ix_(cell_rows, cell_cols)]
    assert core.sum() > 1000 and far.sum() > 1000
    masked = ~np.isfinite(data).all(axis=0)
    assert masked[core].mean() > 0.99
    assert masked[far].mean() < 0.02
    planted_share = planted_cells[np.ix_(cell_rows, cell_cols)].mean() * 100
    assert planted_share * 0.9 < row.cloud_cover < planted_share * 1.6
