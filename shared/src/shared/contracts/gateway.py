"""``events.gateway.v1``: the health of the IB connection, from the gateway-bridge."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.contracts.base import Message, Quantity, UtcDatetime

STREAM = "events.gateway.v1"
MAXLEN = 50_000
"""About a week of GatewayStatus heartbeats (one every 15 s) besides the connection's events."""


class GatewayConnected(Message):
    """The bridge completed the API handshake with IB Gateway (or the emulator)."""

    type: Literal["GatewayConnected"] = "GatewayConnected"
    host: str
    port: int
    client_id: int
    server_version: int | None = None
    accounts: tuple[str, ...] = ()


class GatewayDisconnected(Message):
    """The connection to IB is down; orders pause until ReconciliationCompleted."""

    type: Literal["GatewayDisconnected"] = "GatewayDisconnected"
    reason: str
    expected_until: UtcDatetime | None = Field(
        default=None,
        description="Set when the outage is expected (the gateway's daily restart window, or "
        "its weekly window closed): alerts wait until then.",
    )


class ReconciliationCompleted(Message):
    """State was re-read from IB after a (re)connect; order commands flow again."""

    type: Literal["ReconciliationCompleted"] = "ReconciliationCompleted"
    accounts: tuple[str, ...]
    open_orders: int = 0
    adopted_orders: int = Field(
        default=0, description="Orders of earlier runs matched by orderRef."
    )
    recovered_fills: int = Field(default=0, description="Fills missed while disconnected.")


class GatewayError(Message):
    """An error or warning IB reported, with its code."""

    type: Literal["GatewayError"] = "GatewayError"
    code: int
    message: str
    request_id: int | None = None
    client_order_id: str | None = None
    severity: Literal["info", "warning", "error"] = "error"


class GatewayStatus(Message):
    """The IB connection as the bridge knows it, on every change and every heartbeat.

    The last one on the stream is the answer to "is IB up?" for the notifier's public
    ``/health``, ``GET /api/v1/health`` and ``rebalancer status``.
    """

    type: Literal["GatewayStatus"] = "GatewayStatus"
    host: str
    port: int
    client_id: int
    connected: bool
    reconciled: bool
    since: UtcDatetime | None = Field(
        default=None, description="When the connection reached its current state."
    )
    server_version: int | None = None
    accounts: tuple[str, ...] = ()
    live_accounts: tuple[str, ...] = Field(
        default=(), description="Managed accounts that are not paper (paper ids start with D)."
    )
    last_connectivity_code: int | None = Field(
        default=None, description="The last of 1100 (IB lost), 1101, 1102 (IB back)."
    )
    last_connectivity_at: UtcDatetime | None = None
    heartbeat_age_s: Quantity | None = Field(
        default=None, description="Seconds since IB last answered the bridge."
    )
    last_error: str | None = None
    read_only: bool = True
    allow_live: bool = False
    expected_until: UtcDatetime | None = Field(
        default=None, description="Down on purpose (restart or weekly window) until then."
    )


class SecondFactorRequested(Message):
    """IB Gateway waits for the IBKR Mobile (IB Key) approval of its login."""

    type: Literal["SecondFactorRequested"] = "SecondFactorRequested"
    attempt: int = Field(default=1, ge=1, description="2 and more: a retry prompt.")
    timeout_s: int = Field(default=180, gt=0, description="Time left to approve it.")
    detail: str = ""


GatewayEvent = Annotated[
    GatewayConnected
    | GatewayDisconnected
    | ReconciliationCompleted
    | GatewayError
    | GatewayStatus
    | SecondFactorRequested,
    Field(discriminator="type"),
]
MESSAGES: tuple[type[Message], ...] = (
    GatewayConnected,
    GatewayDisconnected,
    ReconciliationCompleted,
    GatewayError,
    GatewayStatus,
    SecondFactorRequested,
)
