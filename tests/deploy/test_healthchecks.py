"""The health checks of the images answer readiness, not an open port: the TWS handshake against
the IB emulator (and a silent listener), the HTTP check against a local server."""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rebalancer_cli.embedded_redis import free_port, port_is_open

ROOT = Path(__file__).resolve().parents[2]
HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def emulator_port() -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "ib-emulator"), "--port", str(port), "--admin-port", "-1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not port_is_open("127.0.0.1", port):
            assert time.monotonic() < deadline, "the IB emulator did not start"
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP and never answers, as IB Gateway does during login and 2FA."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def _gateway_check(compose: dict[str, Any], port: int) -> subprocess.CompletedProcess[str]:
    """Run the ib-gateway service's healthcheck as Docker would, pointed at ``port``."""
    test = compose["services"]["ib-gateway"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "bash", "-c"]
    script = test[3].replace("$$", "$").replace("4004", str(port))
    return subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    )


def test_gateway_healthcheck_passes_once_the_api_handshake_completes(
    compose: dict[str, Any], emulator_port: int
) -> None:
    assert _gateway_check(compose, emulator_port).returncode == 0


def test_gateway_healthcheck_fails_on_a_port_that_accepts_tcp_but_never_answers(
    compose: dict[str, Any], silent_port: int
) -> None:
    done = _gateway_check(compose, silent_port)
    assert done.returncode != 0
    assert "no API handshake" in done.stdout


def test_gateway_healthcheck_fails_when_nothing_listens(compose: dict[str, Any]) -> None:
    assert _gateway_check(compose, free_port()).returncode != 0


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), *args], capture_output=True, text=True, timeout=30
    )


def test_python_tws_check_completes_the_handshake_with_the_emulator(emulator_port: int) -> None:
    done = _run("tws", "127.0.0.1", str(emulator_port))
    assert done.returncode == 0
    assert "server version 176" in done.stdout


def test_python_tws_check_fails_on_a_silent_port(silent_port: int) -> None:
    assert _run("tws", "127.0.0.1", str(silent_port)).returncode == 1


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(b'{"ready": false, "checks": {"redis": "no answer"}}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(("status", "code"), [(200, 0), (503, 1)])
def test_http_check_is_healthy_only_when_health_answers_200(status: int, code: int) -> None:
    handler = type("Handler", (_Health,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/health"
        done = _run(url)
        assert done.returncode == code
    finally:
        server.shutdown()
        server.server_close()


def test_http_check_fails_when_the_service_does_not_listen() -> None:
    assert _run(f"http://127.0.0.1:{free_port()}/health").returncode == 1
