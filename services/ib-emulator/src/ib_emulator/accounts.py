"""Accounts: cash, positions with average cost, realized and unrealized PnL, account values.

Pure and synchronous. Average cost includes commissions and realized PnL is net of them,
as IB reports both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from .scenario import AccountSpec

ZERO = Decimal(0)


def _m(v: Decimal) -> str:
    return f"{v:.2f}"


# RegT-style requirements; a cash account must pay for everything in full.
INIT_MARGIN = {"margin": Decimal("0.5"), "cash": Decimal("1")}
MAINT_MARGIN = {"margin": Decimal("0.25"), "cash": Decimal("1")}

Mark = Callable[[str], Decimal]


@dataclass
class Position:
    """Holding of one symbol in one account."""

    symbol: str
    quantity: Decimal = ZERO
    average_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO  # since the session started (today)
    start_unrealized: Decimal = ZERO  # unrealized PnL when the session started

    def unrealized(self, mark: Decimal) -> Decimal:
        """Unrealized PnL at a mark."""
        return self.quantity * (mark - self.average_cost)

    def daily_pnl(self, mark: Decimal) -> Decimal:
        """Today's realized plus the change in unrealized since the session started."""
        return self.realized_pnl + self.unrealized(mark) - self.start_unrealized

    def apply_fill(self, signed_qty: Decimal, price: Decimal, commission: Decimal) -> Decimal:
        """Apply a fill; return the realized PnL it produced (net of commission)."""
        qty = self.quantity
        realized = ZERO
        if qty == 0 or (qty > 0) == (signed_qty > 0):
            new_qty = qty + signed_qty
            cost = qty * self.average_cost + signed_qty * price + commission
            self.average_cost = cost / new_qty
            self.quantity = new_qty
        else:
            closing = min(abs(signed_qty), abs(qty))
            direction = Decimal(1) if qty > 0 else Decimal(-1)
            realized = closing * (price - self.average_cost) * direction - commission
            remainder = abs(signed_qty) - closing
            self.quantity = qty + signed_qty
            if self.quantity == 0:
                self.average_cost = ZERO
            elif remainder > 0:
                # Crossed through zero: the rest opens a new position at the fill price.
                self.average_cost = price
        self.realized_pnl += realized
        return realized


@dataclass
class Account:
    """One paper account."""

    id: str
    base_currency: str
    account_type: str
    cash: Decimal
    positions: dict[str, Position] = field(default_factory=dict)
    realized_pnl: Decimal = ZERO
    start_unrealized: Decimal = ZERO

    @classmethod
    def from_spec(cls, spec: AccountSpec) -> Account:
        """Build the starting state from the scenario."""
        acct = cls(spec.id, spec.base_currency, spec.account_type, spec.cash)
        for p in spec.positions:
            acct.positions[p.symbol] = Position(p.symbol, p.quantity, p.average_cost)
        return acct

    def position(self, symbol: str) -> Position:
        """The position in a symbol (created flat if absent)."""
        return self.positions.setdefault(symbol, Position(symbol))

    def apply_fill(
        self, symbol: str, signed_qty: Decimal, price: Decimal, commission: Decimal
    ) -> Decimal:
        """Move cash and position for one execution; return realized PnL."""
        self.cash -= signed_qty * price + commission
        realized = self.position(symbol).apply_fill(signed_qty, price, commission)
        self.realized_pnl += realized
        return realized

    def unrealized(self, mark: Mark) -> Decimal:
        """Unrealized PnL over all positions at the given marks."""
        return sum(
            (p.quantity * (mark(s) - p.average_cost) for s, p in self.positions.items()),
            ZERO,
        )

    def gross_value(self, mark: Mark) -> Decimal:
        """Sum of absolute market values."""
        return sum((abs(p.quantity * mark(s)) for s, p in self.positions.items()), ZERO)

    def net_liquidation(self, mark: Mark) -> Decimal:
        """Cash plus market value of positions."""
        return self.cash + sum((p.quantity * mark(s) for s, p in self.positions.items()), ZERO)

    def margin(self, gross: Decimal) -> tuple[Decimal, Decimal]:
        """Initial and maintenance requirement for a gross position value."""
        return gross * INIT_MARGIN[self.account_type], gross * MAINT_MARGIN[self.account_type]

    def available_funds(self, mark: Mark) -> Decimal:
        """Equity with loan minus initial margin."""
        init, _ = self.margin(self.gross_value(mark))
        return self.net_liquidation(mark) - init

    def buying_power(self, mark: Mark) -> Decimal:
        """How much stock could be bought now."""
        avail = self.available_funds(mark)
        return avail / INIT_MARGIN[self.account_type]

    def start_session(self, mark: Mark) -> None:
        """Remember unrealized PnL now: daily PnL counts from here."""
        for s, p in self.positions.items():
            p.start_unrealized = p.unrealized(mark(s))
        self.start_unrealized = self.unrealized(mark)

    def ledger(self, mark: Mark) -> list[tuple[str, str, str]]:
        """The cash ledger: each tag once per currency held and once as ``BASE``.

        Every value is in the base currency (the emulator converts nothing), so the
        currency rows and the BASE rows carry the same figures, as IB's do for an account
        holding only its base currency.
        """
        stock = sum((p.quantity * mark(s) for s, p in self.positions.items()), ZERO)
        unreal = self.unrealized(mark)
        rows: list[tuple[str, str, str]] = []
        for ccy in (self.base_currency, "BASE"):
            rows += [
                ("Currency", self.base_currency, ccy),
                ("ExchangeRate", "1.00", ccy),
                ("CashBalance", _m(self.cash), ccy),
                ("TotalCashBalance", _m(self.cash), ccy),
                ("AccruedCash", "0.00", ccy),
                ("StockMarketValue", _m(stock), ccy),
                ("OptionMarketValue", "0.00", ccy),
                ("FutureOptionValue", "0.00", ccy),
                ("FuturesPNL", "0.00", ccy),
                ("NetLiquidationByCurrency", _m(self.cash + stock), ccy),
                ("UnrealizedPnL", _m(unreal), ccy),
                ("RealizedPnL", _m(self.realized_pnl), ccy),
                ("NetDividend", "0.00", ccy),
            ]
        return rows

    def values(self, mark: Mark) -> list[tuple[str, str, str]]:
        """Account values as IB names them: (tag, value, currency), the ledger included."""
        ccy = self.base_currency
        gross = self.gross_value(mark)
        nlv = self.net_liquidation(mark)
        init, maint = self.margin(gross)
        m = _m
        return [
            ("AccountCode", self.id, ""),
            ("AccountType", "INDIVIDUAL", ""),
            ("AccountReady", "true", ""),
            *self.ledger(mark),
            ("TotalCashValue", m(self.cash), ccy),
            ("SettledCash", m(self.cash), ccy),
            ("NetLiquidation", m(nlv), ccy),
            ("EquityWithLoanValue", m(nlv), ccy),
            ("GrossPositionValue", m(gross), ccy),
            ("InitMarginReq", m(init), ccy),
            ("MaintMarginReq", m(maint), ccy),
            ("FullInitMarginReq", m(init), ccy),
            ("FullMaintMarginReq", m(maint), ccy),
            ("AvailableFunds", m(nlv - init), ccy),
            ("FullAvailableFunds", m(nlv - init), ccy),
            ("ExcessLiquidity", m(nlv - maint), ccy),
            ("FullExcessLiquidity", m(nlv - maint), ccy),
            ("BuyingPower", m(self.buying_power(mark)), ccy),
            ("Cushion", f"{((nlv - maint) / nlv) if nlv else ZERO:.4f}", ""),
        ]

    def daily_pnl(self, mark: Mark) -> Decimal:
        """Realized today plus the change in unrealized since the session started."""
        return self.realized_pnl + self.unrealized(mark) - self.start_unrealized
