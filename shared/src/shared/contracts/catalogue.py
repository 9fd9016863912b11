"""The stream catalogue: which messages travel on which stream, and how to decode them."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from pydantic import TypeAdapter

from shared.contracts import (
    account,
    alerts,
    allocations,
    gateway,
    ledger,
    order_commands,
    orders,
    plan_commands,
    plans,
    portfolio,
    positions,
    prices,
    triggers,
)
from shared.contracts.base import Message


@dataclass(frozen=True)
class StreamSpec:
    """One stream of the catalogue: its name, its messages and the adapter of their union."""

    name: str
    messages: tuple[type[Message], ...]
    adapter: TypeAdapter[Any]
    maxlen: int | None = None

    def decode(self, data: bytes | str | dict[str, Any]) -> Message:
        """Validate raw JSON (or a decoded dict) into the stream's message type."""
        if isinstance(data, dict):
            message: Message = self.adapter.validate_python(data)
        else:
            message = self.adapter.validate_json(data)
        return message


def _spec(module: ModuleType, union: Any, maxlen: int | None = None) -> StreamSpec:
    return StreamSpec(
        name=module.STREAM,
        messages=tuple(module.MESSAGES),
        adapter=TypeAdapter(union),
        maxlen=maxlen,
    )


TRIGGERS = _spec(triggers, triggers.TriggerCommand)
ALLOCATIONS = _spec(allocations, allocations.AllocationEvent)
PLANS = _spec(plans, plans.PlanEvent)
PLAN_COMMANDS = _spec(plan_commands, plan_commands.PlanCommand)
ORDER_COMMANDS = _spec(order_commands, order_commands.OrderCommand)
ORDERS = _spec(orders, orders.OrderEventMessage)
POSITIONS = _spec(positions, positions.PositionEvent)
ACCOUNT = _spec(account, account.AccountEvent)
PRICES = _spec(prices, prices.PriceEvent, maxlen=prices.MAXLEN)
GATEWAY = _spec(gateway, gateway.GatewayEvent, maxlen=gateway.MAXLEN)
ALERTS = _spec(alerts, alerts.AlertCommand)
PORTFOLIO_RPC = _spec(portfolio, portfolio.PortfolioRequest)
PORTFOLIO_REPLIES = StreamSpec(
    name="rpc.portfolio.v1.replies",
    messages=portfolio.REPLIES,
    adapter=TypeAdapter(portfolio.PortfolioReply),
)
LEDGER_RPC = _spec(ledger, ledger.LedgerRequest)
LEDGER_REPLIES = StreamSpec(
    name="rpc.ledger.v1.replies",
    messages=ledger.REPLIES,
    adapter=TypeAdapter(ledger.LedgerReply),
)
REPLY_SPECS: tuple[StreamSpec, ...] = (PORTFOLIO_REPLIES, LEDGER_REPLIES)
"""Replies of the request-reply streams (pushed to lists, not streams; listed for schemas)."""

CATALOGUE: dict[str, StreamSpec] = {
    spec.name: spec
    for spec in (
        TRIGGERS,
        ALLOCATIONS,
        PLANS,
        PLAN_COMMANDS,
        ORDER_COMMANDS,
        ORDERS,
        POSITIONS,
        ACCOUNT,
        PRICES,
        GATEWAY,
        ALERTS,
        PORTFOLIO_RPC,
        LEDGER_RPC,
    )
}
"""Every stream of the v1 catalogue, by name."""

_STREAM_OF: dict[type[Message], str] = {
    cls: spec.name for spec in CATALOGUE.values() for cls in spec.messages
}


def stream_of(message: Message) -> str:
    """Return the stream a message belongs on; raises for a class outside the catalogue."""
    try:
        return _STREAM_OF[type(message)]
    except KeyError:
        raise LookupError(
            f"{type(message).__name__} is not on any stream of the catalogue"
        ) from None


def spec_of(stream: str) -> StreamSpec:
    """Return the spec of a stream name; raises with the known names if it is unknown."""
    try:
        return CATALOGUE[stream]
    except KeyError:
        known = ", ".join(sorted(CATALOGUE))
        raise LookupError(f"unknown stream {stream!r}; known streams: {known}") from None
