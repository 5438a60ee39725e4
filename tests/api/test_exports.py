"""Exports over HTTP: every format read back (rasterio, pyogrio, zipfile, csv), RFC 6266 file
names, and 404 for other organisations."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyogrio
import pytest
from rasterio.io import MemoryFile

from terrascan.io.vector import content_disposition, dbf_field_names, safe_filename
from tests.api._accounts import account_settings, open_client, signup
from tests.api._analysis import Journey, ndvi, run_journey


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journey]:
    root = Path(tmp_path_factory.mktemp("exports-api"))
    with open_client(account_settings(root)) as client:
        alice = signup(client, "alice@example.org")
        bob = signup(client, "bob@example.org")
        yield run_journey(client, alice, bob, root)


def _export(j: Journey, job_id: str, fmt: str) -> tuple[bytes, str]:
    response = j.client.get(
        f"/api/v1/analysis/results/{job_id}/export?format={fmt}", headers=j.alice.headers
    )
    assert response.status_code == 200, (fmt, response.text)
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="') and "filename*=UTF-8''" in disposition
    return response.content, disposition


def test_geotiff_and_png_exports(journey: Journey) -> None:
    job_id = journey.index_job["id"]
    body, disposition = _export(journey, job_id, "geotiff")
    assert f'filename="spectral-index-{job_id}.tif"' in disposition
    with MemoryFile(body) as memfile, memfile.open() as src:
        np.testing.assert_allclose(src.read(1), ndvi(journey.before), rtol=1e-5)
        assert src.profile["tiled"]
    png, _ = _export(journey, job_id, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_vector_exports_read_back(journey: Journey, tmp_path: Path) -> None:
    job_id = journey.change_job["id"]
    geojson, _ = _export(journey, job_id, "geojson")
    (tmp_path / "regions.geojson").write_bytes(geojson)
    gpkg, _ = _export(journey, job_id, "gpkg")
    (tmp_path / "regions.gpkg").write_bytes(gpkg)
    shapefile, disposition = _export(journey, job_id, "shapefile")
    assert disposition.endswith(".zip") or ".zip" in disposition
    with zipfile.ZipFile(io.BytesIO(shapefile)) as archive:
        names = archive.namelist()
        assert {Path(n).suffix for n in names} == {".shp", ".shx", ".dbf", ".prj", ".cpg"}
        assert all("/" not in n and ".." not in n for n in names)
        archive.extractall(tmp_path / "shp")
    shp = next((tmp_path / "shp").glob("*.shp"))
    for path in (tmp_path / "regions.geojson", tmp_path / "regions.gpkg", shp):
        meta = pyogrio.read_info(path)
        assert meta["features"] == 1, path
        assert "4326" in meta["crs"], path
        _, _, _, fields = pyogrio.raw.read(path)
        area = fields[list(meta["fields"]).index("area_m2")][0]
        assert float(area) == pytest.approx(25600, rel=0.02), path

    rows = list(csv.DictReader(io.StringIO(_export(journey, job_id, "csv")[0].decode())))
    assert len(rows) == 1 and float(rows[0]["area_m2"]) == pytest.approx(25600, rel=0.02)
    assert 14.9 < float(rows[0]["lon"]) < 15.1


def test_index_results_have_no_vector_export(journey: Journey) -> None:
    response = journey.client.get(
        f"/api/v1/analysis/results/{journey.index_job['id']}/export?format=shapefile",
        headers=journey.alice.headers,
    )
    assert response.status_code == 422
    rows = list(
        csv.DictReader(io.StringIO(_export(journey, journey.index_job["id"], "csv")[0].decode()))
    )
    assert {r["statistic"] for r in rows} >= {"mean"}


def test_other_organisations_and_bad_formats(journey: Journey) -> None:
    job_id = journey.change_job["id"]
    for fmt in ("geotiff", "png", "geojson", "shapefile", "gpkg", "csv"):
        response = journey.client.get(
            f"/api/v1/analysis/results/{job_id}/export?format={fmt}", headers=journey.bob.headers
        )
        assert response.status_code == 404, fmt
    response = journey.client.get(
        f"/api/v1/analysis/results/{job_id}/export?format=../../etc", headers=journey.alice.headers
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    "name", ["../../x", "a\r\nSet-Cookie: x=1", "ü" * 500 + ".tif", '"quoted".tif', ""]
)
def test_file_names_are_safe(name: str) -> None:
    header = content_disposition(name)
    assert "\r" not in header and "\n" not in header and "/" not in header.split("''")[0]
    safe = safe_filename(name)
    assert safe and ".." not in safe and len(safe) <= 100 and '"' not in safe


def test_dbf_field_names_stay_unique() -> None:
    names = dbf_field_names(["area_m2_total", "area_m2_totally", "AREA_M2_TOTAL", "id"])
    assert len(set(n.lower() for n in names.values())) == 4
    assert all(len(n) <= 10 for n in names.values())


def test_local_storage_streams_even_when_a_redirect_is_asked(journey: Journey) -> None:
    job_id = journey.index_job["id"]
    response = journey.client.get(
        f"/api/v1/analysis/results/{job_id}/export?format=geotiff&redirect=true",
        headers=journey.alice.headers,
        follow_redirects=False,
    )
    assert response.status_code == 200 and "location" not in response.headers
    with MemoryFile(response.content) as memfile, memfile.open() as src:
        np.testing.assert_allclose(src.read(1), ndvi(journey.before), rtol=1e-5)
    entries = journey.client.get(
        f"/api/v1/orgs/{journey.alice.personal_org}/audit",
        params={"action": "result.exported"},
        headers=journey.alice.headers,
    ).json()
    assert entries[0]["target_id"] == job_id and entries[0]["details"] == {
        "format": "geotiff",
        "presigned": False,
    }
    assert entries[0]["actor_id"] == str(journey.alice.user_id)
