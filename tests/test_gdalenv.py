"""GDAL/PROJ run with safe settings, and TerraScan refuses to start without them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import rasterio

from terrascan.errors import UnsafeEnvironmentError
from terrascan.gdalenv import SAFE_DEFAULTS, registered_unsafe_drivers, self_check, unsafe_settings


def test_the_defaults_are_in_force_in_this_process() -> None:
    for key in ("GDAL_SKIP", "PROJ_NETWORK", "GDAL_DISABLE_READDIR_ON_OPEN"):
        assert os.environ[key] == SAFE_DEFAULTS[key]
    assert unsafe_settings() == []
    assert registered_unsafe_drivers() == []
    self_check()


def _vrt_reading(tmp_path: Path, secret: Path) -> Path:
    vrt = tmp_path / "upload.tif"
    vrt.write_text(
        f'<VRTDataset rasterXSize="10" rasterYSize="1"><VRTRasterBand dataType="Byte" band="1">'
        f"<SimpleSource><SourceFilename>{secret}</SourceFilename></SimpleSource>"
        f"</VRTRasterBand></VRTDataset>"
    )
    return vrt


def test_a_vrt_disguised_as_tif_cannot_read_local_files(tmp_path: Path) -> None:
    """SECURITY.md: a VRT named upload.tif would read local files as pixels. Checked in a fresh
    process, where GDAL_SKIP has kept the driver out."""
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    vrt = _vrt_reading(tmp_path, secret)
    code = f"import terrascan, rasterio; rasterio.open({str(vrt)!r})"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "not recognized as being in a supported file format" in result.stderr


def test_a_vrt_is_refused_by_the_gtiff_only_opener_even_after_a_warp(tmp_path: Path) -> None:
    """rasterio's WarpedVRT registers the VRT driver for the process; TerraScan's opener names
    its drivers, so a disguised VRT still cannot be read."""
    from rasterio.vrt import WarpedVRT

    from terrascan.errors import TerraScanError
    from terrascan.io.sources import open_dataset
    from tests.io import synthetic

    scene = synthetic.two_resolutions(tmp_path)
    with rasterio.open(scene["folder"] / "B04.tif") as src, WarpedVRT(src, crs="EPSG:4326") as vrt:
        vrt.read(1, window=((0, 1), (0, 1)))
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    with pytest.raises(TerraScanError):
        open_dataset(str(_vrt_reading(tmp_path, secret)), drivers=("GTiff",))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("GDAL_SKIP", "", "GDAL_SKIP must include VRT"),
        ("GDAL_SKIP", "VRT", "GDAL_SKIP must include MRF"),
        ("PROJ_NETWORK", "ON", "PROJ_NETWORK must be OFF"),
        ("GDAL_DISABLE_READDIR_ON_OPEN", "FALSE", "GDAL_DISABLE_READDIR_ON_OPEN"),
        ("GDAL_VRT_ENABLE_PYTHON", "YES", "GDAL_VRT_ENABLE_PYTHON must not be enabled"),
        ("GDAL_MEM_ENABLE_OPEN", "YES", "GDAL_MEM_ENABLE_OPEN must not be enabled"),
    ],
)
def test_self_check_refuses_unsafe_settings(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str, message: str
) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(UnsafeEnvironmentError, match=message):
        self_check()


def test_the_server_refuses_to_boot_when_gdal_loads_vrt(tmp_path: Path) -> None:
    """A fresh process where the operator set GDAL_SKIP empty: GDAL registers VRT, and
    `terrascan serve` exits with a clear message instead of serving."""
    env = {**os.environ, "GDAL_SKIP": "", "TERRASCAN_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "terrascan.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "refusing to start" in result.stderr
    assert "GDAL driver VRT is registered" in result.stderr
    assert "Traceback" not in result.stderr


def test_resampling_and_reprojection_keep_vrt_unregistered(tmp_path: Path) -> None:
    """rasterio's WarpedVRT and calculate_default_transform register GDAL's VRT driver for
    the whole process; the readers must resample without them."""
    from terrascan.io.raster import read_bands
    from tests.io import synthetic

    scene = synthetic.two_resolutions(tmp_path)
    read_bands(scene["item"], ["red", "swir16", "scl"])  # 20 m bands onto the 10 m grid
    read_bands(scene["item"], ["red"], dst_crs="EPSG:4326", resolution=0.0002)
    code = (
        "import sys, terrascan, rasterio\n"
        "from terrascan.io.raster import read_bands\n"
        "read_bands(sys.argv[1], ['red', 'swir16', 'scl'])\n"
        "read_bands(sys.argv[1], ['red'], dst_crs='EPSG:4326', resolution=0.0002)\n"
        "with rasterio.Env() as env:\n"
        "    print('VRT' in env.drivers())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(scene["item"])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
