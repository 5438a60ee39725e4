"""Sensor profiles, scale/offset resolution and band-mapping parsing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from terrascan.errors import InvalidInputError
from terrascan.io.sensors import (
    COMMON_NAMES,
    SENSORS,
    get_sensor,
    parse_band_mapping,
    scale_offset,
    sensor_for_item,
)
from terrascan.io.stac_item import find_asset


@pytest.fixture(scope="module")
def search_items(fixtures_dir: Path) -> dict[str, dict[str, Any]]:
    """The Sentinel-2 L2A and Landsat C2 L2 items of the recorded Earth Search search."""
    path = fixtures_dir / "earth-search-v1" / "search_s2l2a_landsatc2l2_point_2023-10-08.json"
    body = json.loads(path.read_text())["response"]["body"]
    return {item["collection"]: item for item in body["features"]}


@pytest.fixture(scope="module")
def s2_2020_item(fixtures_dir: Path) -> dict[str, Any]:
    path = fixtures_dir / "sentinel2-l2a-S2A_29RKH_20200219" / "S2A_29RKH_20200219_0_L2A.json"
    item: dict[str, Any] = json.loads(path.read_text())
    return item


def test_profiles_exist_with_quality_bands() -> None:
    assert set(SENSORS) == {"sentinel-2-l2a", "sentinel-2-l1c", "landsat-c2-l2", "landsat-c2-l1"}
    assert get_sensor("sentinel-2-l2a").quality == "scl"
    assert get_sensor("landsat-c2-l2").quality == "qa_pixel"
    assert get_sensor("sentinel-2-l1c").quality is None
    assert get_sensor("sentinel-2-l2a").band("scl").categorical
    assert get_sensor("landsat-c2-l2").band("qa_pixel").categorical
    names = {spec.name for profile in SENSORS.values() for spec in profile.bands.values()}
    assert names <= {*COMMON_NAMES, "scl", "qa_pixel"}


def test_native_resolutions() -> None:
    s2 = get_sensor("sentinel-2-l2a")
    bands = ("red", "nir", "rededge1", "swir16", "coastal")
    assert [s2.band(n).resolution for n in bands] == [10.0, 10.0, 20.0, 20.0, 60.0]
    assert get_sensor("sentinel-2-l1c").band("cirrus").resolution == 60.0
    assert get_sensor("landsat-c2-l1").band("pan").resolution == 15.0


def test_collection_aliases() -> None:
    assert sensor_for_item({"collection": "sentinel-2-c1-l2a"}) is get_sensor("sentinel-2-l2a")
    assert sensor_for_item({"collection": "landsat-c2l2-sr"}) is get_sensor("landsat-c2-l2")
    assert sensor_for_item({"collection": "naip"}) is None
    assert sensor_for_item({}) is None


def test_unknown_sensor_and_band() -> None:
    with pytest.raises(InvalidInputError, match="unknown sensor"):
        get_sensor("spot-7")
    with pytest.raises(InvalidInputError, match="has no band 'cirrus'"):
        get_sensor("sentinel-2-l2a").band("cirrus")


def test_profile_asset_keys_exist_in_real_items(
    search_items: dict[str, dict[str, Any]], s2_2020_item: dict[str, Any]
) -> None:
    for item in (*search_items.values(), s2_2020_item):
        sensor = sensor_for_item(item)
        assert sensor is not None
        for spec in sensor.bands.values():
            if spec.name == "lwir":  # Landsat 4-7 only; the recorded item is Landsat 8
                continue
            assert spec.asset in item["assets"], (sensor.name, spec.asset)


def test_landsat_nir_alias_finds_nir08(search_items: dict[str, dict[str, Any]]) -> None:
    item = search_items["landsat-c2-l2"]
    key, asset = find_asset(item, "nir", sensor_for_item(item))
    assert key == "nir08"
    assert asset["href"].endswith("_SR_B5.TIF")


def test_scale_offset_read_from_raster_bands(
    search_items: dict[str, dict[str, Any]], s2_2020_item: dict[str, Any]
) -> None:
    landsat = search_items["landsat-c2-l2"]
    ls = sensor_for_item(landsat)
    assert ls is not None
    assert scale_offset(landsat["assets"]["red"], ls.band("red"), ls) == (2.75e-05, -0.2)
    lwir = scale_offset(landsat["assets"]["lwir11"], ls.band("lwir11"), ls)
    assert lwir == (0.00341802, 149.0)

    s2_new = search_items["sentinel-2-l2a"]  # processing baseline 05.09
    s2 = get_sensor("sentinel-2-l2a")
    props = s2_new["properties"]
    assert scale_offset(s2_new["assets"]["red"], s2.band("red"), s2, props) == (1e-4, -0.1)
    old = s2_2020_item  # baseline 02.14: no offset
    assert scale_offset(old["assets"]["nir"], s2.band("nir"), s2, old["properties"]) == (1e-4, 0.0)
    # Quality bands are never scaled.
    assert scale_offset(s2_new["assets"]["scl"], s2.band("scl"), s2, props) == (1.0, 0.0)


def test_scale_offset_falls_back_to_profile_defaults() -> None:
    s2 = get_sensor("sentinel-2-l2a")
    red = s2.band("red")
    bare: dict[str, Any] = {"href": "B04.tif"}
    assert scale_offset(bare, red, s2, {"s2:processing_baseline": "04.00"}) == (1e-4, -0.1)
    assert scale_offset(bare, red, s2, {"s2:processing_baseline": "03.01"}) == (1e-4, 0.0)
    # Only one of the two in raster:bands: the other comes from the profile.
    partial = {"raster:bands": [{"scale": 2e-4}]}
    assert scale_offset(partial, red, s2, {"s2:processing_baseline": "05.00"}) == (2e-4, -0.1)
    ls = get_sensor("landsat-c2-l2")
    assert scale_offset(None, ls.band("nir08"), ls) == (2.75e-5, -0.2)
    assert scale_offset(None, None, None) == (1.0, 0.0)


def test_parse_band_mapping() -> None:
    assert parse_band_mapping("red=3,nir=4") == {"red": 3, "nir": 4}
    assert parse_band_mapping(" Red = 3 , swir16=6 ") == {"red": 3, "swir16": 6}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("red", "not NAME=INDEX"),
        ("red=x", "not NAME=INDEX"),
        ("infrared=3", "unknown band name 'infrared'"),
        ("red=0", "must be 1 or more"),
        ("red=-2", "must be 1 or more"),
        ("red=3,red=4", "mapped twice"),
        ("red=3,nir=3", "mapped to both 'red' and 'nir'"),
        ("red=3,,nir=4", "not NAME=INDEX"),
    ],
)
def test_parse_band_mapping_rejects(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_band_mapping(text)
