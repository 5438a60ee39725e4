"""terrascan.io.storage: one behaviour suite run on LocalStore and on S3Store (moto server),
then what only one of them does (atomic local writes, S3 timeouts), keys and the factory."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import rasterio
from affine import Affine

from terrascan.errors import InvalidInputError, NotFoundError, StorageError
from terrascan.io.storage import (
    MAX_KEY_BYTES,
    GdalLocation,
    LocalStore,
    ObjectInfo,
    ObjectStore,
    S3Store,
    open_store,
    validate_key,
)
from tests.io.conftest import MULTIPART_THRESHOLD, MotoS3

BAD_KEYS = [
    "../x",
    "/abs",
    "a/../../b",
    "a\\b",
    "a\x00b",
    "",
    "a//b",
    "a/",
    "./a",
    "a/./b",
    "..",
    "tab\there",
    "del\x7f",
    "x" * (MAX_KEY_BYTES + 1),
    "a/" + "y" * 256,
    "a/.terrascan-tmp-123",
]


def _payload(size: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


class _NonSeekable(io.RawIOBase):
    """A stream that can only be read forward, like a request body."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self._data.read(min(len(buffer), 65536))
        buffer[: len(chunk)] = chunk
        return len(chunk)


# --------------------------------------------------------------------------- both stores


def test_store_implements_the_protocol(store: ObjectStore) -> None:
    assert isinstance(store, ObjectStore)
    store.check()


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_put_get_roundtrip_bytes(store: ObjectStore, kind: type) -> None:
    data = _payload(1000)
    store.put("scenes/a.bin", kind(data))
    assert store.get("scenes/a.bin") == data
    assert store.exists("scenes/a.bin")


def test_put_file_object_and_path(store: ObjectStore, tmp_path: Path) -> None:
    data = _payload(70_000, seed=1)
    source = tmp_path / "source.bin"
    source.write_bytes(data)

    store.put("from-stream.bin", io.BytesIO(data))
    with source.open("rb") as fh:
        store.put("from-open-file.bin", fh)
    store.put("from-path.bin", source)
    store.put("from-non-seekable.bin", _NonSeekable(data))

    for key in ("from-stream.bin", "from-open-file.bin", "from-path.bin", "from-non-seekable.bin"):
        assert store.get(key) == data, key


def test_put_replaces_an_object(store: ObjectStore) -> None:
    store.put("k.txt", b"first version, longer")
    store.put("k.txt", b"second")
    assert store.get("k.txt") == b"second"
    assert [info.size for info in store.list()] == [6]


def test_empty_object(store: ObjectStore) -> None:
    store.put("empty", b"")
    assert store.get("empty") == b""
    assert list(store.stream("empty")) == []
    assert store.list()[0].size == 0


def test_stream_yields_bounded_chunks(store: ObjectStore) -> None:
    data = _payload(100_000, seed=2)
    store.put("s.bin", data)
    chunks = list(store.stream("s.bin", chunk_size=16_384))
    assert b"".join(chunks) == data
    assert len(chunks) >= 7
    assert all(0 < len(chunk) <= 16_384 for chunk in chunks)


def test_big_file_goes_up_in_parts(
    store: ObjectStore, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data = _payload(2 * MULTIPART_THRESHOLD + 123_457, seed=3)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    store.put("big/big.bin", source)

    streamed = hashlib.sha256()
    for chunk in store.stream("big/big.bin"):
        streamed.update(chunk)
    assert streamed.hexdigest() == hashlib.sha256(data).hexdigest()
    assert store.list("big/") == [
        ObjectInfo("big/big.bin", len(data), store.list("big/")[0].modified)
    ]
    if isinstance(store, S3Store):  # a multipart upload's ETag is "<md5 of md5s>-<parts>"
        moto_s3: MotoS3 = request.getfixturevalue("moto_s3")
        head = moto_s3.client().head_object(Bucket=store.bucket, Key=f"{store.prefix}/big/big.bin")
        assert head["ETag"].strip('"').endswith("-3")


def test_missing_objects(store: ObjectStore) -> None:
    with pytest.raises(NotFoundError):
        store.get("nope/missing.tif")
    with pytest.raises(NotFoundError):
        store.stream("nope/missing.tif")  # raised on the call, before iteration
    assert not store.exists("nope/missing.tif")
    store.delete("nope/missing.tif")  # idempotent: no error


def test_delete_is_idempotent(store: ObjectStore) -> None:
    store.put("d/x", b"1")
    store.put("d/y", b"2")
    store.delete("d/x")
    store.delete("d/x")
    assert not store.exists("d/x")
    assert [info.key for info in store.list()] == ["d/y"]
    with pytest.raises(NotFoundError):
        store.get("d/x")


def test_list_by_string_prefix(store: ObjectStore) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)
    for key, size in [("b/2.tif", 2), ("a/1.tif", 1), ("a/sub/3.tif", 3), ("ab/4.tif", 4)]:
        store.put(key, b"x" * size)

    everything = store.list()
    assert [(i.key, i.size) for i in everything] == [
        ("a/1.tif", 1),
        ("a/sub/3.tif", 3),
        ("ab/4.tif", 4),
        ("b/2.tif", 2),
    ]
    for info in everything:
        assert info.modified.tzinfo is not None
        assert before < info.modified < datetime.now(UTC) + timedelta(minutes=5)
    assert [i.key for i in store.list("a/")] == ["a/1.tif", "a/sub/3.tif"]
    assert [i.key for i in store.list("a")] == ["a/1.tif", "a/sub/3.tif", "ab/4.tif"]
    assert [i.key for i in store.list("a/sub/3")] == ["a/sub/3.tif"]
    assert store.list("zzz/") == []


def test_unicode_keys(store: ObjectStore) -> None:
    key = "données/été 2024/b04 (copy).tif"
    store.put(key, b"\x01\x02")
    assert store.get(key) == b"\x01\x02"
    assert [i.key for i in store.list("données/")] == [key]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_rejected(store: ObjectStore, key: str) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.put(key, b"evil"),
        lambda: store.get(key),
        lambda: store.stream(key),
        lambda: store.delete(key),
        lambda: store.exists(key),
        lambda: store.presigned_url(key),
        lambda: store.gdal_path(key),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError):
            call()
    assert store.list() == []


@pytest.mark.parametrize("prefix", ["../", "/abs", "a/../b", "a\\b", "a\x00"])
def test_bad_list_prefixes_are_rejected(store: ObjectStore, prefix: str) -> None:
    with pytest.raises(InvalidInputError):
        store.list(prefix)


def test_put_rejects_what_is_not_bytes(store: ObjectStore) -> None:
    with pytest.raises(InvalidInputError):
        store.put("text", "a str is not bytes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        store.put("missing-source", Path("/nonexistent/source.bin"))
    assert store.list() == []


def test_presigned_url_downloads_the_object(store: ObjectStore) -> None:
    data = _payload(5000, seed=4)
    store.put("share/me.tif", data)
    url = store.presigned_url("share/me.tif", expires_s=60)
    if isinstance(store, LocalStore):
        assert url is None  # the API streams local objects itself
        return
    assert url is not None
    assert "X-Amz-Signature=" in url
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == data


def test_presigned_url_expiry_is_bounded(store: ObjectStore) -> None:
    for expires in (0, -1, 8 * 24 * 3600):
        with pytest.raises(InvalidInputError):
            store.presigned_url("k", expires_s=expires)


def _write_geotiff(path: Path) -> np.ndarray:
    """A small 2-band uint16 GeoTIFF with distinct values in every pixel."""
    pixels = np.arange(2 * 24 * 32, dtype=np.uint16).reshape(2, 24, 32) * 7
    profile = {
        "driver": "GTiff",
        "width": 32,
        "height": 24,
        "count": 2,
        "dtype": "uint16",
        "crs": "EPSG:32633",
        "transform": Affine(10, 0, 500_000, 0, -10, 4_000_000),  # from_origin warns (affine 3)
        "tiled": True,
        "blockxsize": 16,
        "blockysize": 16,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(pixels)
    return pixels


def test_gdal_path_opens_the_stored_geotiff(store: ObjectStore, tmp_path: Path) -> None:
    pixels = _write_geotiff(tmp_path / "two_band_tiled.tif")
    store.put("rasters/two_band_tiled.tif", tmp_path / "two_band_tiled.tif")
    loc = store.gdal_path("rasters/two_band_tiled.tif")
    assert isinstance(loc, GdalLocation)

    with loc.env(), rasterio.open(loc.path, driver="GTiff") as src:
        assert (src.count, src.width, src.height) == (2, 32, 24)
        assert src.crs.to_epsg() == 32633
        np.testing.assert_array_equal(src.read(), pixels)
        np.testing.assert_array_equal(
            src.read(2, window=((8, 16), (16, 32))), pixels[1, 8:16, 16:32]
        )


def test_gdal_location_for_local_store(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    pixels = _write_geotiff(tmp_path / "src.tif")
    store.put("a/b.tif", tmp_path / "src.tif")
    loc = store.gdal_path("a/b.tif")
    assert loc.path == str(tmp_path.resolve() / "a" / "b.tif")
    assert dict(loc.options) == {}
    with rasterio.Env(**loc.options), rasterio.open(loc.path) as src:  # plain options suffice
        np.testing.assert_array_equal(src.read(), pixels)


# --------------------------------------------------------------------------- LocalStore only


def _leftovers(root: Path) -> list[str]:
    return [p.name for p in root.rglob("*") if p.name.startswith(".terrascan-tmp-")]


def test_local_store_never_leaves_its_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "file-link.txt").symlink_to(outside / "secret.txt")
    store = LocalStore(root)

    for key in ("link/secret.txt", "file-link.txt", "link/new/x.bin"):
        with pytest.raises(InvalidInputError):
            store.get(key)
        with pytest.raises(InvalidInputError):
            store.put(key, b"overwritten")
        with pytest.raises(InvalidInputError):
            store.delete(key)
        with pytest.raises(InvalidInputError):
            store.gdal_path(key)
    assert (outside / "secret.txt").read_bytes() == b"secret"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert store.list() == []  # symlinks are not objects
    assert store.list("link/") == []


def test_local_symlink_loop_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    store = LocalStore(tmp_path)
    with pytest.raises(InvalidInputError):
        store.get("loop/x")


def test_local_write_failure_keeps_the_old_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(tmp_path)
    store.put("scene.tif", b"old")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(StorageError, match="no space left"):
        store.put("scene.tif", _payload(300_000))
    monkeypatch.undo()

    assert store.get("scene.tif") == b"old"
    assert _leftovers(tmp_path) == []


def test_local_failing_source_leaves_nothing_behind(tmp_path: Path) -> None:
    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            if self.sent > 100_000:
                raise ConnectionResetError(errno.ECONNRESET, "client went away")
            buffer[:1000] = b"z" * 1000
            self.sent += 1000
            return 1000

    store = LocalStore(tmp_path)
    with pytest.raises(StorageError):
        store.put("upload.tif", Broken())
    assert not store.exists("upload.tif")
    assert store.list() == []
    assert _leftovers(tmp_path) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux mount namespaces")
def test_local_disk_full_for_real(tmp_path: Path) -> None:
    """Fill a 256 KiB tmpfs in a private mount namespace: a clean error, no partial files."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    script = textwrap.dedent(
        f"""
        import json, os, sys
        from pathlib import Path
        from terrascan.errors import StorageError
        from terrascan.io.storage import LocalStore
        root = Path({str(mount_point)!r})
        store = LocalStore(root)
        store.put("small.bin", b"s" * 1000)
        try:
            store.put("big.bin", os.urandom(1024 * 1024))
            error = None
        except StorageError as exc:
            error = str(exc)
        print(json.dumps({{
            "error": error,
            "files": sorted(p.name for p in root.rglob("*")),
            "small": store.get("small.bin") == b"s" * 1000,
        }}))
        """
    )
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare is not available")
    shell = 'mount -t tmpfs -o size=256k tmpfs "$1" && exec "$2" -c "$3"'
    args = [unshare, "--map-root-user", "--mount", "sh", "-c", shell, "sh"]
    proc = subprocess.run(
        [*args, str(mount_point), sys.executable, script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0 and "mount" in proc.stderr + proc.stdout:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()[:200]}")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result == {"error": result["error"], "files": ["small.bin"], "small": True}
    assert "no space left" in result["error"]


def test_local_listing_skips_temporary_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("a/real.tif", b"1")
    (tmp_path / "a" / ".terrascan-tmp-deadbeef").write_bytes(b"half written")
    assert [i.key for i in store.list()] == ["a/real.tif"]


def test_local_listing_skips_objects_deleted_while_it_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job's clean-up deletes its parts while another thread lists the job's objects: the
    listing leaves out what vanished instead of failing."""
    store = LocalStore(tmp_path)
    for name in ("1", "2", "3"):
        store.put(f"a/{name}", name.encode())
    real_scandir = os.scandir

    def scandir_then_delete(path: Any) -> Iterator[os.DirEntry[str]]:
        entries = list(real_scandir(path))
        for entry in entries:
            if entry.name == "2":
                os.unlink(entry.path)  # between reading the folder and stat-ing its entries
        return iter(entries)

    monkeypatch.setattr("terrascan.io.storage.os.scandir", scandir_then_delete)
    assert [i.key for i in store.list("a/")] == ["a/1", "a/3"]


def test_local_key_conflicts_with_a_folder_or_file(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("a/b", b"1")
    with pytest.raises(StorageError):
        store.put("a", b"a folder is in the way")
    store.put("f", b"file")
    with pytest.raises(StorageError):
        store.put("f/g", b"a file is in the way")
    with pytest.raises(NotFoundError):
        store.get("a")  # a folder is not an object
    with pytest.raises(NotFoundError):
        store.get("f/g")
    assert not store.exists("a")
    assert _leftovers(tmp_path) == []


def test_local_check_and_lazy_root(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "not" / "yet")
    assert store.list() == []  # a missing root is an empty store
    with pytest.raises(NotFoundError):
        store.get("x")
    store.check()  # creates the root
    assert (tmp_path / "not" / "yet").is_dir()
    assert list((tmp_path / "not" / "yet").iterdir()) == []  # the probe is cleaned up

    (tmp_path / "a-file").write_bytes(b"")
    with pytest.raises(StorageError):
        LocalStore(tmp_path / "a-file" / "root").check()


def test_local_objects_get_normal_permissions(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("p.bin", b"1")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "p.bin").stat().st_mode & 0o777 == 0o666 & ~umask


# --------------------------------------------------------------------------- S3Store only


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung store)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def _s3_store_at(port: int, **options: object) -> S3Store:
    return S3Store(
        "bucket",
        endpoint_url=f"http://127.0.0.1:{port}",
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
        **options,  # type: ignore[arg-type]
    )


def test_s3_closed_port_fails_fast() -> None:
    store = _s3_store_at(_closed_port())
    for call in (store.check, lambda: store.get("a.tif"), lambda: store.put("a.tif", b"1")):
        started = time.monotonic()
        with pytest.raises(StorageError):
            call()
        assert time.monotonic() - started < 10


def test_s3_hung_server_times_out(silent_server: int) -> None:
    store = _s3_store_at(silent_server, read_timeout_s=1.0, max_attempts=2)
    started = time.monotonic()
    with pytest.raises(StorageError):
        store.get("a.tif")
    assert time.monotonic() - started < 8


@pytest.mark.s3
def test_s3_missing_bucket_is_a_storage_error(moto_s3: MotoS3) -> None:
    store = S3Store(
        "no-such-bucket",
        endpoint_url=moto_s3.endpoint_url,
        region=moto_s3.region,
        access_key_id=moto_s3.access_key_id,
        secret_access_key=moto_s3.secret_access_key,
    )
    with pytest.raises(StorageError, match="does not exist"):
        store.check()
    with pytest.raises(StorageError):
        store.get("a.tif")


@pytest.mark.s3
def test_s3_prefix_isolates_stores(moto_s3: MotoS3) -> None:
    one, two = moto_s3.store("iso/one"), moto_s3.store("iso/one-two")
    one.put("k", b"1")
    two.put("k", b"2")
    assert [i.key for i in one.list()] == ["k"]
    assert one.get("k") == b"1"
    keys = moto_s3.client().list_objects_v2(Bucket=moto_s3.bucket, Prefix="iso/")["Contents"]
    assert sorted(item["Key"] for item in keys) == ["iso/one-two/k", "iso/one/k"]


@pytest.mark.s3
def test_s3_store_survives_pickling(moto_s3: MotoS3) -> None:
    store = moto_s3.store("pickled")
    store.put("k", b"v")
    clone = pickle.loads(pickle.dumps(store))
    assert clone.get("k") == b"v"


def test_s3_gdal_options() -> None:
    store = S3Store(
        "b",
        "pre/fix/",
        endpoint_url="http://minio.local:9000/",
        region="eu-central-1",
        access_key_id="AKID",
        secret_access_key="s3cr3t-value",
        requester_pays=True,
    )
    loc = store.gdal_path("x/y.tif")
    assert loc.path == "/vsis3/b/pre/fix/x/y.tif"
    assert dict(loc.options) == {
        "AWS_S3_ENDPOINT": "minio.local:9000",
        "AWS_HTTPS": "NO",
        "AWS_VIRTUAL_HOSTING": "FALSE",
        "AWS_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "AKID",
        "AWS_SECRET_ACCESS_KEY": "s3cr3t-value",
        "AWS_REQUEST_PAYER": "requester",
    }
    assert "s3cr3t" not in repr(loc) and "s3cr3t" not in repr(store)
    kwargs = loc.env_kwargs()
    assert "AWS_ACCESS_KEY_ID" not in kwargs  # rasterio refuses them as plain options
    assert kwargs["session"].get_credential_options()["AWS_SECRET_ACCESS_KEY"] == "s3cr3t-value"

    assert store.presigned_url("x/y.tif") is None  # a browser cannot send the payer header

    aws = S3Store("b", region="us-west-2").gdal_path("k.tif")
    assert aws.path == "/vsis3/b/k.tif"
    assert dict(aws.options) == {"AWS_REGION": "us-west-2"}
    https = S3Store("b", endpoint_url="https://s3.example.org").gdal_path("k.tif")
    assert https.options["AWS_HTTPS"] == "YES"
    assert https.options["AWS_S3_ENDPOINT"] == "s3.example.org"


def test_s3_store_validates_its_settings() -> None:
    with pytest.raises(InvalidInputError):
        S3Store("")
    with pytest.raises(InvalidInputError):
        S3Store("a/b")
    with pytest.raises(InvalidInputError):
        S3Store("b", "../up")
    with pytest.raises(InvalidInputError):
        S3Store("b", endpoint_url="ftp://host")
    with pytest.raises(InvalidInputError):
        S3Store("b", access_key_id="only-half")
    with pytest.raises(InvalidInputError):
        S3Store("b", "p" * 1000).gdal_path("k" * 100)


# --------------------------------------------------------------------------- keys, factory


@pytest.mark.parametrize("key", ["a", "a/b/c.tif", "é/ü ß.tif", "x" * 255, ".hidden/.zattrs"])
def test_good_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys(key: str) -> None:
    with pytest.raises(InvalidInputError):
        validate_key(key)


def test_open_store(tmp_path: Path) -> None:
    local = open_store(str(tmp_path))
    assert isinstance(local, LocalStore) and local.root == tmp_path.resolve()
    assert isinstance(open_store(tmp_path), LocalStore)
    via_url = open_store(tmp_path.as_uri() + "/sub%20dir", endpoint_url="http://ignored")
    assert isinstance(via_url, LocalStore)
    assert via_url.root == tmp_path.resolve() / "sub dir"

    s3 = open_store("s3://bucket/some/prefix/", region="eu-west-1", requester_pays=True)
    assert isinstance(s3, S3Store)
    assert (s3.bucket, s3.prefix, s3.region, s3.requester_pays) == (
        "bucket",
        "some/prefix",
        "eu-west-1",
        True,
    )
    assert isinstance(open_store("s3://bucket"), S3Store)


@pytest.mark.parametrize(
    "url", ["", "s3://", "s3:///prefix", "http://host/x", "gs://b/p", "file://otherhost/x"]
)
def test_open_store_rejects(url: str) -> None:
    with pytest.raises(InvalidInputError):
        open_store(url)


def test_open_store_rejects_unknown_options(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="endpiont_url"):
        open_store(str(tmp_path), endpiont_url="http://typo")


def test_boto3_is_imported_lazily(tmp_path: Path) -> None:
    code = (
        "import sys; from terrascan.io.storage import open_store; "
        f"s = open_store({str(tmp_path)!r}); s.put('k', b'v'); "
        "open_store('s3://bucket/prefix').gdal_path('k.tif'); "
        "assert not [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')], 'eager'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
