"""Rebuild the executor's book from the streams at start, then resume what was under way.

Order of truth: the bridge's order events (IB) over our own records. The streams read are
``commands.plans.v1`` (halt flag), ``events.plans.v1`` (proposals and our decisions),
``commands.orders.v1`` (what we sent: an order there is never sent again) and
``events.orders.v1`` (what became of it). Dry-run reports, which publish nothing, are
remembered in the decision store.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis

from executor.adapters import history
from executor.book import PlanRecord
from executor.core.orders import parse_client_order_id
from executor.core.state import ACTIVE, PlanStatus
from executor.core.tracking import OrderTrack
from executor.engine import Engine
from shared.contracts import catalogue
from shared.contracts.gateway import (
    GatewayConnected,
    GatewayDisconnected,
    ReconciliationCompleted,
)
from shared.contracts.order_commands import CancelOrder, SubmitOrder
from shared.contracts.plan_commands import HaltTrading, ResumeTrading
from shared.contracts.plans import (
    PlanApproved,
    PlanCompleted,
    PlanExecutionStarted,
    PlanExpired,
    PlanFailed,
    PlanProposed,
    PlanRejected,
)

log = logging.getLogger(__name__)

ENDINGS = {
    PlanCompleted: PlanStatus.COMPLETED,
    PlanFailed: PlanStatus.FAILED,
    PlanExpired: PlanStatus.EXPIRED,
    PlanRejected: PlanStatus.REJECTED,
}


async def rebuild(engine: Engine, client: aioredis.Redis) -> None:
    """Fill ``engine.book`` from the streams (before the consumers start)."""
    book = engine.book
    async for command in history(client, catalogue.PLAN_COMMANDS):
        if isinstance(command, HaltTrading):
            book.halted, book.halt_reason = True, command.reason
            book.seen_commands.add(command.message_id)
        elif isinstance(command, ResumeTrading):
            book.halted, book.halt_reason = False, None
            book.seen_commands.add(command.message_id)
    async for event in history(client, catalogue.PLANS):
        if isinstance(event, PlanProposed):
            book.plans.setdefault(event.plan_id, PlanRecord(proposal=event))
            continue
        record = book.plans.get(getattr(event, "plan_id", None) or "")
        if record is None:
            continue
        if isinstance(event, PlanApproved):
            record.status = PlanStatus.APPROVED
            record.approved_by = event.approved_by
            record.approved_at = event.ts_event
        elif isinstance(event, PlanExecutionStarted):
            record.status = PlanStatus.EXECUTING
        elif type(event) in ENDINGS:
            record.status = ENDINGS[type(event)]
            record.reasons = tuple(getattr(event, "reasons", ()))
    async for command in history(client, catalogue.ORDER_COMMANDS):
        if isinstance(command, SubmitOrder) and command.source == engine.source:
            parsed = parse_client_order_id(command.client_order_id)
            if parsed is None:
                continue
            book.add_track(
                OrderTrack(
                    command.client_order_id,
                    parsed[1],
                    parsed[2],
                    command.symbol,
                    command.side,
                    command.quantity,
                    command.order_type.value,
                )
            )
            record = book.plans.get(parsed[0])
            price = record.proposal.legs[0].reference_price if record else 0
            if record:
                price = next(
                    (leg.reference_price for leg in record.proposal.legs if leg.leg == parsed[1]),
                    price,
                )
                if parsed[2] == 0 and command.side.value == "BUY":
                    record.sized.setdefault(parsed[1], command.quantity)
            book.count_order(command.account_id, command.ts_init.date(), command.quantity * price)
        elif isinstance(command, CancelOrder) and command.client_order_id in book.orders:
            book.orders[command.client_order_id].cancel_requested = True
    async for event in history(client, catalogue.ORDERS):
        engine.on_order_event(event)
    ready = False
    async for event in history(client, catalogue.GATEWAY):
        if isinstance(event, ReconciliationCompleted):
            ready = True
        elif isinstance(event, GatewayDisconnected | GatewayConnected):
            ready = False
    engine.set_gateway(ready)
    for record in book.plans.values():
        if record.status == PlanStatus.PROPOSED and engine.store.reported(record.plan_id):
            record.status = PlanStatus.REPORTED
    engine.metrics.halted.set(1 if book.halted else 0)
    engine.metrics.active.set(sum(1 for r in book.plans.values() if r.status in ACTIVE))
    await engine.read_model.set_halt(book.halt_reason if book.halted else None)
    log.info(
        "rebuilt from the streams: %d plans (%d open), %d orders, halted=%s, gateway ready=%s",
        len(book.plans),
        len(engine.open_plans()),
        len(book.orders),
        book.halted,
        ready,
    )


async def resume(engine: Engine) -> None:
    """Carry on with every open plan (after the broker started)."""
    for record in engine.open_plans():
        if record.status in (PlanStatus.APPROVED, PlanStatus.EXECUTING):
            if engine.book.halted and record.abort is None:
                record.abort = f"trading halted: {engine.book.halt_reason}"
            log.info("resuming plan %s (%s)", record.plan_id, record.status.value)
            engine.start_runner(record)
        elif record.status == PlanStatus.PROPOSED:
            await engine.decide(record)
        elif record.status == PlanStatus.AWAITING_APPROVAL:
            await engine.save_row(record)
