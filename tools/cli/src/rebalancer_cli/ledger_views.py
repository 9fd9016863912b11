"""The ledger's trades and PnL as rich tables (digits grouped) and CSV rows (plain numbers).

Trade CSV columns match the run reports' ``rebalance_post_*.csv`` where they overlap:
``account_id, plan_id, leg, client_order_id, symbol, side`` as they are, ``filled_quantity``
(the execution's quantity), ``average_price`` (4 places), ``value`` and ``commission``
(2 places); then ``executed_at, exec_id, realized_pnl, external, commission_currency``.
"""

from __future__ import annotations

from decimal import Decimal

from rich.table import Table

from shared.contracts.ledger import AccountPnl, PnlView, PositionPnl, Trade
from shared.plans.rows import number

TRADE_COLUMNS = (
    "account_id",
    "plan_id",
    "leg",
    "client_order_id",
    "symbol",
    "side",
    "filled_quantity",
    "average_price",
    "value",
    "commission",
    "executed_at",
    "exec_id",
    "realized_pnl",
    "external",
    "commission_currency",
)
PNL_COLUMNS = (
    "row",
    "account_id",
    "symbol",
    "currency",
    "quantity",
    "average_cost",
    "market_price",
    "unrealized_pnl",
    "unrealized_source",
    "realized_pnl",
    "realized_today",
    "daily_pnl",
    "daily_source",
    "total_pnl",
    "commissions",
    "trades",
    "complete",
)


def plain(value: Decimal | None, places: int = 2) -> str:
    """A plain number for a file (``1234.50``); empty for none."""
    return "" if value is None else number(value, places, grouped=False)


def _qty(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text


def trade_csv_row(trade: Trade) -> dict[str, str]:
    """One trade as a CSV row of :data:`TRADE_COLUMNS`."""
    return {
        "account_id": trade.account_id,
        "plan_id": trade.plan_id or "",
        "leg": "" if trade.leg is None else str(trade.leg),
        "client_order_id": trade.client_order_id,
        "symbol": trade.symbol,
        "side": trade.side.value,
        "filled_quantity": _qty(trade.quantity),
        "average_price": plain(trade.price, 4),
        "value": plain(trade.value),
        "commission": plain(trade.commission),
        "executed_at": trade.executed_at.isoformat().replace("+00:00", "Z"),
        "exec_id": trade.exec_id,
        "realized_pnl": plain(trade.realized_pnl),
        "external": "true" if trade.external else "false",
        "commission_currency": trade.commission_currency or "",
    }


def _position_row(account: AccountPnl, p: PositionPnl) -> dict[str, str]:
    return {
        "row": "position",
        "account_id": account.account_id,
        "symbol": p.symbol,
        "currency": p.currency,
        "quantity": _qty(p.quantity),
        "average_cost": plain(p.average_cost, 4),
        "market_price": plain(p.market_price, 4),
        "unrealized_pnl": plain(p.unrealized_pnl),
        "unrealized_source": p.unrealized_source or "",
        "realized_pnl": plain(p.realized_pnl),
        "realized_today": plain(p.realized_today),
        "daily_pnl": plain(p.daily_pnl),
        "daily_source": p.daily_source or "",
        "total_pnl": plain(p.total_pnl),
        "commissions": plain(p.commissions),
        "trades": str(p.trades),
        "complete": "",
    }


def _account_row(account: AccountPnl) -> dict[str, str]:
    return {
        "row": "account",
        "account_id": account.account_id,
        "symbol": "",
        "currency": account.currency,
        "unrealized_pnl": plain(account.unrealized_pnl),
        "realized_pnl": plain(account.realized_pnl),
        "daily_pnl": plain(account.daily_pnl),
        "daily_source": account.daily_source or "",
        "total_pnl": plain(account.total_pnl),
        "complete": "true" if account.complete else "false",
    }


def pnl_csv_rows(view: PnlView) -> list[dict[str, str]]:
    """One row per position, then one per account (``row`` says which)."""
    rows = []
    for account in view.accounts:
        rows += [_position_row(account, p) for p in account.positions]
        rows.append(_account_row(account))
    return rows


def pnl_tables(view: PnlView) -> list[Table]:
    """One table per account: its positions, then its totals."""
    tables = []
    for account in view.accounts:
        table = Table(
            title=f"PnL {account.account_id} ({account.currency}), day from "
            f"{view.day_start:%Y-%m-%d %H:%M} UTC"
        )
        for column in ("Symbol", "Qty", "Avg Cost", "Price", "Unrealized", "Realized", "Daily"):
            table.add_column(column, justify="left" if column == "Symbol" else "right")
        table.add_column("Total", justify="right")
        for p in account.positions:
            table.add_row(
                p.symbol,
                _qty(p.quantity),
                number(p.average_cost, 4),
                number(p.market_price, 4),
                number(p.unrealized_pnl),
                number(p.realized_pnl),
                number(p.daily_pnl),
                number(p.total_pnl),
            )
        table.add_section()
        table.add_row(
            "Account",
            "",
            "",
            "",
            number(account.unrealized_pnl),
            number(account.realized_pnl),
            number(account.daily_pnl),
            number(account.total_pnl),
        )
        if not account.complete:
            table.caption = f"incomplete: no price for {', '.join(account.unpriced)}"
        elif account.other_currencies:
            table.caption = f"not in the totals: {', '.join(account.other_currencies)}"
        tables.append(table)
    return tables


def trades_table(trades: list[Trade]) -> Table:
    """The trades, as the run report names them."""
    table = Table(title=f"Trades ({len(trades)})")
    for column in ("Executed (UTC)", "Account", "Symbol", "Side", "Qty", "Price", "Value"):
        table.add_column(column, justify="right" if column in ("Qty", "Price", "Value") else "left")
    for column in ("Commission", "Realized"):
        table.add_column(column, justify="right")
    table.add_column("Order")
    for t in trades:
        table.add_row(
            f"{t.executed_at:%Y-%m-%d %H:%M:%S}",
            t.account_id,
            t.symbol,
            t.side.value,
            _qty(t.quantity),
            number(t.price, 4),
            number(t.value),
            number(t.commission),
            number(t.realized_pnl),
            f"{t.client_order_id} (external)" if t.external else t.client_order_id,
        )
    return table
