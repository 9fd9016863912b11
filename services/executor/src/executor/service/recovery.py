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
from executor.service.shards import GatewayReadiness, Ownership
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
from shared.topology import DEFAULT, Topology, orders_stream

log = logging.getLogger(__name__)


async def rebuild(
    plans: PlanService,
    client: aioredis.Redis,
    source: str,
    ownership: Ownership | None = None,
    readiness: GatewayReadiness | None = None,
) -> None:
    """Fill ``plans.book`` from the streams (before the consumers start).

    A shard (``ownership``) keeps only its own accounts' plans and orders, reads the order
    commands of each of its logins' streams, and folds the gateway state of its logins only.
    """
    ownership = ownership or Ownership(Topology(), DEFAULT)
    readiness = readiness or GatewayReadiness(ownership.logins)
    book = plans.book
    for command in await read(client, catalogue.PLAN_COMMANDS):
        if isinstance(command, HaltTrading | ResumeTrading):
            book.halt = fold_halt(book.halt, command)
            book.seen_commands.add(command.message_id)
    book.records = {
        plan_id: record
        for plan_id, record in replay(await read(client, catalogue.PLANS)).items()
        if ownership.owns(record.account_id)
    }
    for login in ownership.logins:
        await _orders_sent(plans, client, source, ownership, login)
    for event in await read(client, catalogue.ORDERS):
        if ownership.concerns(event):
            book.on_order_event(event)
    ready = readiness.all_ready
    for event in await read(client, catalogue.GATEWAY):
        gateway = isinstance(
            event,
            GatewayConnected | GatewayDisconnected | ReconciliationCompleted | GatewayStatus,
        )
        if gateway and ownership.concerns(event):
            ready = readiness.apply(event)
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


async def _orders_sent(
    plans: PlanService, client: aioredis.Redis, source: str, ownership: Ownership, login: str
) -> None:
    """What this shard sent on one login's command stream: never sent again."""
    book = plans.book
    for command in await read(client, orders_stream(login)):
        if (
            isinstance(command, SubmitOrder)
            and command.source == source
            and ownership.owns(command.account_id)
        ):
            book.add_order(command, _reference_price(book.records, command))
        elif isinstance(command, CancelOrder):
            book.mark_cancel_requested(command.client_order_id)


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
