"""T9 for tiles: the object store (moto's server mode behind a switchable TCP proxy on
127.0.0.1) resets every connection: tile requests get 503 problems with Retry-After, not 500s;
when the store answers again, so do the tiles (no failure is remembered)."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import pytest
from pyproj import Transformer

from terrascan.io.storage import S3Store
from tests.api._accounts import account_settings, open_client, signup
from tests.api._analysis import CRS, SIZE, TRANSFORM, scene, upload, write_scene
from tests.io.conftest import MotoS3, running_moto, with_bucket

pytestmark = pytest.mark.s3


class Switch:
    """A TCP proxy to ``upstream`` that can be told to reset every connection it accepts."""

    LINGER_0 = struct.pack("ii", 1, 0)  # close() then sends RST, as a store dropping us does

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.resetting = False
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.resetting:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, self.LINGER_0)
                client.close()
                continue
            upstream = socket.create_connection(self.upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(scope="module")
def s3() -> Iterator[tuple[MotoS3, Switch]]:
    with running_moto() as upstream:
        switch = Switch(upstream)
        try:
            yield with_bucket(f"http://127.0.0.1:{switch.port}", "terrascan-faults"), switch
        finally:
            switch.close()


def _tile_url(imagery_id: str) -> str:
    x, y = TRANSFORM * (SIZE / 2, SIZE / 2)
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 15)
    return f"/api/v1/imagery/{imagery_id}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.npy"


def test_tiles_answer_503_while_the_store_resets_and_recover(
    s3: tuple[MotoS3, Switch], tmp_path: Path
) -> None:
    moto, switch = s3
    settings = account_settings(tmp_path, **moto.app_settings(), tile_cache_url="off")
    with open_client(settings) as client:
        assert isinstance(client.app.state.store, S3Store)  # type: ignore[attr-defined]
        alice = signup(client, "alice@example.org")
        first = upload(client, alice, write_scene(tmp_path / "a.tif", scene(5)), "first")
        second = upload(client, alice, write_scene(tmp_path / "b.tif", scene(5)), "second")
        url = f"{_tile_url(first)}?algorithm=ndvi"
        before = client.get(url, headers=alice.headers)
        assert before.status_code == 200, before.text

        # GDAL keeps what it read of the first scene; the second one it has not read yet
        switch.resetting = True
        unread = f"{_tile_url(second)}?algorithm=ndvi"
        answers: list[Any] = [client.get(unread, headers=alice.headers) for _ in range(2)]
        for answer in answers:
            assert answer.status_code == 503, (answer.status_code, answer.text[:300])
            assert int(answer.headers["retry-after"]) >= 1
            assert answer.headers["content-type"].startswith("application/problem+json")

        switch.resetting = False
        after = client.get(unread, headers=alice.headers)
        assert after.status_code == 200, after.text[:300]
        np.testing.assert_array_equal(_npy(after), _npy(before))  # the same pixels


def _npy(response: Any) -> np.ndarray:
    import io

    return np.load(io.BytesIO(response.content))
