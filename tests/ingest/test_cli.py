"""``terrascan search``, ``ingest`` and ``upload`` against the STAC stand-in and the real files."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from terrascan.cli.app import app, main
from tests.ingest.conftest import ServedScene, make_workspace
from tests.stac_standin import EarthSearchStandIn


@pytest.fixture
def stac(fixtures_dir: Path, served_s2: ServedScene) -> Iterator[EarthSearchStandIn]:
    server = EarthSearchStandIn(fixtures_dir)
    server.add_item(served_s2.item)
    yield server
    server.close()


@pytest.fixture
def env(
    tmp_path: Path,
    stac: EarthSearchStandIn,
    served_s2: ServedScene,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    data = tmp_path / "data"
    data.mkdir()
    make_workspace(data, f"sqlite:///{data / 'terrascan.db'}").catalog.dispose()
    values = {
        "TERRASCAN_DATA_DIR": str(data),
        "TERRASCAN_STAC_API_URL": stac.base,
        "TERRASCAN_ASSET_HOSTS": served_s2.server.host,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def _run(*args: str) -> dict | list:  # type: ignore[type-arg]
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    value: dict | list = json.loads(result.stdout)  # type: ignore[type-arg]
    return value


def test_search_prints_json_items_with_their_ids(
    env: dict[str, str], stac: EarthSearchStandIn
) -> None:
    out = _run(
        "search",
        "--bbox",
        "-105.2",
        "40.1",
        "-105.0",
        "40.2",
        "--datetime",
        "2023-10-08/2023-10-08",
        "--collections",
        "sentinel-2-l2a,landsat-c2-l2",
        "--json",
    )
    assert isinstance(out, dict)
    ids = [item["id"] for item in out["items"]]
    assert "S2A_13TDE_20231008_0_L2A" in ids and "LC08_L2SP_033032_20231008_02_T1" in ids
    assert stac.searches[0]["bbox"] == [-105.2, 40.1, -105.0, 40.2]
    table = CliRunner().invoke(
        app,
        [
            "search",
            "--bbox",
            "-105.2",
            "40.1",
            "-105.0",
            "40.2",
            "--collections",
            "sentinel-2-l2a,landsat-c2-l2",
        ],
        env={"COLUMNS": "200"},
    )
    assert table.exit_code == 0 and "S2A_13TDE_20231008_0_L2A" in table.stdout


def test_ingest_twice_and_upload(env: dict[str, str], fixtures_dir: Path) -> None:
    args = [
        "ingest",
        "S2A_29RKH_20200219_0_L2A",
        "--bbox",
        "-11.6",
        "24.6",
        "-11.5",
        "24.7",
        "--bands",
        "red,nir",
        "--json",
    ]
    [first] = _run(*args)
    assert first["status"] == "ready" and first["created"] and first["bands"] == ["red", "nir"]
    assert first["scene_id"] == "S2A_29RKH_20200219_0_L2A" and first["crs"] == "EPSG:32629"
    [again] = _run(*args)
    assert again["id"] == first["id"] and not again["created"]
    rgb = fixtures_dir / "landsat7-rgb-byte" / "RGB.byte.tif"
    uploaded = _run("upload", str(rgb), "--name", "sample", "--json")
    assert isinstance(uploaded, dict)
    assert uploaded["name"] == "sample" and uploaded["bands"] == ["red", "green", "blue"]


def test_user_mistakes_exit_with_2(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        ["ingest", "S2A_29RKH_20200219_0_L2A"],  # no area
        ["search", "--bbox", "10", "0", "5", "5"],
        ["upload", str(Path(__file__))],  # not a GeoTIFF
    ]
    for args in cases:
        monkeypatch.setattr(sys, "argv", ["terrascan", *args])
        with pytest.raises(SystemExit) as exit_info:
            main()
        assert exit_info.value.code == 2, args
        err = capsys.readouterr().err
        assert "Error:" in err and "Traceback" not in err, err
