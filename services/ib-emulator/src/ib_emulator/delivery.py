"""Who hears what: order events, account changes and quotes turned into client messages."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from . import account_data
from . import encoders as enc
from .context import EmulatorContext
from .market import Quote
from .matching import ErrorReported, OrderChanged, OrderEvent, OrderExecuted
from .session import Session


def order_events(
    ctx: EmulatorContext, owners: dict[int, Session], events: list[OrderEvent]
) -> None:
    """Send order events to the client id that placed each order, and to the master API
    client id when one is set (IB's "Master API client ID"); then account changes."""
    touched: set[tuple[str, str]] = set()
    master = ctx.scenario.master_client_id
    for ev in events:
        hearers = [owners.get(ev.order.client_id)]
        if (
            master is not None
            and master != ev.order.client_id
            and not isinstance(ev, ErrorReported)
        ):
            hearers.append(owners.get(master))  # errors go to the order's own client only
        for s in hearers:
            if s is not None:
                _send_order_event(s, ev)
        if isinstance(ev, OrderExecuted):
            touched.add((ev.order.account, ev.order.instrument.symbol))
    for account, symbol in touched:
        account_changed(ctx, account, symbol)


def _send_order_event(s: Session, ev: OrderEvent) -> None:
    if isinstance(ev, OrderChanged):
        s.send(enc.open_order(ev.order))
        s.send(enc.order_status(ev.order))
    elif isinstance(ev, OrderExecuted):
        o, e = ev.order, ev.execution
        # execDetails before commissionReport, and after the openOrder that
        # carried the permId: ib_async attaches reports only in that order.
        s.send(enc.exec_details(-1, o, e))
        s.send(enc.open_order(o))
        s.send(enc.order_status(o))
        s.send(enc.commission_report(e))
    elif isinstance(ev, ErrorReported):
        s.error(ev.order.order_id, ev.code, ev.message)


def account_changed(ctx: EmulatorContext, account: str, symbol: str) -> None:
    """A fill moved an account: positions, account updates, multi and PnL subscribers."""
    b = ctx.broker
    inst = b.scenario.instrument(symbol)
    assert inst is not None
    held = b.accounts[account]
    pos = held.fx_position(symbol) if inst.sec_type == "CASH" else held.position(symbol)
    # With the fault, account values wait for the periodic update (IB's trail the fills).
    values_now = not ctx.fault_state.lag_account_values
    for s in _ready(ctx.clients()):
        subs = s.subs
        if subs.positions:
            s.send(enc.position(account, inst, pos.quantity, pos.average_cost))
        if subs.account_updates == account and values_now:
            account_data.send_account_update(ctx, s, account, full=False, symbols=[symbol])
        for req_id, (accounts, _model) in subs.account_multi.items():
            if account in accounts and values_now:
                account_data.send_account_multi(ctx, s, req_id)
        for req_id, (acct, _m) in subs.pnl.items():
            if acct == account:
                account_data.send_pnl(ctx, s, req_id)
        for req_id, (acct, _m, _c) in subs.pnl_single.items():
            if acct == account:
                account_data.send_pnl_single(ctx, s, req_id)


def quotes(ctx: EmulatorContext, changed: list[Quote]) -> None:
    """New quotes: ticks to market data subscribers, PnL to PnL subscribers."""
    by_symbol = {q.symbol: q for q in changed}
    delayed = ctx.scenario.market_data_type == "delayed"
    nan = ctx.fault_state.nan_prices
    fx = {q.symbol for q in changed if _is_fx(ctx, q.symbol)}
    for s in list(ctx.clients()):
        for req_id, symbol in s.subs.market_data.items():
            q = by_symbol.get(symbol)
            if q is not None:
                for msg in enc.quote_ticks(req_id, q, delayed, nan, fx=symbol in fx, changed=True):
                    s.send(msg)
        for req_id in s.subs.pnl:
            account_data.send_pnl(ctx, s, req_id)
        for req_id in s.subs.pnl_single:
            account_data.send_pnl_single(ctx, s, req_id)


def _is_fx(ctx: EmulatorContext, symbol: str) -> bool:
    inst = ctx.scenario.instrument(symbol)
    return inst is not None and inst.sec_type == "CASH"


def trade_prints(ctx: EmulatorContext, now: datetime) -> None:
    """A trade at the last price on every subscribed stock whose session is on: size,
    volume and time ticks.

    A liquid stock trades many times a second in its session, so IB keeps sending last
    size, volume and last-timestamp ticks even while prices stand still; clients see the
    quote's time advance. IDEALPRO reports no trades: FX pairs print none.
    """
    if ctx.fault_state.nan_prices:
        return
    delayed = ctx.scenario.market_data_type == "delayed"
    epoch = int(now.timestamp())
    b = ctx.broker
    trading = set()
    for sym in {sym for s in ctx.clients() for sym in s.subs.market_data.values()}:
        inst = ctx.scenario.instrument(sym)
        if inst is not None and inst.sec_type != "CASH" and b.hours_for(inst).is_trading(now):
            trading.add(sym)
    volumes = ctx.market.print_trades(trading)
    for s in list(ctx.clients()):
        for req_id, symbol in s.subs.market_data.items():
            if symbol not in trading:
                continue
            q = ctx.market.quote(symbol)
            for msg in enc.trade_print(req_id, q, volumes[symbol], epoch, delayed):
                s.send(msg)


def _ready(sessions: Iterable[Session]) -> list[Session]:
    return [s for s in sessions if s.is_api_ready]
