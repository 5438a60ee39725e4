"""Exports on S3 storage (moto's server mode on 127.0.0.1): the whole journey runs on the
bucket, ``redirect=true`` answers 307 to a short-lived presigned URL whose bytes are the stored
object, streaming stays the default, and every export is audited."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest
from rasterio.io import MemoryFile

from terrascan.api.routes.exports import PRESIGN_SECONDS
from terrascan.catalog.models import AnalysisJob
from terrascan.io.storage import S3Store
from tests.api._accounts import account_settings, open_client, signup
from tests.api._analysis import Journey, ndvi, run_journey
from tests.io.conftest import MotoS3, running_moto, with_bucket

pytestmark = pytest.mark.s3


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    with running_moto() as (host, port):
        yield with_bucket(f"http://{host}:{port}", "terrascan-exports")


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory, moto: MotoS3) -> Iterator[Journey]:
    root = Path(tmp_path_factory.mktemp("exports-s3"))
    settings = account_settings(root, **moto.app_settings())
    with open_client(settings) as client:
        assert isinstance(client.app.state.store, S3Store)  # type: ignore[attr-defined]
        alice = signup(client, "alice@example.org")
        bob = signup(client, "bob@example.org")
        yield run_journey(client, alice, bob, root)


def _stored_bytes(j: Journey, moto: MotoS3, job_id: str) -> bytes:
    """The result object as the bucket holds it, read with a plain boto3 client."""
    with j.client.app.state.catalog.session() as session:  # type: ignore[attr-defined]
        job = session.get(AnalysisJob, uuid.UUID(job_id))
        assert job is not None and job.result_key
        key = str(job.result_key)
    store: S3Store = j.client.app.state.store  # type: ignore[attr-defined]
    body = moto.client().get_object(Bucket=moto.bucket, Key=f"{store.prefix}/{key}")["Body"]
    return bytes(body.read())


def _check_presigned(location: str) -> None:
    """SigV4 (X-Amz-Date + X-Amz-Expires) or SigV2 (Expires): valid for PRESIGN_SECONDS."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    if "X-Amz-Expires" in query:
        assert int(query["X-Amz-Expires"]) == PRESIGN_SECONDS
        signed = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        assert abs((datetime.now(UTC) - signed).total_seconds()) < 60
        assert "X-Amz-Signature" in query
    else:
        assert 0 < int(query["Expires"]) - time.time() <= PRESIGN_SECONDS
        assert "Signature" in query


def test_geotiff_redirects_to_a_presigned_url_with_the_stored_bytes(
    journey: Journey, moto: MotoS3
) -> None:
    job_id = journey.index_job["id"]
    response = journey.client.get(
        f"/api/v1/analysis/results/{job_id}/export",
        params={"format": "geotiff", "redirect": "true"},
        headers=journey.alice.headers,
        follow_redirects=False,
    )
    assert response.status_code == 307, response.text
    location = response.headers["location"]
    assert location.startswith(moto.endpoint_url + f"/{moto.bucket}/")
    assert response.headers["cache-control"] == "no-store"
    _check_presigned(location)

    downloaded = httpx.get(location, timeout=10)  # no credentials: the URL is the grant
    assert downloaded.status_code == 200
    assert downloaded.content == _stored_bytes(journey, moto, job_id)
    with MemoryFile(downloaded.content) as memfile, memfile.open() as src:
        np.testing.assert_allclose(src.read(1), ndvi(journey.before), rtol=1e-5)
        assert src.profile["tiled"]
    unsigned = httpx.get(location.split("?", 1)[0], timeout=10)
    assert unsigned.status_code == 403  # moto's default bucket policy: private


def test_streaming_stays_the_default_on_s3(journey: Journey, moto: MotoS3) -> None:
    job_id = journey.index_job["id"]
    streamed = journey.client.get(
        f"/api/v1/analysis/results/{job_id}/export?format=geotiff",
        headers=journey.alice.headers,
        follow_redirects=False,
    )
    assert streamed.status_code == 200
    assert streamed.content == _stored_bytes(journey, moto, job_id)
    assert f'filename="spectral-index-{job_id}.tif"' in streamed.headers["content-disposition"]
    png = journey.client.get(
        f"/api/v1/analysis/results/{job_id}/export?format=png&redirect=true",
        headers=journey.alice.headers,
        follow_redirects=False,
    )
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_other_organisations_get_404_not_a_url(journey: Journey) -> None:
    response = journey.client.get(
        f"/api/v1/analysis/results/{journey.change_job['id']}/export",
        params={"format": "geotiff", "redirect": "true"},
        headers=journey.bob.headers,
        follow_redirects=False,
    )
    assert response.status_code == 404 and "location" not in response.headers


def test_share_links_redirect_too_and_exports_are_audited(journey: Journey, moto: MotoS3) -> None:
    client, alice = journey.client, journey.alice
    job_id = journey.change_job["id"]
    share = client.post(
        f"/api/v1/analysis/results/{job_id}/shares", json={}, headers=alice.headers
    ).json()
    via_link = client.get(
        f"{share['url']}/export?format=geotiff&redirect=true", follow_redirects=False
    )
    assert via_link.status_code == 307
    _check_presigned(via_link.headers["location"])
    mask = httpx.get(via_link.headers["location"], timeout=10).content
    assert mask == _stored_bytes(journey, moto, job_id)
    with MemoryFile(mask) as memfile, memfile.open() as src:
        values = src.read(1)
    assert set(np.unique(values)) <= {0, 1, 255} and (values == 1).sum() == 16 * 16

    assert client.delete(f"/api/v1/shares/{share['id']}", headers=alice.headers).status_code == 204
    gone = client.get(f"{share['url']}/export?format=geotiff&redirect=true", follow_redirects=False)
    assert gone.status_code == 410 and "location" not in gone.headers

    entries = client.get(
        f"/api/v1/orgs/{alice.personal_org}/audit",
        params={"action": "result.exported"},
        headers=alice.headers,
    ).json()
    presigned = [e for e in entries if e["target_id"] == job_id and e["details"]["presigned"]]
    assert [e["details"].get("share_id") for e in presigned] == [share["id"]]
    assert all(e["details"]["format"] == "geotiff" for e in presigned)
