"""Order events to trade rows: a fill and its commission report, joined by ``exec_id``.

IB reports an execution twice: ``execDetails`` (the fill) and ``commissionReport`` (its
commission and realized PnL), in either order, and the bridge turns them into
``OrderFilled`` and ``CommissionReported``. The ledger stores each half as it arrives in one
row keyed by ``exec_id``; a trade is a row whose fill half is there, its commission half may
follow. Each half is written once (first write wins), so a redelivered or replayed event
changes nothing.

IB corrects an execution by sending it again with an ``exec_id`` that differs only after the
last period (``....01.01`` corrected by ``....01.02``): the higher revision supersedes the
lower, which stays stored (an audit trail) but leaves every query and every sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from shared.contracts.base import Side
from shared.contracts.ledger import Trade
from shared.contracts.orders import EXTERNAL_PREFIX, CommissionReported, OrderFilled


@dataclass(frozen=True)
class ExecRevision:
    """An ``exec_id`` split into the execution it names and its correction number."""

    base: str
    revision: int


def exec_revision(exec_id: str) -> ExecRevision:
    """Split ``exec_id`` at its last period; an id without a numeric tail is revision 0."""
    base, dot, tail = exec_id.rpartition(".")
    if dot and base and tail.isdigit():
        return ExecRevision(base, int(tail))
    return ExecRevision(exec_id, 0)


def leg_of(client_order_id: str) -> tuple[str, int] | None:
    """Return (plan_id, leg) of one of our ``<plan>.<leg>.<attempt>`` ids, else None."""
    head, _, attempt = client_order_id.rpartition(".")
    plan_id, _, leg = head.rpartition(".")
    if not plan_id or not leg.isdigit() or not attempt.isdigit():
        return None
    return plan_id, int(leg)


def is_external(client_order_id: str, flagged: bool) -> bool:
    """An execution is external when the bridge says so or its id is ``external:...``."""
    return flagged or client_order_id.startswith(EXTERNAL_PREFIX)


@dataclass(frozen=True)
class FillPart:
    """The fill half of a trade (from OrderFilled)."""

    exec_id: str
    exec_base: str
    exec_revision: int
    account_id: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    executed_at: datetime
    client_order_id: str
    plan_id: str | None
    leg: int | None
    ib_order_id: int | None
    perm_id: int | None
    external: bool
    correlation_id: str | None
    recorded_at: datetime


@dataclass(frozen=True)
class CommissionPart:
    """The commission half of a trade (from CommissionReported)."""

    exec_id: str
    account_id: str
    symbol: str | None
    commission: Decimal
    currency: str
    realized_pnl: Decimal | None
    recorded_at: datetime


def fill_part(event: OrderFilled, recorded_at: datetime) -> FillPart:
    """Return the fill half of the trade an OrderFilled reports."""
    revision = exec_revision(event.exec_id)
    external = is_external(event.client_order_id, event.external)
    parsed = None if external else leg_of(event.client_order_id)
    return FillPart(
        exec_id=event.exec_id,
        exec_base=revision.base,
        exec_revision=revision.revision,
        account_id=event.account_id,
        symbol=event.symbol or "",
        side=event.side,
        quantity=event.last_quantity,
        price=event.last_price,
        executed_at=event.ts_event,
        client_order_id=event.client_order_id,
        plan_id=None if external else (event.plan_id or (parsed[0] if parsed else None)),
        leg=parsed[1] if parsed else None,
        ib_order_id=event.ib_order_id,
        perm_id=event.perm_id,
        external=external,
        correlation_id=event.correlation_id,
        recorded_at=recorded_at,
    )


def commission_part(event: CommissionReported, recorded_at: datetime) -> CommissionPart:
    """Return the commission half of the trade a CommissionReported reports."""
    return CommissionPart(
        exec_id=event.exec_id,
        account_id=event.account_id,
        symbol=event.symbol,
        commission=event.commission,
        currency=event.currency,
        realized_pnl=event.realized_pnl,
        recorded_at=recorded_at,
    )


@dataclass(frozen=True)
class TradeRecord:
    """A stored trade: its fill, and its commission once reported."""

    fill: FillPart
    commission: Decimal | None = None
    commission_currency: str | None = None
    realized_pnl: Decimal | None = None

    @property
    def signed_quantity(self) -> Decimal:
        """Shares bought (positive) or sold (negative)."""
        return self.fill.quantity if self.fill.side == Side.BUY else -self.fill.quantity

    @property
    def value(self) -> Decimal:
        """Quantity times price."""
        return self.fill.quantity * self.fill.price

    def to_contract(self) -> Trade:
        """Return the row as the ``Trade`` of ``rpc.ledger.v1``."""
        f = self.fill
        return Trade(
            exec_id=f.exec_id,
            account_id=f.account_id,
            symbol=f.symbol,
            side=f.side,
            quantity=f.quantity,
            price=f.price,
            value=self.value,
            executed_at=f.executed_at,
            client_order_id=f.client_order_id,
            plan_id=f.plan_id,
            leg=f.leg,
            ib_order_id=f.ib_order_id,
            perm_id=f.perm_id,
            external=f.external,
            correlation_id=f.correlation_id,
            commission=self.commission,
            commission_currency=self.commission_currency,
            realized_pnl=self.realized_pnl,
            recorded_at=f.recorded_at,
        )


@dataclass(frozen=True)
class RealizedTotal:
    """What the ledger's trades add up to for one account and symbol."""

    account_id: str
    symbol: str
    realized_pnl: Decimal
    commissions: Decimal
    trades: int


def realized_totals(trades: list[TradeRecord]) -> list[RealizedTotal]:
    """Sum realized PnL, commissions and trade counts per account and symbol."""
    sums: dict[tuple[str, str], tuple[Decimal, Decimal, int]] = {}
    for trade in trades:
        key = (trade.fill.account_id, trade.fill.symbol)
        realized, commissions, count = sums.get(key, (Decimal(0), Decimal(0), 0))
        sums[key] = (
            realized + (trade.realized_pnl or Decimal(0)),
            commissions + (trade.commission or Decimal(0)),
            count + 1,
        )
    return [
        RealizedTotal(account, symbol, realized, commissions, count)
        for (account, symbol), (realized, commissions, count) in sorted(sums.items())
    ]
