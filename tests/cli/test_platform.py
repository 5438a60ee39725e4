"""The platform commands, run as a user runs them: in a separate process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import terrascan
from terrascan.catalog.database import Catalog
from terrascan.catalog.repositories import UserRepository
from terrascan.passwords import verify_password


def run(args: list[str], data_dir: Path, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TERRASCAN_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "terrascan.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **kw,  # type: ignore[call-overload]
    )


def test_help_lists_every_command_with_a_description(tmp_path: Path) -> None:
    result = run(["--help"], tmp_path)
    assert result.returncode == 0
    for command in ("serve", "version", "db", "user"):
        line = next(line for line in result.stdout.splitlines() if f" {command} " in line)
        assert len(line.split(command, 1)[1].strip(" │")) > 10, line


def test_version(tmp_path: Path) -> None:
    assert run(["version"], tmp_path).stdout.strip() == terrascan.__version__


def test_db_upgrade_then_user_create(tmp_path: Path) -> None:
    assert run(["db", "upgrade"], tmp_path).returncode == 0
    assert (tmp_path / "terrascan.db").is_file()
    created = run(
        ["user", "create", "--email", "Ana@Example.org", "--name", "Ana"],
        tmp_path,
        input="correct horse battery\ncorrect horse battery\n",
    )
    assert created.returncode == 0, created.stderr
    assert "created user ana@example.org" in created.stdout

    catalog = Catalog(f"sqlite:///{tmp_path / 'terrascan.db'}")
    with catalog.session() as session:
        user = UserRepository(session).get_by_email("ana@example.org")
        assert user is not None and user.password_hash is not None
        assert user.password_hash.startswith("$argon2id$")
        assert verify_password(user.password_hash, "correct horse battery")
        assert not verify_password(user.password_hash, "wrong horse battery")
    catalog.dispose()

    again = run(
        ["user", "create", "--email", "ana@example.org", "--password", "another password"],
        tmp_path,
    )
    assert again.returncode != 0
    assert "already exists" in again.stderr and "Traceback" not in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "not-an-email", "--password", "long enough pw"], "not a valid email"),
        (["--email", "x@example.org", "--password", "short"], "password must be"),
    ],
)
def test_user_create_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = run(["user", "create", *args], tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_health_on_the_embedded_defaults(tmp_path: Path) -> None:
    """What `make run` does: migrate, then serve on TERRASCAN_PORT with SQLite and a folder."""
    port = _free_port()
    env = {**os.environ, "TERRASCAN_DATA_DIR": str(tmp_path), "TERRASCAN_PORT": str(port)}
    env.pop("TERRASCAN_DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "terrascan.cli", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).json()
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert body is not None, "server did not answer"
        assert body["status"] == "ok"
        assert body["checks"]["catalog"]["kind"] == "sqlite"
        assert (tmp_path / "terrascan.db").is_file()
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert "<title>TerraScan</title>" in page.text
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/" in output
