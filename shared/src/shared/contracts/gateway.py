"""``events.gateway.v1``: the health of the IB connection, from the gateway-bridge."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.contracts.base import Message

STREAM = "events.gateway.v1"


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


GatewayEvent = Annotated[
    GatewayConnected | GatewayDisconnected | ReconciliationCompleted | GatewayError,
    Field(discriminator="type"),
]
MESSAGES: tuple[type[Message], ...] = (
    GatewayConnected,
    GatewayDisconnected,
    ReconciliationCompleted,
    GatewayError,
)
