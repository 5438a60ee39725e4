"""Object storage: one interface over a local directory and S3 (or any S3-compatible store).

Every part of TerraScan that keeps bytes (uploads, COGs, exports, model files) goes through
an :class:`ObjectStore`. Keys are relative, ``/``-separated names checked by
:func:`validate_key`; the store decides where they live. Two implementations share one
behaviour, and one test suite runs against both:

- :class:`LocalStore` keeps objects as files under a root directory (the embedded mode).
  Writes are atomic (a temporary file in the same folder, then :func:`os.replace`), and no
  key, symlink or race can make it read or write outside the root.
- :class:`S3Store` keeps them in a bucket under a prefix through boto3, which is imported
  only when an S3 store is first used (it is the optional extra ``terrascan[s3]``).

Rasters are read by GDAL straight from the store: :meth:`ObjectStore.gdal_path` returns a
:class:`GdalLocation` (a file path, or ``/vsis3/...`` and the GDAL options it needs)::

    loc = store.gdal_path("scenes/s2a/b04.tif")
    with loc.env(), rasterio.open(loc.path) as src:
        ...

Errors: a missing object raises :class:`~terrascan.errors.NotFoundError`, a bad key
:class:`~terrascan.errors.InvalidInputError`, and a store that fails or cannot be reached
:class:`~terrascan.errors.StorageError` (after bounded timeouts and retries, never a hang).
Messages name keys, never local file system paths.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import secrets
import shutil
import threading
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePath
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeAlias, runtime_checkable
from urllib.parse import unquote, urlsplit

from terrascan.errors import ConfigurationError, InvalidInputError, NotFoundError, StorageError

if TYPE_CHECKING:
    import rasterio

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_KEY_BYTES",
    "GdalLocation",
    "LocalStore",
    "MiB",
    "ObjectInfo",
    "ObjectStore",
    "PutData",
    "S3Store",
    "SupportsRead",
    "open_store",
    "validate_key",
]

MiB: Final = 1024 * 1024
#: Default size of the chunks :meth:`ObjectStore.stream` yields.
DEFAULT_CHUNK_SIZE: Final = MiB
#: S3's limit on a whole key, in UTF-8 bytes; a local store applies the same limit.
MAX_KEY_BYTES: Final = 1024
#: Longest key segment (a file name on almost every file system), in UTF-8 bytes.
MAX_SEGMENT_BYTES: Final = 255
#: Longest lifetime S3 accepts for a presigned URL (7 days).
MAX_PRESIGN_SECONDS: Final = 7 * 24 * 3600
#: Name prefix of LocalStore's temporary files; keys may not use it, listings skip it.
_TMP_PREFIX: Final = ".terrascan-tmp-"
_CREDENTIAL_OPTIONS: Final = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


class SupportsRead(Protocol):
    """A binary stream: an open file, ``io.BytesIO``, an upload's spooled file, ..."""

    def read(self, size: int = -1, /) -> bytes: ...


#: What :meth:`ObjectStore.put` accepts: bytes, a binary stream (read from its current
#: position to its end; not closed) or the path of a local file (streamed, not loaded).
PutData: TypeAlias = bytes | bytearray | memoryview | SupportsRead | PurePath


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One stored object, as :meth:`ObjectStore.list` reports it."""

    key: str
    size: int
    modified: datetime  # timezone-aware, UTC


@dataclass(frozen=True, slots=True)
class GdalLocation:
    """Where GDAL finds an object: ``path`` to open and the GDAL config ``options`` it needs.

    ``options`` holds every GDAL configuration option, credentials included, for any GDAL
    front end. rasterio refuses AWS credentials given as plain options (``rasterio.Env(
    AWS_ACCESS_KEY_ID=...)`` raises ``EnvError``), so with rasterio use :meth:`env` (or
    ``rasterio.Env(**loc.env_kwargs())``, the form titiler's ``environment_dependency``
    takes), which hands the credentials over through a rasterio ``AWSSession``.
    """

    path: str
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __repr__(self) -> str:  # never print secrets into logs
        shown = {k: ("***" if k in _CREDENTIAL_OPTIONS else v) for k, v in self.options.items()}
        return f"GdalLocation(path={self.path!r}, options={shown!r})"

    def env_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``rasterio.Env``: plain options plus an AWS session if needed."""
        plain: dict[str, Any] = {
            k: v for k, v in self.options.items() if k not in _CREDENTIAL_OPTIONS
        }
        if "AWS_ACCESS_KEY_ID" in self.options:
            from rasterio.session import AWSSession  # GDAL loads late

            plain["session"] = AWSSession(
                aws_access_key_id=self.options["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=self.options.get("AWS_SECRET_ACCESS_KEY"),
                aws_session_token=self.options.get("AWS_SESSION_TOKEN"),
                region_name=self.options.get("AWS_REGION"),
                endpoint_url=self.options.get("AWS_S3_ENDPOINT"),
                requester_pays=self.options.get("AWS_REQUEST_PAYER") == "requester",
            )
        return plain

    def env(self) -> rasterio.Env:
        """A ``rasterio.Env`` to open :attr:`path` in: ``with loc.env(): rasterio.open(...)``."""
        import rasterio  # GDAL loads late, after terrascan's defaults

        return rasterio.Env(**self.env_kwargs())


def forget_remote(path: str) -> bool:
    """Make GDAL forget what it cached about the remote object ``path`` (``/vsis3/...``).

    GDAL's network file systems remember a failed read: after the object store dropped a
    connection, the object stays "does not exist" or truncated for this process until the
    cache is cleared, so a store that recovers would not be read again. rasterio wraps no
    function for it; this calls GDAL's ``VSICurlPartialClearCache`` in the library rasterio
    loaded. Returns whether it could."""
    function = _gdal_function("VSICurlPartialClearCache")
    if function is None:
        return False
    function(path.encode())
    return True


def _gdal_function(name: str) -> Any:
    import ctypes
    import ctypes.util

    import rasterio  # GDAL loads late, after terrascan's defaults

    package = Path(rasterio.__file__).parent
    candidates = sorted(package.parent.glob("rasterio.libs/libgdal*.so*"))  # the wheel's copy
    candidates += [Path(found)] if (found := ctypes.util.find_library("gdal")) else []
    for candidate in candidates:
        try:
            library = ctypes.CDLL(str(candidate))  # already loaded: the same handle
            function = getattr(library, name)
        except (OSError, AttributeError):
            continue
        function.argtypes = [ctypes.c_char_p]
        function.restype = None
        return function
    return None


@runtime_checkable
class ObjectStore(Protocol):
    """Bytes by key. Implemented by :class:`LocalStore` and :class:`S3Store`."""

    def put(self, key: str, data: PutData) -> None:
        """Store ``data`` under ``key``, replacing any object there, all or nothing."""
        ...

    def get(self, key: str) -> bytes:
        """Return the whole object; :class:`NotFoundError` if there is none."""
        ...

    def stream(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        """Return an iterator over the object's bytes in chunks of at most ``chunk_size``.

        The object is opened before this returns, so a missing key raises
        :class:`NotFoundError` here, not at the first ``next()``.
        """
        ...

    def delete(self, key: str) -> None:
        """Remove the object; removing one that does not exist is not an error."""
        ...

    def list(self, prefix: str = "") -> builtins.list[ObjectInfo]:
        """Every object whose key starts with ``prefix`` (a plain string prefix), by key."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        ...

    def presigned_url(self, key: str, expires_s: int = 3600) -> str | None:
        """A URL that downloads the object without credentials, or None (then stream it)."""
        ...

    def gdal_path(self, key: str) -> GdalLocation:
        """Where GDAL/rasterio should open the object, and the options it needs."""
        ...

    def check(self) -> None:
        """Health probe: return if the store is usable, else raise :class:`StorageError`."""
        ...


# --------------------------------------------------------------------------- keys


def validate_key(key: str) -> str:
    """Return ``key`` if it is a valid object key, else raise :class:`InvalidInputError`.

    A key is a relative name of ``/``-separated segments: not empty, no leading or trailing
    ``/``, no empty, ``.`` or ``..`` segments, no backslash, no control characters (NUL
    included), at most :data:`MAX_KEY_BYTES` UTF-8 bytes and :data:`MAX_SEGMENT_BYTES` per
    segment.
    """
    _check_name(key, what="key", allow_empty=False)
    if key.endswith("/"):
        raise InvalidInputError("object key must not end with '/'")
    return key


def _validate_prefix(prefix: str) -> str:
    """Like :func:`validate_key`, but empty and a trailing ``/`` are allowed."""
    _check_name(prefix.removesuffix("/"), what="prefix", allow_empty=True)
    return prefix


def _check_name(name: str, *, what: str, allow_empty: bool) -> None:
    if not isinstance(name, str):
        raise InvalidInputError(f"object {what} must be a string")
    if not name:
        if allow_empty:
            return
        raise InvalidInputError(f"object {what} must not be empty")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidInputError(f"object {what} is longer than {MAX_KEY_BYTES} bytes")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name):
        raise InvalidInputError(f"object {what} contains a control character")
    if "\\" in name:
        raise InvalidInputError(f"object {what} contains a backslash; use '/'")
    if name.startswith("/"):
        raise InvalidInputError(f"object {what} must be relative (no leading '/')")
    for segment in name.split("/"):
        _check_segment(segment, what)


def _check_segment(segment: str, what: str) -> None:
    if segment in ("", ".", ".."):
        raise InvalidInputError(f"object {what} has an empty, '.' or '..' segment")
    if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
        raise InvalidInputError(f"object {what} has a segment over {MAX_SEGMENT_BYTES} bytes")
    if segment.startswith(_TMP_PREFIX):
        raise InvalidInputError(f"object {what} uses the reserved prefix {_TMP_PREFIX!r}")


# --------------------------------------------------------------------------- local


class LocalStore(ObjectStore):
    """Objects as files under ``root``: key ``a/b.tif`` is the file ``root/a/b.tif``.

    The root is created on the first write (or by :meth:`check`). Nothing outside the
    resolved root is ever read or written, symlinks included. Listings skip symlinks and
    LocalStore's own temporary files.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def put(self, key: str, data: PutData) -> None:
        self._path(key)  # checks where the key leads; a symlink named by it is replaced
        target = self.root / key
        parent = target.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the folder for {key!r}: {exc.strerror}") from exc
        self._inside(parent.resolve(), key)  # re-check: the tree may have changed meanwhile
        with _Source(data) as source:
            _atomic_write(target, source, key)

    def get(self, key: str) -> bytes:
        with self._open(key) as fh:
            try:
                return fh.read()
            except OSError as exc:
                raise StorageError(f"cannot read {key!r}: {exc.strerror}") from exc

    def stream(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        _check_chunk_size(chunk_size)
        return self._chunks(self._open(key), key, chunk_size)

    def delete(self, key: str) -> None:
        self._path(key)  # checks where the key leads; a symlink named by it is removed itself
        try:
            (self.root / key).unlink(missing_ok=True)
        except (IsADirectoryError, NotADirectoryError):
            return  # a "folder" or a file in the way: no object by that key
        except OSError as exc:
            raise StorageError(f"cannot delete {key!r}: {exc.strerror}") from exc

    def list(self, prefix: str = "") -> builtins.list[ObjectInfo]:
        _validate_prefix(prefix)
        # Walk only the deepest folder the prefix names, then filter by the string prefix.
        folder = prefix.rpartition("/")[0]
        start = self.root / folder if folder else self.root
        if not start.resolve().is_relative_to(self.root):
            return []
        try:
            found = [info for info in self._walk(start) if info.key.startswith(prefix)]
        except OSError as exc:
            raise StorageError(f"cannot list {prefix!r}: {exc.strerror}") from exc
        return sorted(found, key=lambda info: info.key)

    def exists(self, key: str) -> bool:
        path = self._path(key)
        try:
            return path.is_file()
        except OSError as exc:
            raise StorageError(f"cannot look up {key!r}: {exc.strerror}") from exc

    def presigned_url(self, key: str, expires_s: int = 3600) -> str | None:
        """Always None: a local object has no URL; the API streams it instead."""
        validate_key(key)
        _check_expiry(expires_s)
        return None

    def gdal_path(self, key: str) -> GdalLocation:
        return GdalLocation(str(self._path(key)))

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f"{_TMP_PREFIX}probe-{secrets.token_hex(8)}"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise StorageError(f"local store is not writable: {exc.strerror}") from exc

    # helpers

    def _path(self, key: str) -> Path:
        """The resolved file path for ``key``; InvalidInputError if it leaves the root."""
        validate_key(key)
        try:
            path = (self.root / key).resolve()  # follows any symlinks already on the way
        except (OSError, RuntimeError) as exc:  # a symlink loop
            raise InvalidInputError(f"object key {key!r} cannot be resolved") from exc
        self._inside(path, key)
        return path

    def _inside(self, path: Path, key: str) -> None:
        if path != self.root and not path.is_relative_to(self.root):
            raise InvalidInputError(f"object key {key!r} leads outside the store")

    def _open(self, key: str) -> io.BufferedReader:
        path = self._path(key)
        try:
            return path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise NotFoundError(f"no object {key!r}") from exc
        except OSError as exc:
            raise StorageError(f"cannot open {key!r}: {exc.strerror}") from exc

    @staticmethod
    def _chunks(fh: io.BufferedReader, key: str, chunk_size: int) -> Iterator[bytes]:
        with fh:
            while True:
                try:
                    chunk = fh.read(chunk_size)
                except OSError as exc:
                    raise StorageError(f"cannot read {key!r}: {exc.strerror}") from exc
                if not chunk:
                    return
                yield chunk

    def _walk(self, start: Path) -> Iterator[ObjectInfo]:
        try:
            entries = list(os.scandir(start))
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            if entry.name.startswith(_TMP_PREFIX) or entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                try:
                    stat = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # deleted while we listed (a job's clean-up): not there any more
                key = Path(entry.path).relative_to(self.root).as_posix()
                modified = datetime.fromtimestamp(stat.st_mtime, tz=UTC)
                yield ObjectInfo(key=key, size=stat.st_size, modified=modified)


class _Source:
    """``put``'s input as one readable stream, closed afterwards only if we opened it."""

    def __init__(self, data: PutData) -> None:
        self._owned: io.BufferedReader | None = None
        if isinstance(data, bytes | bytearray | memoryview):
            self.stream: SupportsRead = io.BytesIO(data)
        elif isinstance(data, PurePath):
            try:
                self._owned = open(data, "rb")  # noqa: SIM115 - closed in __exit__
            except OSError as exc:
                raise InvalidInputError(f"cannot read the source file: {exc.strerror}") from exc
            self.stream = self._owned
        elif callable(getattr(data, "read", None)):
            self.stream = data
        else:
            raise InvalidInputError(
                f"put() takes bytes, a binary stream or a Path, not {type(data).__name__}"
            )

    def __enter__(self) -> SupportsRead:
        return self.stream

    def __exit__(self, *exc_info: object) -> None:
        if self._owned is not None:
            self._owned.close()


def _atomic_write(target: Path, source: SupportsRead, key: str) -> None:
    """Write ``source`` to a temporary file beside ``target``, fsync it, then rename it over."""
    tmp = target.with_name(f"{_TMP_PREFIX}{secrets.token_hex(8)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(tmp, flags, 0o666)  # the umask applies, as for any new file
    except OSError as exc:
        raise StorageError(f"cannot write {key!r}: {exc.strerror}") from exc
    try:
        with open(fd, "wb") as out:
            shutil.copyfileobj(source, out, DEFAULT_CHUNK_SIZE)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, IsADirectoryError):
            raise StorageError(f"cannot write {key!r}: a folder has that name") from exc
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise StorageError(f"cannot write {key!r}: no space left on the device") from exc
        if isinstance(exc, OSError):
            raise StorageError(f"cannot write {key!r}: {exc.strerror or exc}") from exc
        raise


def _check_chunk_size(chunk_size: int) -> None:
    if not isinstance(chunk_size, int) or chunk_size <= 0:
        raise InvalidInputError("chunk_size must be a positive number of bytes")


def _check_expiry(expires_s: int) -> None:
    if not isinstance(expires_s, int) or not 1 <= expires_s <= MAX_PRESIGN_SECONDS:
        raise InvalidInputError(f"expires_s must be between 1 and {MAX_PRESIGN_SECONDS}")


# --------------------------------------------------------------------------- S3

_MISSING_CODES: Final = frozenset({"404", "NoSuchKey", "NotFound"})


class S3Store(ObjectStore):
    """Objects in an S3 bucket under ``prefix``: key ``a/b.tif`` is ``s3://bucket/prefix/a/b.tif``.

    ``endpoint_url`` points at an S3-compatible server (MinIO, moto, Ceph, ...); path-style
    addressing is then used. Credentials left as None come from boto3's usual chain for the
    store itself and from GDAL's own chain for :meth:`gdal_path`. Every call has connect and
    read timeouts and at most ``max_attempts`` tries; a failure raises :class:`StorageError`.
    Objects bigger than ``multipart_threshold`` are uploaded in parts of
    ``multipart_chunksize``.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        requester_pays: bool = False,
        *,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        max_attempts: int = 3,
        multipart_threshold: int = 64 * MiB,
        multipart_chunksize: int = 16 * MiB,
    ) -> None:
        if not bucket or "/" in bucket or not bucket.isprintable() or len(bucket) > 255:
            raise InvalidInputError("S3 bucket name is missing or invalid")
        if endpoint_url is not None and urlsplit(endpoint_url).scheme not in ("http", "https"):
            raise InvalidInputError("S3 endpoint_url must be an http:// or https:// URL")
        if (access_key_id is None) != (secret_access_key is None):
            raise InvalidInputError("give both access_key_id and secret_access_key, or neither")
        self.bucket = bucket
        self.prefix = _validate_prefix(prefix.strip("/")).strip("/")
        self.endpoint_url = endpoint_url
        self.region = region
        self.requester_pays = requester_pays
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._timeouts = (connect_timeout_s, read_timeout_s, max_attempts)
        self._multipart = (multipart_threshold, multipart_chunksize)
        self._lock = threading.Lock()
        self._client_obj: Any = None

    def __repr__(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}"
        return f"S3Store({where!r}, endpoint_url={self.endpoint_url!r})"

    def __getstate__(self) -> dict[str, Any]:  # picklable for worker processes
        state = self.__dict__.copy()
        state.update(_lock=None, _client_obj=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def put(self, key: str, data: PutData) -> None:
        s3_key = self._key(key)
        extra = {"RequestPayer": "requester"} if self.requester_pays else {}
        with _Source(data) as source, self._errors(key):
            self._client.upload_fileobj(
                source, self.bucket, s3_key, ExtraArgs=extra, Config=self._transfer_config()
            )

    def get(self, key: str) -> bytes:
        body = self._get_object(key)
        try:
            with self._errors(key):
                data: bytes = body.read()
                return data
        finally:
            body.close()

    def stream(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        _check_chunk_size(chunk_size)
        return self._chunks(self._get_object(key), key, chunk_size)

    def delete(self, key: str) -> None:
        with self._errors(key):
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key), **self._payer())

    def list(self, prefix: str = "") -> builtins.list[ObjectInfo]:
        _validate_prefix(prefix)
        base = f"{self.prefix}/" if self.prefix else ""
        found: builtins.list[ObjectInfo] = []
        with self._errors(prefix):
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base + prefix, **self._payer()
            )
            for page in pages:
                for item in page.get("Contents", ()):
                    key = item["Key"].removeprefix(base)
                    if key and not key.endswith("/"):  # skip "folder" markers
                        found.append(ObjectInfo(key, int(item["Size"]), item["LastModified"]))
        return sorted(found, key=lambda info: info.key)

    def exists(self, key: str) -> bool:
        try:
            with self._errors(key):
                self._client.head_object(Bucket=self.bucket, Key=self._key(key), **self._payer())
        except NotFoundError:
            return False
        return True

    def presigned_url(self, key: str, expires_s: int = 3600) -> str | None:
        """A presigned GET URL valid for ``expires_s`` seconds (the object is not checked).

        None for a requester-pays bucket: its signature would cover an
        ``x-amz-request-payer`` header that a browser following the URL does not send (and
        the store's owner would pay for every download), so the API streams those objects.
        """
        _check_expiry(expires_s)
        params = {"Bucket": self.bucket, "Key": self._key(key)}
        if self.requester_pays:
            return None
        with self._errors(key):
            url: str = self._client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires_s
            )
            return url

    def gdal_path(self, key: str) -> GdalLocation:
        options: dict[str, str] = {}
        if self.endpoint_url:
            parts = urlsplit(self.endpoint_url)
            options["AWS_S3_ENDPOINT"] = parts.netloc + parts.path.rstrip("/")
            options["AWS_HTTPS"] = "NO" if parts.scheme == "http" else "YES"
            options["AWS_VIRTUAL_HOSTING"] = "FALSE"
        if self.region:
            options["AWS_REGION"] = self.region
        if self._access_key_id and self._secret_access_key:
            options["AWS_ACCESS_KEY_ID"] = self._access_key_id
            options["AWS_SECRET_ACCESS_KEY"] = self._secret_access_key
        if self.requester_pays:
            options["AWS_REQUEST_PAYER"] = "requester"
        path = f"/vsis3/{self.bucket}/{self._key(key)}"
        return GdalLocation(path, MappingProxyType(options))

    def check(self) -> None:
        with self._errors(None):
            self._client.head_bucket(Bucket=self.bucket)

    # helpers

    def _key(self, key: str) -> str:
        validate_key(key)
        full = f"{self.prefix}/{key}" if self.prefix else key
        if len(full.encode("utf-8")) > MAX_KEY_BYTES:
            raise InvalidInputError(
                f"object key with the store prefix exceeds {MAX_KEY_BYTES} bytes"
            )
        return full

    def _payer(self) -> dict[str, str]:
        return {"RequestPayer": "requester"} if self.requester_pays else {}

    def _get_object(self, key: str) -> Any:
        with self._errors(key):
            response = self._client.get_object(
                Bucket=self.bucket, Key=self._key(key), **self._payer()
            )
            return response["Body"]

    def _chunks(self, body: Any, key: str, chunk_size: int) -> Iterator[bytes]:
        try:
            with self._errors(key):
                yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    @property
    def _client(self) -> Any:
        with self._lock:
            if self._client_obj is None:
                self._client_obj = self._make_client()
            return self._client_obj

    def _make_client(self) -> Any:
        try:
            import boto3  # optional extra, imported on first use
            from botocore.config import Config
        except ImportError as exc:
            raise ConfigurationError("S3 storage needs boto3: install terrascan[s3]") from exc
        connect_timeout, read_timeout, max_attempts = self._timeouts
        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            s3={"addressing_style": "path"} if self.endpoint_url else {},
            signature_version="s3v4",
        )
        session = boto3.session.Session()  # its own session: the default one is not thread-safe
        return session.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self._access_key_id,
            aws_secret_access_key=self._secret_access_key,
            config=config,
        )

    def _transfer_config(self) -> Any:
        from boto3.s3.transfer import TransferConfig  # optional extra

        threshold, chunksize = self._multipart
        return TransferConfig(
            multipart_threshold=threshold, multipart_chunksize=chunksize, max_concurrency=4
        )

    def _errors(self, key: str | None) -> _S3Errors:
        return _S3Errors(self.bucket, key)


class _S3Errors:
    """Translate boto3/botocore exceptions raised inside the block into TerraScan's errors."""

    def __init__(self, bucket: str, key: str | None) -> None:
        self.bucket, self.key = bucket, key

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if exc is None or isinstance(exc, InvalidInputError | NotFoundError | StorageError):
            return
        mapped = self._map(exc)
        if mapped is not None:
            raise mapped from exc

    def _map(self, exc: BaseException) -> Exception | None:
        from botocore.exceptions import ClientError

        what = f"object {self.key!r}" if self.key is not None else f"bucket {self.bucket!r}"
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING_CODES and self.key is not None:
                return NotFoundError(f"no object {self.key!r}")
            if code in ("NoSuchBucket", "404"):
                return StorageError(f"S3 bucket {self.bucket!r} does not exist")
            return StorageError(f"S3 request for {what} failed: {code or 'error'}")
        # BotoCoreError (connection, timeout, credentials), boto3/s3transfer transfer errors,
        # urllib3 errors escaping a streamed body.
        if type(exc).__module__.split(".")[0] in ("boto3", "botocore", "s3transfer", "urllib3"):
            return StorageError(f"S3 request for {what} failed: {type(exc).__name__}")
        return None


# --------------------------------------------------------------------------- factory

_S3_OPTIONS: Final = frozenset(
    {
        "endpoint_url",
        "region",
        "access_key_id",
        "secret_access_key",
        "requester_pays",
        "connect_timeout_s",
        "read_timeout_s",
        "max_attempts",
        "multipart_threshold",
        "multipart_chunksize",
    }
)


def open_store(url: str | os.PathLike[str], **s3_options: Any) -> ObjectStore:
    """Open the store ``url`` names: a local path, a ``file://`` URL or ``s3://bucket/prefix``.

    ``s3_options`` are :class:`S3Store`'s keyword arguments; they are checked by name and
    ignored for a local store, so settings can pass them all whatever the URL.
    """
    unknown = set(s3_options) - _S3_OPTIONS
    if unknown:
        raise InvalidInputError(f"unknown storage options: {', '.join(sorted(unknown))}")
    if isinstance(url, os.PathLike):
        return LocalStore(Path(url))
    if not isinstance(url, str) or not url.strip():
        raise InvalidInputError("storage URL must be a non-empty string")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "s3":
        if not parts.netloc or parts.query or parts.fragment:
            raise InvalidInputError("S3 storage URL must look like s3://bucket/prefix")
        return S3Store(parts.netloc, unquote(parts.path).strip("/"), **s3_options)
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise InvalidInputError("file:// storage URL must name a local path")
        return LocalStore(Path(unquote(parts.path)))
    if len(scheme) > 1:  # one letter is a Windows drive ("C:\\data")
        raise InvalidInputError(f"unsupported storage URL scheme {scheme!r}")
    return LocalStore(Path(url))
