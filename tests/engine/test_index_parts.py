"""A spectral index split into row bands (as a scaled-out job computes it) and merged into one
COG equals the index computed in one run, pixel for pixel, with the same statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from terrascan.engine import compute_index
from terrascan.engine.index import index_rows, merge_index_parts
from terrascan.errors import InvalidInputError
from terrascan.jobs.fanout import split_rows
from tests.engine import scenes


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_parts_merge_to_the_single_run(tmp_path: Path, parts: int) -> None:
    path, data = scenes.multiband(tmp_path)
    whole = compute_index(path, "ndvi", tmp_path / "whole.tif", bands=scenes.MAPPING)
    windows = split_rows(scenes.ROWS, scenes.COLS, parts, align=512)
    pieces = [
        (
            w.row_off,
            index_rows(path, "ndvi", (w.row_off, w.row_off + w.height), bands=scenes.MAPPING),
        )
        for w in windows
    ]
    merged = merge_index_parts(path, "ndvi", pieces, tmp_path / "merged.tif", bands=scenes.MAPPING)
    with rasterio.open(tmp_path / "whole.tif") as a, rasterio.open(tmp_path / "merged.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())
        assert a.transform == b.transform and a.crs == b.crs
        assert b.overviews(1) == a.overviews(1)
    # and both equal numpy's NDVI of the written bands
    red, nir = (data[2].astype(np.float64) * 1e-4, data[3].astype(np.float64) * 1e-4)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where(data[2] == 0, np.nan, (nir - red) / (nir + red))
    with rasterio.open(tmp_path / "merged.tif") as b:
        np.testing.assert_allclose(b.read(1), expected, atol=1e-6, equal_nan=True)
    assert merged.statistics.valid_pixels == whole.statistics.valid_pixels
    assert merged.statistics.mean == pytest.approx(whole.statistics.mean, rel=1e-9)
    assert merged.statistics.std == pytest.approx(whole.statistics.std, rel=1e-6)


def test_parts_that_do_not_cover_the_grid_are_refused(tmp_path: Path) -> None:
    path, _ = scenes.multiband(tmp_path)
    first = index_rows(path, "ndvi", (0, 512), bands=scenes.MAPPING)
    with pytest.raises(InvalidInputError, match="cover"):
        merge_index_parts(path, "ndvi", [(0, first)], tmp_path / "m.tif", bands=scenes.MAPPING)
    with pytest.raises(InvalidInputError, match="fit"):
        merge_index_parts(path, "ndvi", [(3, first)], tmp_path / "n.tif", bands=scenes.MAPPING)
    # rows adding up to the height but overlapping (and so leaving a gap) are refused too
    big = index_rows(path, "ndvi", (0, 1024), bands=scenes.MAPPING)
    tail = index_rows(path, "ndvi", (512, 512 + scenes.ROWS - 1024), bands=scenes.MAPPING)
    with pytest.raises(InvalidInputError, match="fit"):
        merge_index_parts(
            path, "ndvi", [(0, big), (512, tail)], tmp_path / "o.tif", bands=scenes.MAPPING
        )
    with pytest.raises(InvalidInputError, match="outside"):
        index_rows(path, "ndvi", (0, scenes.ROWS + 1), bands=scenes.MAPPING)
