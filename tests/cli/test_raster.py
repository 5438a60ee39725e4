"""The raster commands as a user runs them: outputs checked with rasterio and numpy, ``--json``
summaries, ``--help``, and usage errors (exit code 2, one message, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rio_cogeo.cogeo import cog_validate

from terrascan.cli.app import main
from tests.engine import scenes
from tests.io import synthetic

COMMANDS = ("index", "change", "zonal", "correct", "mask", "coregister", "cog")


def run_process(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real command in its own process (``python -m terrascan.cli``)."""
    return subprocess.run(
        [sys.executable, "-m", "terrascan.cli", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def run(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        cwd: Path) -> tuple[int, str, str]:  # fmt: skip
    """The same entry point in this process (faster): exit code, stdout, stderr."""
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["terrascan", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Any]:
    folder = tmp_path_factory.mktemp("cli")
    _b, _a, before, after = scenes.changed_pair(folder)
    return folder, before, after


def test_index_in_a_process(pair: tuple[Path, Any, Any]) -> None:
    folder, before, _ = pair
    result = run_process(
        ["index", "ndvi", "before.tif", "--bands", "red=3,nir=4", "-o", "ndvi.tif", "--json"],
        folder,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["index"] == "ndvi" and summary["output"]["crs"] == "EPSG:32629"
    red, nir = scenes.reflectance(before[2]), scenes.reflectance(before[3])
    expected = (nir - red) / (nir + red)
    with rasterio.open(folder / "ndvi.tif") as src:
        np.testing.assert_allclose(src.read(1), expected, rtol=1e-6, equal_nan=True)
        assert src.dtypes == ("float32",) and np.isnan(src.nodata)
    assert summary["statistics"]["valid_pixels"] == int(np.isfinite(expected).sum())
    assert cog_validate(str(folder / "ndvi.tif"), quiet=True)[0]


def test_change_cva_json(pair: tuple[Path, Any, Any], capsys: Any, monkeypatch: Any) -> None:
    folder, before, after = pair
    code, out, err = run(
        ["change", "before.tif", "after.tif", "--method", "cva", "--bands", scenes.MAPPING,
         "--cva-bands", "red,nir", "--threshold", "0.05", "-o", "cva.tif", "--json"],
        capsys, monkeypatch, folder,
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    diffs = [scenes.reflectance(after[i]) - scenes.reflectance(before[i]) for i in (2, 3)]
    magnitude = np.sqrt(diffs[0] ** 2 + diffs[1] ** 2)
    with rasterio.open(folder / "cva.tif") as src:
        mask = src.read(1)
        assert src.dtypes == ("uint8",) and src.nodata == 255
    near = np.abs(magnitude - 0.05) < 1e-6
    expected = np.where(magnitude > 0.05, 1, 0)
    expected[np.isnan(magnitude)] = 255
    np.testing.assert_array_equal(mask[~near], expected[~near])
    assert summary["method"] == "cva" and summary["threshold"] == 0.05
    assert summary["changed_pixels"] == int((mask == 1).sum())
    assert summary["changed_area_m2"] == pytest.approx(summary["changed_pixels"] * 100.0)


def test_change_diff_otsu_text_summary(pair: tuple[Path, Any, Any], capsys: Any,
                                       monkeypatch: Any) -> None:  # fmt: skip
    folder, _, _ = pair
    code, out, err = run(
        ["change", "before.tif", "after.tif", "--bands", scenes.MAPPING, "-o", "diff.tif", "-q"],
        capsys, monkeypatch, folder,
    )  # fmt: skip
    assert code == 0, err
    assert "change mask written to diff.tif (diff, threshold" in out and "km²" in out


def test_plain_png_pair_in_a_process(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    first = rng.integers(0, 200, (3, 300, 400), dtype=np.uint8)
    second = first.copy()
    second[:, 50:100, 60:160] = 255
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        for name, data in (("one.png", first), ("two.png", second)):
            with rasterio.open(tmp_path / name, "w", driver="PNG", width=400, height=300,
                               count=3, dtype="uint8") as dst:  # fmt: skip
                dst.write(data)
    result = run_process(
        ["change", "one.png", "two.png", "--method", "cva", "-o", "change.tif", "--json"], tmp_path
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["changed_area_m2"] is None and summary["output"]["crs"] is None
    magnitude = np.sqrt(((second.astype(float) - first) ** 2).sum(axis=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(tmp_path / "change.tif") as src:
            mask = src.read(1)
    np.testing.assert_array_equal(mask, (magnitude > summary["threshold"]).astype(np.uint8))
    assert summary["changed_pixels"] == int(mask.sum()) and mask[50:100, 60:160].mean() > 0.95


def test_other_commands(pair: tuple[Path, Any, Any], capsys: Any, monkeypatch: Any) -> None:
    folder, before, _ = pair
    x0, y0 = synthetic.ORIGIN
    scenes.zones_file(folder / "zones.geojson", [
        {"type": "Feature", "id": "a", "properties": {},
         "geometry": scenes.polygon(x0 + 1000, y0 - 3000, x0 + 3000, y0 - 1000)}
    ], crs="EPSG:32629")  # fmt: skip
    code, out, err = run(["zonal", "before.tif", "zones.geojson", "--band", "nir", "--bands",
                          scenes.MAPPING, "--percentiles", "25,75", "--json", "-o", "z.json"],
                         capsys, monkeypatch, folder)  # fmt: skip
    assert code == 0, err
    record = json.loads(out)["zones"][0]
    values = scenes.reflectance(before[3])[100:300, 100:300].astype(np.float64)
    assert record["zone"] == "a" and record["count"] == 40000
    assert record["median"] == pytest.approx(np.median(values))
    assert json.loads((folder / "z.json").read_text())["zones"][0]["count"] == 40000

    args = ["correct", "before.tif", "--bands", scenes.MAPPING, "--select", "red,nir"]
    code, out, err = run([*args, "-o", "dos.tif", "--json"], capsys, monkeypatch, folder)
    assert code == 0, err
    assert set(json.loads(out)["dark_values"]) == {"red", "nir"}

    code, out, err = run(["cog", "after.tif", "-o", "after_cog.tif"], capsys, monkeypatch, folder)
    assert code == 0, err
    assert "COG written to after_cog.tif (4 band(s) uint16" in out
    assert cog_validate(str(folder / "after_cog.tif"), quiet=True)[0]

    args = ["coregister", "before.tif", "after.tif", "--band", "red", "--bands", scenes.MAPPING]
    code, out, err = run([*args, "-o", "al.tif", "--json"], capsys, monkeypatch, folder)
    assert code == 0, err
    shift = json.loads(out)
    assert abs(shift["dy_pixels"]) < 0.2 and abs(shift["dx_pixels"]) < 0.2


def test_every_command_has_help(capsys: Any, monkeypatch: Any, tmp_path: Path) -> None:
    for command in COMMANDS:
        code, out, _ = run([command, "--help"], capsys, monkeypatch, tmp_path)
        assert code == 0 and "--json" in out and "Usage" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["index", "ndvi", "before.tif", "--bands", "red=3,nir=9", "-o", "o.tif"], "out of range"),
        (["index", "ndvi", "before.tif", "--bands", "red=3,nir=x", "-o", "o.tif"], "NAME=INDEX"),
        (["index", "ndvi", "before.tif", "-o", "o.tif"], "not named"),
        (["index", "ndxi", "before.tif", "--bands", "red=3,nir=4", "-o", "o.tif"], "unknown index"),
        (["index", "ndvi", "missing.tif", "--bands", "red=3,nir=4", "-o", "o.tif"], "not found"),
        (["index", "ndvi", "junk.tif", "--bands", "red=3,nir=4", "-o", "o.tif"], "not a raster"),
        (
            ["change", "before.tif", "small.tif", "--bands", "red=3,nir=4", "-o", "o.tif"],
            "same size",
        ),
        (["change", "before.tif", "after.tif", "--threshold", "lots", "-o", "o.tif"], "threshold"),
        (["change", "before.tif", "after.tif", "--method", "ratio", "-o", "o.tif"], "--method"),
        (["change", "before.tif", "one.png", "--method", "cva", "-o", "o.tif"], "plain pictures"),
        (["index", "ndvi", "one.png", "--bands", "red=1,nir=2", "-o", "o.tif"], "georeferencing"),
        (["mask", "before.tif", "-o", "o.tif"], "quality band"),
        (["index", "ndvi", "before.tif", "--bands", "red=3,nir=4"], "Missing option"),
    ],
)
def test_usage_errors_exit_2_without_traceback(
    args: list[str], message: str, pair: tuple[Path, Any, Any], capsys: Any, monkeypatch: Any
) -> None:
    folder, before, _ = pair
    if not (folder / "small.tif").exists():
        synthetic.write_raster(folder / "small.tif", before[:, :300, :400], nodata=0)
        (folder / "junk.tif").write_text("not a tiff")
        (folder / "one.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    code, out, err = run(args, capsys, monkeypatch, folder)
    assert code == 2
    assert message in err and "Traceback" not in err + out
    assert not (folder / "o.tif").exists()
