"""Real processes for the fault tests: a private Redis server and ``terrascan worker``s.

Everything started here is stopped by ``close()`` (SIGTERM, then SIGKILL of the whole process
group), and every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _stop_group(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGKILL the process group (test processes keep nothing worth a graceful stop)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=timeout)


class RedisServer:
    """A redis-server of our own on a free port, without persistence (a restart loses
    everything in it, like a crashed broker)."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server")
        self.binary, self.workdir, self.port = binary, workdir, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait(lambda: _ping(self.port), 10, "redis-server to answer")

    def crash(self) -> None:
        """SIGKILL the server: its queues and unacknowledged messages are gone."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None

    def restart(self) -> None:
        self.crash()
        self.start()

    def close(self) -> None:
        if self.proc is not None:
            _stop_group(self.proc)
            self.proc = None


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def owns(self, pid: int) -> bool:
        """Whether ``pid`` is this worker or one of its pool processes."""
        if pid == self.proc.pid:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.log))


@dataclass
class Workers:
    """``python -m terrascan.cli worker`` processes with a test environment."""

    env: dict[str, str]
    log_dir: Path
    started: list[Worker] = field(default_factory=list)

    def start(self, count: int = 1, *, pool: str = "prefork", **settings: object) -> list[Worker]:
        env = {**self.env, **{f"TERRASCAN_{k.upper()}": str(v) for k, v in settings.items()}}
        new = []
        for _ in range(count):
            name = f"worker-{len(self.started) + 1}"
            log_path = self.log_dir / f"{name}.log"
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "terrascan.cli",
                        "worker",
                        "--concurrency",
                        "1",
                        "--pool",
                        pool,
                        "--loglevel",
                        "INFO",
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            worker = Worker(name, proc, log_path)
            self.started.append(worker)
            new.append(worker)
        for worker in new:
            _wait(lambda w=worker: " ready." in w.log or not w.alive(), 60, f"{worker.name} ready")
            assert worker.alive(), worker.log
        return new

    def logs(self) -> str:
        return "\n".join(f"===== {w.name}\n{w.log[-6000:]}" for w in self.started)

    def close(self) -> None:
        for worker in self.started:
            _stop_group(worker.proc)
