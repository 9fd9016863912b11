"""Container health checks that test real readiness, not an open port (stdlib only).

Run inside a service image (python:3.11-slim has no curl)::

    python /app/healthcheck.py                  # GET $HEALTHCHECK_URL; healthy only on 200
    python /app/healthcheck.py tws HOST PORT    # complete a TWS API handshake

``/health`` of a service answers 200 only when every dependency check passes (Redis, and for
the bridge the IB connection), so the HTTP form is the service's own readiness. The ``tws`` form
sends ``API\\0`` and a framed version range and waits for the server's ``[version, time]``
frame: IB Gateway can accept TCP and still never answer the API (during login, 2FA or its
daily restart), and only a completed handshake tells them apart. The exit code is 0 when
healthy, 1 otherwise, with one line saying why.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:9100/health"
MIN_VERSION, MAX_VERSION = 157, 178


def check_http(url: str, timeout_s: float = 4.0) -> tuple[bool, str]:
    """GET ``url``; healthy only on HTTP 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status == 200, f"{url} answered {response.status}"
    except urllib.error.HTTPError as error:
        body = error.read(500).decode(errors="replace")
        return False, f"{url} answered {error.code}: {body}"
    except (urllib.error.URLError, OSError) as error:
        return False, f"{url} unreachable: {error}"


def _read_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed before the handshake completed")
        data += chunk
    return data


def check_tws(host: str, port: int, timeout_s: float = 5.0) -> tuple[bool, str]:
    """Complete the TWS API handshake with ``host:port``; healthy when a server version comes back."""
    payload = f"v{MIN_VERSION}..{MAX_VERSION}".encode()
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.settimeout(timeout_s)
            sock.sendall(b"API\0" + struct.pack(">I", len(payload)) + payload)
            (size,) = struct.unpack(">I", _read_exact(sock, 4))
            if not 0 < size < 4096:
                return False, f"{host}:{port} sent a frame of {size} bytes, not a handshake reply"
            fields = _read_exact(sock, size).split(b"\0")
    except (OSError, ConnectionError) as error:
        return False, f"no API handshake with {host}:{port}: {error}"
    version = fields[0].decode(errors="replace")
    if not version.isdigit() or not MIN_VERSION <= int(version) <= MAX_VERSION:
        return False, f"{host}:{port} answered {version!r}, not a server version"
    return True, f"{host}:{port} completed the API handshake (server version {version})"


def main(argv: list[str]) -> int:
    """Run the check named by ``argv`` and return the exit code."""
    if argv[:1] == ["tws"]:
        if len(argv) != 3 or not argv[2].isdigit():
            print("usage: healthcheck.py tws HOST PORT", file=sys.stderr)
            return 2
        healthy, why = check_tws(argv[1], int(argv[2]))
    else:
        url = argv[0] if argv else os.environ.get("HEALTHCHECK_URL", DEFAULT_URL)
        healthy, why = check_http(url)
    print(why)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
