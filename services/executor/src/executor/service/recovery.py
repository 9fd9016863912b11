"""Rebuild the book from the streams at start, with the functions the live handlers use.

Order of truth: the bridge's order events (IB) over our own records. The streams read are
``commands.plans.v1`` (the kill switch), ``events.plans.v1`` (proposals and every decision,
folded by ``core.plan.replay``: the live ``apply``), ``commands.orders.v1`` (what we sent: an
order there is never sent again), ``events.orders.v1`` (what became of it) and
``events.gateway.v1`` (whether orders may flow).
"""

from __future__ import annotations

import logging
from decimal import Decimal

import redis.asyncio as aioredis

from executor.core.plan import ACTIVE, PlanRecord, replay
from executor.service.plans import PlanService
from shared.contracts import catalogue
from shared.contracts.base import Message
from shared.contracts.gateway import (
    GatewayConnected,
    GatewayDisconnected,
    GatewayStatus,
    ReconciliationCompleted,
)
from shared.contracts.order_commands import CancelOrder, SubmitOrder
from shared.contracts.plan_commands import HaltTrading, ResumeTrading
from shared.kit.streams import read
from shared.plans.view import fold_halt
from shared.rebalancing.ids import ClientOrderId

log = logging.getLogger(__name__)


async def rebuild(plans: PlanService, client: aioredis.Redis, source: str) -> None:
    """Fill ``plans.book`` from the streams (before the consumers start)."""
    book = plans.book
    for command in await read(client, catalogue.PLAN_COMMANDS):
        if isinstance(command, HaltTrading | ResumeTrading):
            book.halt = fold_halt(book.halt, command)
            book.seen_commands.add(command.message_id)
    book.records = replay(await read(client, catalogue.PLANS))
    for command in await read(client, catalogue.ORDER_COMMANDS):
        if isinstance(command, SubmitOrder) and command.source == source:
            book.add_order(command, _reference_price(book.records, command))
        elif isinstance(command, CancelOrder):
            book.mark_cancel_requested(command.client_order_id)
    for event in await read(client, catalogue.ORDERS):
        book.on_order_event(event)
    ready = gateway_ready(await read(client, catalogue.GATEWAY))
    plans.set_gateway(ready)
    plans.metrics.halted.set(1 if book.halt.halted else 0)
    plans.metrics.active.set(sum(1 for r in book.records.values() if r.status in ACTIVE))
    log.info(
        "rebuilt from the streams: %d plans (%d open), %d orders, halted=%s, gateway ready=%s",
        len(book.records),
        len(book.open_records()),
        len(book.orders),
        book.halt.halted,
        ready,
    )


def gateway_ready(events: list[Message]) -> bool:
    """Whether orders may flow, by the gateway's last events (reconciled and not down since).

    The stream is trimmed, so the reconciliation may be gone: a GatewayStatus says it too.
    """
    ready = False
    for event in events:
        if isinstance(event, ReconciliationCompleted):
            ready = True
        elif isinstance(event, GatewayDisconnected | GatewayConnected):
            ready = False
        elif isinstance(event, GatewayStatus):
            ready = event.connected and event.reconciled
    return ready


def _reference_price(records: dict[str, PlanRecord], command: SubmitOrder) -> Decimal:
    """The plan's price of the order's leg (what the daily notional cap counts)."""
    parsed = ClientOrderId.parse(command.client_order_id)
    record = records.get(parsed.plan_id) if parsed else None
    if parsed is None or record is None:
        return command.limit_price or Decimal(0)
    leg = next((leg for leg in record.proposal.legs if leg.leg == parsed.leg), None)
    return leg.reference_price if leg else command.limit_price or Decimal(0)
