"""Order commands in, IB orders out, every order event journaled before it is published.

``on_command`` is the handler of ``commands.orders.v1``. A SubmitOrder goes:
duplicate check (journal) -> expiry / read-only / shape checks -> wait for the reconciled
gate -> account and instrument checks -> reserve the IB order id -> journal INTENT ->
``placeOrder`` -> journal SENT. Nothing is sent for a ``client_order_id`` already in the
journal, whatever its state: a repeated SubmitOrder gets its last known event again.

Waiting for the gate: the handler waits up to ``command_wait_s`` for reconciliation and
then raises, which leaves the entry pending in the consumer group; the kit's reclaimer
delivers it again after ``reclaim_idle_ms`` (and dead-letters it after ``max_deliveries``).
A command that expires meanwhile is refused, never executed late.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal

from ib_async import IB, Contract, Fill, Trade

from gateway_bridge.client import PacedClient
from gateway_bridge.instruments import Instruments
from gateway_bridge.journal import AlreadyJournaled, JournalEntry, NewOrder, OrderJournal
from gateway_bridge.lifecycle import TERMINAL, UNRESOLVED, OrderState
from gateway_bridge.metrics import BridgeMetrics
from gateway_bridge.outbox import Outbox, Publish
from gateway_bridge.parsing import orders as parse
from gateway_bridge.parsing.outbound import order_for
from gateway_bridge.permissions import TradingPermissions
from gateway_bridge.validation import (
    check_account,
    check_command,
    check_instrument,
    check_live,
    check_notional_limit,
    check_quantity_limit,
)
from shared.contracts import catalogue
from shared.contracts.base import Message, Reason, utc_now
from shared.contracts.order_commands import CancelAllOrders, CancelOrder, SubmitOrder
from shared.contracts.orders import OrderAccepted, OrderRejected, OrderStatusUnknown

log = logging.getLogger(__name__)

PriceOf = Callable[[str], Awaitable[Decimal | None]]
"""The live price of a symbol (waits briefly for market data), for the notional limit."""


class NotReconciled(RuntimeError):
    """The gateway is not connected and reconciled: the command stays pending for later."""


class Gate:
    """Open once reconciliation completed; closed while disconnected or reconciling."""

    def __init__(self) -> None:
        self._open = asyncio.Event()

    @property
    def is_open(self) -> bool:
        """Whether order commands may flow."""
        return self._open.is_set()

    def open(self) -> None:
        """Let commands through."""
        self._open.set()

    def close(self) -> None:
        """Hold commands."""
        self._open.clear()

    async def wait(self, timeout_s: float) -> None:
        """Wait until open, or raise NotReconciled after ``timeout_s``."""
        try:
            await asyncio.wait_for(self._open.wait(), timeout_s)
        except TimeoutError:
            raise NotReconciled(
                f"IB gateway not connected and reconciled within {timeout_s:g} s; "
                "the command stays pending and is retried"
            ) from None


class OrderDesk:
    """Places, cancels and reports orders; the only code that calls ``placeOrder``."""

    def __init__(
        self,
        ib: IB,
        journal: OrderJournal,
        outbox: Outbox,
        publish: Publish,
        instruments: Instruments,
        gate: Gate,
        metrics: BridgeMetrics,
        *,
        accounts: Callable[[], frozenset[str]],
        read_only: bool,
        permissions: TradingPermissions,
        allow_live: bool = False,
        price_of: PriceOf,
        max_order_quantity: Decimal,
        max_order_notional: Decimal,
        max_open_orders_per_contract_side: int,
        command_wait_s: float,
        ack_timeout_s: float,
        source: str = "gateway-bridge",
    ) -> None:
        self._ib = ib
        if not isinstance(ib.client, PacedClient):
            raise TypeError("the order desk needs the paced client (client.paced_ib)")
        self._client: PacedClient = ib.client
        self._journal = journal
        self._outbox = outbox
        self._publish = publish
        self._instruments = instruments
        self._gate = gate
        self._metrics = metrics
        self._accounts = accounts
        self._read_only = read_only
        self._allow_live = allow_live
        self._permissions = permissions
        self._price_of = price_of
        self._max_quantity = max_order_quantity
        self._max_notional = max_order_notional
        self._max_open = max_open_orders_per_contract_side
        self._order_ended = asyncio.Event()
        self._command_wait_s = command_wait_s
        self._ack_timeout_s = ack_timeout_s
        self._source = source
        self._lock = asyncio.Lock()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.on_symbol_requested: Callable[[str], None] = lambda _symbol: None

    # ------------------------------------------------------------------ commands

    async def on_command(self, command: Message) -> None:
        """Handle one message of ``commands.orders.v1`` (idempotent)."""
        if isinstance(command, SubmitOrder):
            await self.on_submit_order(command)
        elif isinstance(command, CancelOrder):
            await self.on_cancel_order(command)
        elif isinstance(command, CancelAllOrders):
            await self.on_cancel_all_orders(command)

    async def on_submit_order(self, command: SubmitOrder) -> None:
        """Place the order once; a repeat gets the order's current state back."""
        received = time.perf_counter()
        if await self._answer_duplicate(command.client_order_id, command.account_id):
            return
        reason = (
            check_command(command, utc_now(), read_only=self._read_only)
            or self._permissions.check(command.account_id)
            or check_live(command.account_id, allow_live=self._allow_live)
            or check_quantity_limit(command, self._max_quantity)
        )
        if reason is not None:
            await self._refuse(command, reason)
            return
        deadline = time.monotonic() + self._command_wait_s
        contract, reason = await self._checked_contract(command, deadline)
        if reason is not None or contract is None:
            assert reason is not None
            await self._refuse(command, reason)
            return
        if not await self._send_once(command, contract, deadline):
            return
        self._metrics.submit_seconds.observe(time.perf_counter() - received)
        self._metrics.orders.labels(command.account_id, "sent").inc()
        self.on_symbol_requested(command.symbol)
        loop = asyncio.get_running_loop()
        self._timers[command.client_order_id] = loop.call_later(
            self._ack_timeout_s, self._ack_overdue, command.client_order_id
        )

    async def _checked_contract(
        self, command: SubmitOrder, deadline: float
    ) -> tuple[Contract | None, Reason | None]:
        """Check the account, the instrument and the notional against IB's view: the
        qualified contract, or the reason to refuse. Checks made while the connection
        dropped are made again once reconnected (no account is served while disconnected,
        so a refusal then could be wrong)."""
        while True:
            await self._ready(deadline)
            reason = check_account(command, self._accounts())
            found = None
            if reason is None:
                try:
                    found = await self._instruments.lookup(
                        command.symbol, command.currency, command.exchange
                    )
                except ConnectionError:
                    continue  # the connection dropped during the lookup: ask again
                reason = check_instrument(command, found[1] if found else None)
                if reason is None:
                    price = command.limit_price or await self._price_of(command.symbol)
                    reason = check_notional_limit(command, price, self._max_notional)
            if self._gate.is_open and self._ib.isConnected():
                return (found[0] if found else None), reason

    async def _send_once(self, command: SubmitOrder, contract: Contract, deadline: float) -> bool:
        """Journal and send the order, at most once; False when it was answered or refused
        instead (a duplicate, too many open orders, expired while waiting to reconnect)."""
        while True:
            async with self._lock:
                if await self._answer_duplicate(command.client_order_id, command.account_id):
                    return False
                full = self._open_orders(command) >= self._max_open
                if not full:
                    # The pacer's turn comes before anything is journaled: the backlog of
                    # orders stays in the stream, never in memory.
                    async with self._client.order_turn():
                        if (
                            self._gate.is_open
                            and self._ib.isConnected()
                            and self._place(command, contract)
                        ):
                            return True
            if full:
                # IB allows about 20 open orders per contract and side: wait for one to end.
                if not await self._an_order_ended(deadline):
                    await self._refuse(command, self._too_many_open(command))
                    return False
                continue
            # The connection dropped while we waited or wrote: nothing reached IB. Wait for
            # the reconnect (within command_wait_s), then send it, still once.
            await self._ready(deadline)
            if command.is_expired(utc_now()):
                reason = check_command(command, utc_now(), read_only=self._read_only)
                assert reason is not None
                await self._refuse(command, reason)
                return False

    def _open_orders(self, command: SubmitOrder) -> int:
        return self._journal.open_orders(command.account_id, command.symbol, command.side.value)

    async def _an_order_ended(self, deadline: float) -> bool:
        """Wait until some order ends (or ``deadline``); False if none did in time."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self._order_ended.clear()
        try:
            await asyncio.wait_for(self._order_ended.wait(), remaining)
        except TimeoutError:
            return False
        return True

    def _too_many_open(self, command: SubmitOrder) -> Reason:
        return Reason(
            code="too_many_open_orders",
            field="symbol",
            symbol=command.symbol,
            message=f"{self._max_open} {command.side.value} orders for {command.symbol} are "
            f"already open in {command.account_id} (IB allows about 20 per contract and side) "
            f"and none ended within {self._command_wait_s:g} s; send it again once some have "
            "ended",
        )

    async def _ready(self, deadline: float) -> None:
        """Wait for the reconciled gate until ``deadline``, else raise NotReconciled."""
        remaining = deadline - time.monotonic()
        if remaining <= 0 and not (self._gate.is_open and self._ib.isConnected()):
            raise NotReconciled(
                f"IB gateway not connected and reconciled within {self._command_wait_s:g} s; "
                "the command stays pending and is retried"
            )
        await self._gate.wait(max(remaining, 0.001))
        await asyncio.sleep(0)  # let a disconnect that raced the gate land first

    def _place(self, command: SubmitOrder, contract: Contract) -> bool:
        """Journal INTENT, write the order to the socket, journal SENT (all synchronous).

        SENT means the bytes were handed to the socket. When they provably were not (the
        connection was already gone), the INTENT is removed again and False is returned: the
        caller sends it after the reconnect, and nothing of it reached IB.
        """
        ib_order_id = self._ib.client.getReqId()
        try:
            self._journal.record_intent(_new_order(command), ib_order_id)
        except AlreadyJournaled:
            raise NotReconciled(f"{command.client_order_id} was journaled meanwhile") from None
        written = self._client.orders_written
        try:
            self._ib.placeOrder(contract, order_for(command, ib_order_id))
        except ConnectionError:
            pass  # raised by ib_async before anything is written
        if self._client.orders_written == written:
            self._journal.discard_unsent(command.client_order_id)
            self._metrics.orders.labels(command.account_id, "unsent_retried").inc()
            log.warning(
                "the connection dropped before %s was written; it is sent after the reconnect",
                command.client_order_id,
            )
            return False
        self._journal.transition(command.client_order_id, OrderState.SENT)
        return True

    async def on_cancel_order(self, command: CancelOrder) -> None:
        """Ask IB to cancel the order of ``client_order_id`` (its fate comes as an event)."""
        entry = self._journal.get(command.client_order_id)
        if entry is None:
            log.warning("CancelOrder for %s, which this bridge never sent", command.client_order_id)
            self._metrics.orders.labels(command.account_id or "", "cancel_unknown").inc()
            return
        if entry.state in TERMINAL:
            await self._republish(entry)
            return
        if command.is_expired(utc_now()):
            log.warning("CancelOrder for %s expired; not executed", command.client_order_id)
            return
        await self._gate.wait(self._command_wait_s)
        trade = self._open_trade_of(entry)
        if trade is None:
            # Never by the journal's IB order id: after a reconnect IB may have handed that id
            # to another order (of any account); an order not open in this session has nothing
            # to cancel, and its state goes out again so the requester is answered.
            log.warning(
                "CancelOrder for %s: not open at IB in this session (journal state %s); "
                "nothing sent to IB",
                entry.client_order_id,
                entry.state,
            )
            self._metrics.orders.labels(entry.account_id, "cancel_not_open").inc()
            await self._republish(entry)
            return
        self._ib.cancelOrder(trade.order)
        self._metrics.orders.labels(entry.account_id, "cancel_requested").inc()

    async def on_cancel_all_orders(self, command: CancelAllOrders) -> None:
        """Cancel every open order of the accounts named (all of them when none is named)."""
        if command.is_expired(utc_now()):
            log.warning("CancelAllOrders expired; not executed")
            return
        await self._gate.wait(self._command_wait_s)
        if not command.account_ids:
            self._ib.reqGlobalCancel()
            return
        wanted = set(command.account_ids)
        for trade in self._ib.openTrades():
            if trade.order.account in wanted:
                self._ib.cancelOrder(trade.order)

    # ------------------------------------------------------------------ IB events

    def on_order_status(self, trade: Trade) -> None:
        """ib_async ``orderStatusEvent`` (also used for trades found by reconciliation)."""
        entry = self._journal.get(trade.order.orderRef) if trade.order.orderRef else None
        if entry is None:
            return
        self._apply_trade(entry, trade)

    def on_exec_details(self, trade: Trade, fill: Fill) -> None:
        """ib_async ``execDetailsEvent``: one execution, published once per exec_id."""
        self._apply_fill(fill, trade)

    def on_commission_report(self, trade: Trade, fill: Fill, _report: object) -> None:
        """ib_async ``commissionReportEvent``."""
        ref = fill.execution.orderRef or trade.order.orderRef
        entry = self._journal.get(ref) if ref else None
        if entry is None:
            return
        event = parse.commission(fill, self._refs(entry, trade), self._source)
        if event is not None and self._journal.record_commission(event.exec_id, event):
            self._outbox.poke()

    def on_disconnected(self) -> None:
        """Orders sent but not acknowledged stay SENT: the reconciliation after the reconnect
        decides (adopted by orderRef, or UNKNOWN with ``not_found_at_ib`` so the executor can
        send a new attempt at once). Publishing a bare "unknown" now would tell the executor
        nothing it can act on."""

    # ------------------------------------------------------------------ reconciliation

    def reconcile(self, trades: Iterable[Trade], fills: Iterable[Fill]) -> tuple[int, int]:
        """Adopt orders of earlier runs (by orderRef) and publish missed fills.

        Returns (adopted orders, recovered fills). Orders whose outcome was unclear and
        that IB does not know are marked UNKNOWN and never sent again: only a new attempt
        (a new client_order_id from the executor) may send.
        """
        unresolved = {e.client_order_id: e for e in self._journal.entries(UNRESOLVED)}
        seen: set[str] = set()
        adopted = 0
        for trade in trades:
            ref = trade.order.orderRef
            entry = self._journal.get(ref) if ref else None
            if entry is None:
                continue
            seen.add(ref)
            if self._apply_trade(entry, trade) and ref in unresolved:
                adopted += 1
        recovered = 0
        for fill in sorted(fills, key=lambda f: f.time):
            ref = fill.execution.orderRef
            if ref:
                seen.add(ref)
            if self._apply_fill(fill, None):
                recovered += 1
        self._mark_not_found(ref for ref in unresolved if ref not in seen)
        self._outbox.poke()
        return adopted, recovered

    def _mark_not_found(self, refs: Iterable[str]) -> None:
        """Tell the executor that IB does not know these unresolved orders."""
        for ref in refs:
            current = self._journal.get(ref)
            if current is None or _reported_not_found(current):
                continue
            if current.state in UNRESOLVED:
                # An order already UNKNOWN (its acknowledgement timed out) gets the verdict
                # too: without it the executor would never send a new attempt.
                self._mark_unknown(
                    current,
                    "not found at IB by orderRef after reconnecting (open orders, completed "
                    "orders, executions); it was probably never received, and it will not be "
                    "sent again: submit a new attempt if the plan is still valid",
                    not_found_at_ib=True,
                )

    # ------------------------------------------------------------------ internals

    def _apply_trade(self, entry: JournalEntry, trade: Trade) -> bool:
        """Move the journal to what IB says about a trade; True if the state changed."""
        kind = parse.classify(trade.orderStatus.status)
        if kind in (parse.IbStatus.PENDING, parse.IbStatus.WARNING):
            return False
        refs = self._refs(entry, trade)
        changed = False
        if entry.state in UNRESOLVED and kind in (parse.IbStatus.WORKING, parse.IbStatus.FILLED):
            changed = self._acknowledge(entry, trade, refs)
        end = parse.ends_as(trade)
        if end is not None:
            changed |= self._end(entry, trade, refs, end, changed)
        if changed:
            self._outbox.poke()
            if end is not None:
                self._order_ended.set()
        return changed

    def _acknowledge(self, entry: JournalEntry, trade: Trade, refs: parse.OrderRefs) -> bool:
        changed = self._journal.transition(
            entry.client_order_id,
            OrderState.ACKED,
            (parse.accepted(trade, refs, self._source),),
            perm_id=refs.perm_id,
        )
        if changed:
            self._metrics.orders.labels(entry.account_id, "accepted").inc()
            timer = self._timers.pop(entry.client_order_id, None)
            if timer is not None:
                timer.cancel()
        return changed

    def _end(
        self, entry: JournalEntry, trade: Trade, refs: parse.OrderRefs, end: str, acked: bool
    ) -> bool:
        """Journal the order's end as IB reports it; True if that changed its state."""
        perm_id = refs.perm_id
        if end == "filled":
            changed = self._journal.transition(
                entry.client_order_id, OrderState.FILLED, perm_id=perm_id
            )
            if changed or acked:
                self._metrics.orders.labels(entry.account_id, "filled").inc()
            return changed
        ending = {
            "cancelled": (OrderState.CANCELLED, parse.cancelled),
            "rejected": (OrderState.REJECTED, parse.rejected),
        }.get(end)
        if ending is None or entry.state == ending[0]:
            return False
        state, event = ending
        changed = self._journal.transition(
            entry.client_order_id, state, (event(trade, refs, self._source),), perm_id=perm_id
        )
        self._metrics.orders.labels(entry.account_id, end).inc()
        return changed

    def _apply_fill(self, fill: Fill, trade: Trade | None) -> bool:
        """Journal and queue one execution (and its commission); True if it was new."""
        ref = fill.execution.orderRef or (trade.order.orderRef if trade else "")
        entry = self._journal.get(ref) if ref else None
        if entry is None or self._journal.has_execution(fill.execution.execId):
            return False
        refs = self._refs(entry, trade)
        if entry.state in UNRESOLVED:
            # Acceptance always precedes a fill on the stream, even when IB's first word
            # about the order is the execution itself.
            self._journal.transition(
                entry.client_order_id,
                OrderState.ACKED,
                (
                    OrderAccepted(
                        source=self._source,
                        **parse.event_ids(refs),
                        side=parse.side_of(fill.execution.side),
                        quantity=entry.quantity,
                        status="Submitted",
                    ),
                ),
                perm_id=refs.perm_id,
            )
        event = parse.filled(fill, refs, entry.quantity, self._source)
        new = self._journal.record_fill(fill.execution.execId, entry.client_order_id, (event,))
        if new:
            self._metrics.fills.labels(entry.account_id).inc()
            commission = parse.commission(fill, refs, self._source)
            if commission is not None:
                self._journal.record_commission(commission.exec_id, commission)
            self._outbox.poke()
        return new

    def _refs(self, entry: JournalEntry, trade: Trade | None) -> parse.OrderRefs:
        ib_order_id = entry.ib_order_id
        perm_id = entry.perm_id
        if trade is not None:
            ib_order_id = trade.order.orderId or ib_order_id
            perm_id = trade.order.permId or trade.orderStatus.permId or perm_id
        return parse.OrderRefs(
            client_order_id=entry.client_order_id,
            plan_id=entry.plan_id,
            account_id=entry.account_id,
            symbol=entry.symbol,
            ib_order_id=ib_order_id,
            perm_id=perm_id or None,
            correlation_id=entry.correlation_id,
        )

    def _mark_unknown(
        self, entry: JournalEntry, reason: str, *, not_found_at_ib: bool = False
    ) -> None:
        event = OrderStatusUnknown(
            source=self._source,
            **parse.event_ids(self._refs(entry, None)),
            reason=reason,
            not_found_at_ib=not_found_at_ib,
        )
        if self._journal.transition(entry.client_order_id, OrderState.UNKNOWN, (event,)):
            self._metrics.orders.labels(entry.account_id, "unknown").inc()
            self._outbox.poke()

    def _ack_overdue(self, client_order_id: str) -> None:
        self._timers.pop(client_order_id, None)
        if not self._gate.is_open:
            return  # disconnected or reconciling: the reconciliation will decide
        entry = self._journal.get(client_order_id)
        if entry is not None and entry.state == OrderState.SENT:
            self._mark_unknown(
                entry, f"IB did not acknowledge the order within {self._ack_timeout_s:g} s"
            )

    def _open_trade_of(self, entry: JournalEntry) -> Trade | None:
        """Return the live trade of this session that is this order, matched by orderRef.

        The trade's order id is the one IB reported (or we placed) on this connection; the
        account and, once known, the perm id must match the journal too.
        """
        for trade in self._ib.openTrades():
            order = trade.order
            if order.orderRef != entry.client_order_id:
                continue
            if order.account and order.account != entry.account_id:
                continue
            perm_id = order.permId or trade.orderStatus.permId
            if entry.perm_id and perm_id and perm_id != entry.perm_id:
                continue
            return trade
        return None

    def on_connected(self) -> None:
        """Never hand out an IB order id the journal already holds (before any order goes).

        IB's nextValidId is one above the ids *it* has seen: ids reserved for orders whose
        bytes never reached it (lost in a disconnect) would be offered again, and the journal
        would then know one id for two orders.
        """
        highest = self._journal.max_ib_order_id()
        if highest is not None:
            self._ib.client.updateReqId(highest + 1)

    async def _answer_duplicate(self, client_order_id: str, account_id: str) -> bool:
        entry = self._journal.get(client_order_id)
        if entry is None:
            return False
        self._metrics.orders.labels(account_id, "duplicate").inc()
        await self._republish(entry)
        return True

    async def _republish(self, entry: JournalEntry) -> None:
        # The same message (same message_id) again: consumers that saw it can tell.
        if entry.last_event is not None:
            await self._publish(catalogue.ORDERS.decode(entry.last_event))

    async def _refuse(self, command: SubmitOrder, reason: Reason) -> None:
        event = OrderRejected(
            source=self._source,
            correlation_id=command.correlation_id,
            client_order_id=command.client_order_id,
            plan_id=command.plan_id or parse.plan_id_of(command.client_order_id),
            account_id=command.account_id,
            symbol=command.symbol,
            reason=f"{reason.code}: {reason.message}",
            field=reason.field,
        )
        try:
            self._journal.record_refusal(_new_order(command), event)
        except AlreadyJournaled:
            await self._answer_duplicate(command.client_order_id, command.account_id)
            return
        self._metrics.orders.labels(command.account_id, f"refused_{reason.code}"[:40]).inc()
        await self._outbox.flush()

    def stop(self) -> None:
        """Cancel pending acknowledgement timers."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()


def _reported_not_found(entry: JournalEntry) -> bool:
    """Whether the last event published for the order said IB does not know it."""
    if entry.state != OrderState.UNKNOWN or entry.last_event is None:
        return False
    try:
        return bool(json.loads(entry.last_event).get("not_found_at_ib"))
    except (ValueError, AttributeError):
        return False


def _new_order(command: SubmitOrder) -> NewOrder:
    return NewOrder(
        client_order_id=command.client_order_id,
        plan_id=command.plan_id or parse.plan_id_of(command.client_order_id),
        account_id=command.account_id,
        symbol=command.symbol,
        side=command.side.value,
        quantity=command.quantity,
        command=command.model_dump_json(),
    )
