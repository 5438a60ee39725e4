"""Fixtures for the io tests: an S3-compatible server (moto's server mode on 127.0.0.1) and one
``store`` fixture that gives each behaviour test a LocalStore and an S3Store in turn."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from terrascan.io.storage import LocalStore, MiB, ObjectStore, S3Store
from tests.conftest import service_missing

#: Small multipart settings so a test file of a dozen MiB goes up in several parts
#: (5 MiB is S3's, and moto's, smallest part).
MULTIPART_THRESHOLD = 5 * MiB
MULTIPART_CHUNKSIZE = 5 * MiB


@dataclass(frozen=True)
class MotoS3:
    """A running moto S3 server and a bucket in it."""

    endpoint_url: str
    bucket: str
    region: str = "us-east-1"
    access_key_id: str = "testing"
    secret_access_key: str = "testing"

    def client(self) -> Any:
        """A plain boto3 client, for checking what the store really wrote."""
        import boto3

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )

    def app_settings(self) -> dict[str, Any]:
        """The ``Settings`` fields that keep an app's objects in this bucket (a fresh prefix)."""
        return {
            "storage_url": f"s3://{self.bucket}/run-{uuid.uuid4().hex[:8]}",
            "s3_endpoint_url": self.endpoint_url,
            "s3_region": self.region,
            "s3_access_key_id": self.access_key_id,
            "s3_secret_access_key": self.secret_access_key,
        }

    def store(self, prefix: str = "", **options: Any) -> S3Store:
        settings: dict[str, Any] = {
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "multipart_threshold": MULTIPART_THRESHOLD,
            "multipart_chunksize": MULTIPART_CHUNKSIZE,
        }
        return S3Store(self.bucket, prefix, **(settings | options))


@contextmanager
def running_moto() -> Iterator[tuple[str, int]]:
    """moto's S3 in server mode on 127.0.0.1 (a free port): its host and port; stopped after."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # moto[server] is a dev dependency
        service_missing(f"moto[server] is not installed: {exc}")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        server.start()
        host, port = server.get_host_and_port()
    except Exception as exc:
        server.stop()
        service_missing(f"moto S3 server could not be started: {exc!r}")
    try:
        yield host, port
    finally:
        server.stop()


def with_bucket(endpoint_url: str, bucket: str) -> MotoS3:
    s3 = MotoS3(endpoint_url=endpoint_url, bucket=bucket)
    s3.client().create_bucket(Bucket=s3.bucket)
    return s3


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """moto's S3 in server mode on 127.0.0.1 (a free port), with one bucket; stopped at the end."""
    with running_moto() as (host, port):
        yield with_bucket(f"http://{host}:{port}", "terrascan-test")


@pytest.fixture(
    params=["local", pytest.param("s3", marks=pytest.mark.s3)],
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """The same behaviour tests run on both stores; each S3 test gets its own prefix."""
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    moto_s3: MotoS3 = request.getfixturevalue("moto_s3")
    return moto_s3.store(prefix=f"tests/{uuid.uuid4().hex}")
