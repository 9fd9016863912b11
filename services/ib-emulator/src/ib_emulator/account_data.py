"""Account data for subscribers: account updates, account summary, updates multi and PnL.

IB sends a full set when a client subscribes, then changes: on every fill (account updates,
PnL), on price moves (PnL), and every ``account_updates.period_seconds`` for what changed
without a fill (account summary, account values and updates multi; 180 s at IB).
"""

from __future__ import annotations

from decimal import Decimal

from . import encoders as enc
from .accounts import Account, Position
from .context import EmulatorContext
from .scenario import InstrumentSpec
from .session import Session, SummarySubscription

SUMMARY_TAGS = frozenset({
    "AccountType", "NetLiquidation", "TotalCashValue", "SettledCash", "AccruedCash",
    "BuyingPower", "EquityWithLoanValue", "PreviousDayEquityWithLoanValue",
    "GrossPositionValue", "RegTEquity", "RegTMargin", "SMA", "InitMarginReq", "MaintMarginReq",
    "AvailableFunds", "ExcessLiquidity", "Cushion", "FullInitMarginReq", "FullMaintMarginReq",
    "FullAvailableFunds", "FullExcessLiquidity", "LookAheadNextChange", "LookAheadInitMarginReq",
    "LookAheadMaintMarginReq", "LookAheadAvailableFunds", "LookAheadExcessLiquidity",
    "HighestSeverity", "DayTradesRemaining", "Leverage",
})  # fmt: skip
LEDGER_TAGS = frozenset({
    "Currency", "ExchangeRate", "CashBalance", "TotalCashBalance", "AccruedCash",
    "StockMarketValue", "OptionMarketValue", "FutureOptionValue", "FuturesPNL",
    "NetLiquidationByCurrency", "UnrealizedPnL", "RealizedPnL", "NetDividend",
})  # fmt: skip

Row = tuple[str, str, str, str]  # account, tag, value, currency


# ------------------------------------------------------------ account updates
def send_account_update(
    ctx: EmulatorContext, s: Session, account: str, full: bool, symbols: list[str] | None = None
) -> None:
    """updateAccountValue for every tag, updatePortfolio rows, and the account time."""
    b = ctx.broker
    acct = b.accounts[account]
    sent = s.subs.account_values_sent
    for tag, value, ccy in acct.values(b.prices):
        s.send(enc.account_value(tag, value, ccy, account))
        sent[(tag, ccy)] = value
    for sym, p in _portfolio(acct):
        if symbols is not None and sym not in symbols:
            continue
        if p.quantity == 0 and full:
            continue
        _send_portfolio_row(ctx, s, account, sym)
    s.send(enc.account_time(ctx.clock()))


def _portfolio(acct: Account) -> list[tuple[str, Position]]:
    """Portfolio rows: stocks, then IB's FX-portfolio positions."""
    return [*acct.positions.items(), *acct.fx_positions.items()]


def _position(acct: Account, inst: InstrumentSpec) -> Position:
    if inst.sec_type == "CASH":
        return acct.fx_position(inst.symbol)
    return acct.position(inst.symbol)


def _send_portfolio_row(ctx: EmulatorContext, s: Session, account: str, symbol: str) -> None:
    b = ctx.broker
    inst = b.scenario.instrument(symbol)
    assert inst is not None
    p = _position(b.accounts[account], inst)
    mark = b.mark(symbol)
    s.subs.portfolio_sent[symbol] = (p.quantity, mark)
    s.send(
        enc.portfolio_value(
            inst, p.quantity, mark, p.average_cost, p.unrealized(mark), p.realized_pnl, account
        )
    )


def send_changed_account_values(ctx: EmulatorContext, s: Session) -> None:
    """The periodic account update: values and portfolio rows that changed, then the time."""
    account = s.subs.account_updates
    if account is None:
        return
    b = ctx.broker
    acct = b.accounts[account]
    sent = s.subs.account_values_sent
    changed = False
    for tag, value, ccy in acct.values(b.prices):
        if sent.get((tag, ccy)) != value:
            s.send(enc.account_value(tag, value, ccy, account))
            sent[(tag, ccy)] = value
            changed = True
    for sym, p in _portfolio(acct):
        if p.quantity != 0 and s.subs.portfolio_sent.get(sym) != (p.quantity, b.mark(sym)):
            _send_portfolio_row(ctx, s, account, sym)
            changed = True
    if changed:
        s.send(enc.account_time(ctx.clock()))


def send_account_multi(
    ctx: EmulatorContext, s: Session, req_id: int, changed_only: bool = False
) -> None:
    """accountUpdateMulti rows for a subscription (all of them, or those that changed)."""
    accounts, model = s.subs.account_multi[req_id]
    sent = s.subs.account_multi_sent.setdefault(req_id, {})
    b = ctx.broker
    for account in accounts:
        for tag, value, ccy in b.accounts[account].values(b.prices):
            if changed_only and sent.get((account, tag, ccy)) == value:
                continue
            s.send(enc.account_update_multi(req_id, account, model, tag, value, ccy))
            sent[(account, tag, ccy)] = value


# ------------------------------------------------------------ account summary
def _wants(tags: frozenset[str], tag: str, ccy: str) -> bool:
    if tag in LEDGER_TAGS:
        if "$LEDGER:ALL" in tags:
            return True
        if "$LEDGER" in tags:
            return ccy == "BASE"
        return f"$LEDGER:{ccy}" in tags
    return tag in tags and tag in SUMMARY_TAGS and ccy != "BASE"


def summary_rows(ctx: EmulatorContext, tags: frozenset[str]) -> list[Row]:
    """The requested account summary rows of every account."""
    b = ctx.broker
    return [
        (acct.id, tag, value, ccy)
        for acct in b.accounts.values()
        for tag, value, ccy in acct.values(b.prices)
        if _wants(tags, tag, ccy)
    ]


def send_account_summary(ctx: EmulatorContext, s: Session, req_id: int) -> None:
    """The full summary of a new subscription, then accountSummaryEnd."""
    sub = s.subs.account_summary[req_id]
    for account, tag, value, ccy in summary_rows(ctx, sub.tags):
        s.send(enc.account_summary(req_id, account, tag, value, ccy))
        sub.sent[(account, tag, ccy)] = value
    s.send(enc.account_summary_end(req_id))


def send_changed_summary(ctx: EmulatorContext, s: Session, req_id: int) -> None:
    """The periodic summary update: only rows whose value changed since last sent."""
    sub: SummarySubscription = s.subs.account_summary[req_id]
    for account, tag, value, ccy in summary_rows(ctx, sub.tags):
        if sub.sent.get((account, tag, ccy)) != value:
            s.send(enc.account_summary(req_id, account, tag, value, ccy))
            sub.sent[(account, tag, ccy)] = value


def refresh(ctx: EmulatorContext, s: Session) -> None:
    """What IB re-sends on its account update period: changed summary and account values."""
    if not s.is_api_ready:
        return
    for req_id in list(s.subs.account_summary):
        send_changed_summary(ctx, s, req_id)
    for req_id in list(s.subs.account_multi):
        send_account_multi(ctx, s, req_id, changed_only=True)
    send_changed_account_values(ctx, s)


# ------------------------------------------------------------------------ PnL
def send_pnl(ctx: EmulatorContext, s: Session, req_id: int) -> None:
    """One pnl message for a subscription."""
    account, _model = s.subs.pnl[req_id]
    acct = ctx.broker.accounts[account]
    p = ctx.broker.prices
    s.send(enc.pnl(req_id, acct.daily_pnl(p), acct.unrealized(p), acct.realized(p)))


def send_pnl_single(ctx: EmulatorContext, s: Session, req_id: int) -> None:
    """One pnlSingle message: daily PnL counts from the session start, as the account's;
    amounts in the account's base currency, like the account's PnL."""
    account, _model, con_id = s.subs.pnl_single[req_id]
    b = ctx.broker
    inst = next(i for i in ctx.scenario.instruments if i.con_id == con_id)
    acct = b.accounts[account]
    pos = _position(acct, inst)
    mark: Decimal = b.mark(inst.symbol)
    rate = b.rates.rate(inst.currency, acct.base_currency)
    s.send(
        enc.pnl_single(
            req_id, pos.quantity, pos.daily_pnl(mark) * rate, pos.unrealized(mark) * rate,
            pos.realized_pnl * rate, pos.quantity * mark * rate,
        )
    )  # fmt: skip
