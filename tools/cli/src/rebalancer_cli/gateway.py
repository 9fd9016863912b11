"""The user's own TWS or IB Gateway: does it answer the API, and which accounts does it serve.

``rebalancer up --gateway HOST:PORT`` asks before starting anything: a TWS API handshake
(``API\\0`` and a framed ``v157..178``; the server answers ``[version, time]``), then startApi
with a probe client id and the ``managedAccounts`` message (id 15) IB sends back. An open
port is not enough: IB Gateway accepts TCP during its login, 2FA and restarts without ever
answering. The probe disconnects at once; the bridge then connects with its own client id.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

from shared.ib_gateway import is_paper_account

VERSIONS = b"v157..178"
START_API = 71
MANAGED_ACCOUNTS = 15
ERROR = 4
PAPER_PORTS = {7497: "TWS paper", 4002: "IB Gateway paper"}
LIVE_PORTS = {7496: "TWS live", 4001: "IB Gateway live"}


class GatewayUnreachable(RuntimeError):
    """Nothing answered the TWS API at the address; the message says what to check."""


@dataclass(frozen=True)
class GatewayProbe:
    host: str
    port: int
    server_version: int
    accounts: tuple[str, ...]

    @property
    def paper(self) -> tuple[str, ...]:
        return tuple(a for a in self.accounts if is_paper_account(a))

    @property
    def live(self) -> tuple[str, ...]:
        return tuple(a for a in self.accounts if not is_paper_account(a))


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``PORT``) -> (host, port); a ValueError says what to write."""
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise ValueError(
            f"--gateway {text!r}: write HOST:PORT, e.g. 127.0.0.1:7497 (TWS paper) or "
            "127.0.0.1:4002 (IB Gateway paper)"
        ) from None
    if not 0 < number < 65536:
        raise ValueError(f"--gateway {text!r}: the port must be between 1 and 65535")
    return host or "127.0.0.1", number


def _frame(*fields: str) -> bytes:
    payload = b"".join(f.encode() + b"\0" for f in fields)
    return struct.pack(">I", len(payload)) + payload


def _read_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the gateway closed the connection")
        data += chunk
    return data


def _read_message(sock: socket.socket) -> list[str]:
    (size,) = struct.unpack(">I", _read_exact(sock, 4))
    return _read_exact(sock, size).decode(errors="replace").split("\0")


def _unreachable(host: str, port: int, why: str) -> GatewayUnreachable:
    return GatewayUnreachable(
        f"nothing answers the TWS API at {host}:{port} ({why}): is TWS or IB Gateway running "
        "and logged in, is the API enabled (Configure > Settings > API > Enable ActiveX and "
        "Socket Clients), and is the port the paper one (7497 TWS, 4002 IB Gateway)?"
    )


def probe_gateway(
    host: str, port: int, *, client_id: int = 0, timeout_s: float = 8.0
) -> GatewayProbe:
    """Complete the API handshake and read the managed accounts; raise GatewayUnreachable."""
    deadline = time.monotonic() + timeout_s
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(b"API\0" + struct.pack(">I", len(VERSIONS)) + VERSIONS)
            hello = _read_message(sock)
            version = int(hello[0])
            sock.sendall(_frame(str(START_API), "2", str(client_id), ""))
            while time.monotonic() < deadline:
                sock.settimeout(max(0.1, deadline - time.monotonic()))
                fields = _read_message(sock)
                if fields[0] == str(MANAGED_ACCOUNTS):
                    accounts = tuple(a for a in fields[2].split(",") if a.strip())
                    return GatewayProbe(host, port, version, accounts)
                if fields[0] == str(ERROR) and len(fields) > 4 and fields[3] == "326":
                    raise _unreachable(host, port, f"client id {client_id} is in use")
    except GatewayUnreachable:
        raise
    except (OSError, ValueError, IndexError, struct.error) as error:
        raise _unreachable(host, port, str(error) or type(error).__name__) from None
    raise _unreachable(host, port, "it never sent the managed accounts")


def port_note(port: int) -> str | None:
    """A warning when the port is a live one (real money)."""
    if port in LIVE_PORTS:
        return f"port {port} is the {LIVE_PORTS[port]} port (real money)"
    return None
