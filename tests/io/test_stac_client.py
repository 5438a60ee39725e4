"""The STAC client against a stand-in replaying real Earth Search v1 responses, and against
hostile stand-ins that must not make it loop, balloon or contact anyone else."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from terrascan.errors import InvalidInputError, NotFoundError, TooLargeError
from terrascan.io.stac_client import (
    RefusedRequestError,
    SearchLimits,
    StacApiError,
    StacClient,
    normalise_item,
    parse_bbox,
    parse_datetime_range,
)
from tests.stac_standin import (
    EARTH_SEARCH,
    EarthSearchStandIn,
    HostileStacApi,
    Server,
    load_recording,
    rewrite,
)

POINT = {"type": "Point", "coordinates": [-105.1019, 40.1672]}


@pytest.fixture
def earth_search(fixtures_dir: Path) -> Iterator[EarthSearchStandIn]:
    server = EarthSearchStandIn(fixtures_dir)
    yield server
    server.close()


@pytest.fixture
def canary() -> Iterator[Server]:
    server = Server()
    yield server
    server.close()


def test_search_normalises_the_recorded_sentinel2_and_landsat_items(
    earth_search: EarthSearchStandIn, fixtures_dir: Path
) -> None:
    client = StacClient(earth_search.base)
    result = client.search(
        intersects=POINT,
        datetime="2023-10-08/2023-10-08",
        collections=["sentinel-2-l2a", "landsat-c2-l2"],
    )
    # What was sent: one POST search with the collections, geometry and the whole day.
    sent = earth_search.searches[-1]
    assert sent["collections"] == ["sentinel-2-l2a", "landsat-c2-l2"]
    assert sent["intersects"] == POINT
    start, _, end = sent["datetime"].partition("/")
    assert start.startswith("2023-10-08T00:00:00") and end.startswith("2023-10-08T23:59:59")

    raw = load_recording(fixtures_dir, "search_s2l2a_landsatc2l2_point_2023-10-08.json")
    features = {f["id"]: f for f in raw["response"]["body"]["features"]}
    assert [s.id for s in result.scenes] == list(features)
    assert result.pages == 1 and not result.truncated

    s2, landsat = result.scenes
    assert (s2.collection, s2.platform) == ("sentinel-2-l2a", "sentinel-2a")
    assert s2.datetime == datetime(2023, 10, 8, 18, 2, 55, 276000, tzinfo=UTC)
    assert s2.cloud_cover == pytest.approx(features[s2.id]["properties"]["eo:cloud_cover"])
    assert s2.footprint == features[s2.id]["geometry"]
    red = {b.name: b for b in s2.bands}["red"]
    recorded_red = features[s2.id]["assets"]["red"]
    assert red.href == recorded_red["href"]
    assert (red.scale, red.offset) == (
        recorded_red["raster:bands"][0]["scale"],
        recorded_red["raster:bands"][0]["offset"],
    )
    assert "scl" in s2.band_names and "rededge1" in s2.band_names
    assert s2.thumbnail == features[s2.id]["assets"]["thumbnail"]["href"]

    bands = {b.name: b for b in landsat.bands}
    assert landsat.platform == "landsat-8"
    assert (bands["nir08"].scale, bands["nir08"].offset) == (2.75e-05, -0.2)
    assert bands["qa_pixel"].href.startswith("s3://usgs-landsat/")
    assert landsat.item == rewrite(features[landsat.id], EARTH_SEARCH, earth_search.base)


def test_max_cloud_uses_the_query_extension_earth_search_declares_and_filters_again(
    earth_search: EarthSearchStandIn,
) -> None:
    client = StacClient(earth_search.base, SearchLimits(max_pages=2))
    result = client.search(bbox=[-180, -90, 180, 90], max_cloud=5, collections=["sentinel-2-l2a"])
    # Earth Search v1 declares the query extension (not CQL2 filter) on its landing page.
    assert earth_search.searches[0]["query"] == {"eo:cloud_cover": {"lte": 5}}
    recorded = earth_search.body("search_cql2_cloudcover_lte40_page1.json")["features"]
    recorded += earth_search.body("search_cql2_cloudcover_lte40_page2_next.json")["features"]
    expected = [
        f["id"]
        for f in recorded
        if f["properties"].get("eo:cloud_cover") is not None
        and f["properties"]["eo:cloud_cover"] <= 5
    ]
    assert [s.id for s in result.scenes] == expected
    # The second page came through the recorded `next` token.
    assert earth_search.searches[1] == {
        "next": earth_search.body("search_cql2_cloudcover_lte40_page1.json")["links"][0]["body"][
            "next"
        ]
    }
    assert result.pages == 2 and result.truncated and result.stop_reason == "page limit (2)"


def test_limit_stops_reading_pages(earth_search: EarthSearchStandIn) -> None:
    client = StacClient(earth_search.base)
    result = client.search(bbox=[-180, -90, 180, 90], max_cloud=100, limit=3)
    assert len(result.scenes) == 3 and result.pages == 1
    assert earth_search.searches[0]["limit"] == 3
    assert len(earth_search.searches) == 1


def test_get_items_by_id_and_missing_ids(earth_search: EarthSearchStandIn) -> None:
    client = StacClient(earth_search.base)
    [scene] = client.get_items(["LC08_L2SP_033032_20231008_02_T1"])
    assert scene.collection == "landsat-c2-l2"
    assert earth_search.searches[-1]["ids"] == ["LC08_L2SP_033032_20231008_02_T1"]
    with pytest.raises(NotFoundError, match="nope"):
        client.get_items(["nope"])


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"bbox": [10, 10, 5, 20]}, InvalidInputError),
        ({"bbox": [0, 0, 1]}, InvalidInputError),
        ({"bbox": [0, 0, 1, float("nan")]}, InvalidInputError),
        ({"datetime": "2023-02-01/2023-01-01"}, InvalidInputError),
        ({"datetime": "yesterday"}, InvalidInputError),
        ({"max_cloud": 101}, InvalidInputError),
        ({"collections": ["../etc"]}, InvalidInputError),
        ({"intersects": {"type": "Polygon", "coordinates": [[[0, 0]] * 20_001]}}, TooLargeError),
        ({"intersects": {"type": "GeometryCollection", "geometries": []}}, InvalidInputError),
    ],
)
def test_bad_search_input_is_refused_before_any_request(
    earth_search: EarthSearchStandIn, kwargs: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        StacClient(earth_search.base).search(**kwargs)  # type: ignore[arg-type]
    assert earth_search.requests == []


def test_datetime_and_bbox_parsing() -> None:
    start, end = parse_datetime_range("2023-01-01/2023-01-31")
    assert start == datetime(2023, 1, 1, tzinfo=UTC)
    assert end == datetime(2023, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert parse_datetime_range("../2023-01-31T12:00:00+02:00") == (
        None,
        datetime(2023, 1, 31, 10, tzinfo=UTC),
    )
    assert parse_bbox("1,2,3,4") == (1.0, 2.0, 3.0, 4.0)


def test_normalise_the_real_sentinel2_item_of_the_fixture(fixtures_dir: Path) -> None:
    path = fixtures_dir / "sentinel2-l2a-S2A_29RKH_20200219" / "S2A_29RKH_20200219_0_L2A.json"
    item = json.loads(path.read_text())
    scene = normalise_item(item)
    bands = {b.name: b for b in scene.bands}
    # Baseline 02.14: the item says offset 0, and the item wins over the profile's -0.1.
    assert (bands["red"].scale, bands["red"].offset, bands["red"].nodata) == (0.0001, 0.0, 0.0)
    assert bands["scl"].asset == "scl" and (bands["scl"].scale, bands["scl"].offset) == (1.0, 0.0)
    assert scene.cloud_cover == pytest.approx(4.051854)


# --------------------------------------------------------------------------- hostile APIs


def _hostile(fixtures_dir: Path, canary: Server, mode: str) -> HostileStacApi:
    return HostileStacApi(fixtures_dir, canary, mode)


@pytest.mark.parametrize("mode", ["search-link-elsewhere", "next-elsewhere", "redirect-elsewhere"])
def test_links_and_redirects_to_other_hosts_are_refused(
    fixtures_dir: Path, canary: Server, mode: str
) -> None:
    api = _hostile(fixtures_dir, canary, mode)
    try:
        client = StacClient(api.base, SearchLimits(max_pages=5))
        with pytest.raises(RefusedRequestError, match=f"127.0.0.1:{canary.port}"):
            client.search(bbox=[-106, 39, -104, 41], collections=["sentinel-2-l2a"])
    finally:
        api.close()
    assert canary.requests == []


def test_a_search_link_to_a_local_file_is_never_read(fixtures_dir: Path, canary: Server) -> None:
    secret = fixtures_dir / "earth-search-v1" / "collections.json"
    api = _hostile(fixtures_dir, canary, "search-link-local-file")
    api.local_file = secret.as_uri()
    try:
        with pytest.raises(RefusedRequestError, match="not an http"):
            StacClient(api.base).search(bbox=[-106, 39, -104, 41])
    finally:
        api.close()


@pytest.mark.parametrize("mode", ["self-next", "growing-next"])
def test_endless_next_links_are_bounded(fixtures_dir: Path, canary: Server, mode: str) -> None:
    api = _hostile(fixtures_dir, canary, mode)
    try:
        client = StacClient(api.base, SearchLimits(max_pages=4))
        result = client.search(bbox=[-106, 39, -104, 41], limit=500)
        searches = api.count("/v1/search")
    finally:
        api.close()
    assert result.truncated
    # The same two items on every page are reported once.
    assert len(result.scenes) == 2
    if mode == "self-next":  # the repeated link is noticed after the second page
        assert result.stop_reason == "repeated next link" and searches == 2
    else:
        assert result.stop_reason == "page limit (4)" and searches == 4
    assert canary.requests == []


def test_a_huge_page_is_cut_off(fixtures_dir: Path, canary: Server) -> None:
    api = _hostile(fixtures_dir, canary, "huge-page")
    try:
        client = StacClient(api.base, SearchLimits(max_response_bytes=1 << 20))
        with pytest.raises(StacApiError, match=r"over 1,048,576 bytes|too large"):
            client.search(bbox=[-106, 39, -104, 41])
    finally:
        api.close()


def test_a_slow_drip_answer_runs_into_the_deadline(fixtures_dir: Path, canary: Server) -> None:
    api = _hostile(fixtures_dir, canary, "slow-drip")  # about 10 s to send the page
    try:
        client = StacClient(api.base, SearchLimits(deadline_s=1.5, retries=0))
        started = time.monotonic()
        with pytest.raises(StacApiError, match="did not answer within"):
            client.search(bbox=[-106, 39, -104, 41])
        assert time.monotonic() - started < 4
    finally:
        api.close()


def test_server_errors_are_retried_then_reported(canary: Server) -> None:
    attempts: list[str] = []

    def flaky(request: object) -> object:
        from tests.stac_standin import Response

        attempts.append("x")
        return Response(503, b"busy")

    with_retries = Server(flaky)  # type: ignore[arg-type]
    try:
        client = StacClient(f"{with_retries.url}/v1", SearchLimits(retries=2, backoff_s=0.01))
        with pytest.raises(StacApiError):
            client.search(bbox=[0, 0, 1, 1])
    finally:
        with_retries.close()
    assert len(attempts) == 3  # the first try and two retries
