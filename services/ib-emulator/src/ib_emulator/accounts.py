"""Accounts: cash per currency, positions with average cost, realized and unrealized PnL,
and account values as IB names them, per currency and in the base currency.

Pure and synchronous. Average cost includes commissions and realized PnL is net of them,
as IB reports both. A position's amounts are in its instrument's currency; an account's
totals (net liquidation, margin, buying power, PnL) in its base currency. Trading a
security in a currency the account does not hold leaves that currency's cash negative: IB
converts nothing by itself ("IB will create a loan for those funds", ibkr.info/node/722).
FX pairs bought or sold on IDEALPRO also show as positions (IB's FX portfolio: quantity in
the pair's base currency, average price in its quote currency); their value is already in
the cash balances, so they count in PnL but not in net liquidation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from .scenario import AccountSpec

ZERO = Decimal(0)


def _m(v: Decimal) -> str:
    return f"{v:.2f}"


def _rate(v: Decimal) -> str:
    # IB sends 1.00 for the base currency and seven significant digits for the others
    # ("0.8303924", "7.786325").
    return "1.00" if v == 1 else f"{v:.7g}"


# RegT-style requirements; a cash account must pay for everything in full.
INIT_MARGIN = {"margin": Decimal("0.5"), "cash": Decimal("1")}
MAINT_MARGIN = {"margin": Decimal("0.25"), "cash": Decimal("1")}


@dataclass(frozen=True)
class Prices:
    """What valuing an account needs, at this moment."""

    mark: Callable[[str], Decimal]  # a symbol's price per unit, in its currency
    currency: Callable[[str], str]  # a symbol's currency (an FX pair's: its quote)
    rate: Callable[[str, str], Decimal]  # how many of the second one of the first is worth


@dataclass
class Position:
    """Holding of one symbol in one account (amounts in the symbol's currency)."""

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
    cash: dict[str, Decimal]
    positions: dict[str, Position] = field(default_factory=dict)
    fx_positions: dict[str, Position] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: AccountSpec) -> Account:
        """Build the starting state from the scenario."""
        cash = {spec.base_currency: ZERO, **spec.cash}
        acct = cls(spec.id, spec.base_currency, spec.account_type, cash)
        for p in spec.positions:
            acct.positions[p.symbol] = Position(p.symbol, p.quantity, p.average_cost)
        return acct

    def position(self, symbol: str) -> Position:
        """The position in a symbol (created flat if absent)."""
        return self.positions.setdefault(symbol, Position(symbol))

    def fx_position(self, pair: str) -> Position:
        """The FX-portfolio position in a pair (created flat if absent)."""
        return self.fx_positions.setdefault(pair, Position(pair))

    # ------------------------------------------------------------------ fills
    def apply_fill(
        self, symbol: str, currency: str, signed_qty: Decimal, price: Decimal, commission: Decimal
    ) -> Decimal:
        """Move cash and position for one stock execution (price and commission in the
        stock's currency); return realized PnL."""
        self.cash[currency] = self.cash.get(currency, ZERO) - (signed_qty * price + commission)
        return self.position(symbol).apply_fill(signed_qty, price, commission)

    def apply_fx_fill(
        self,
        pair: str,
        signed_qty: Decimal,
        price: Decimal,
        commission: Decimal,
        commission_currency: str,
        *,
        fx_position: bool = True,
    ) -> Decimal | None:
        """Move both currencies for one FX execution (``signed_qty`` of the pair's base
        currency at ``price`` in its quote currency); return the FX position's realized PnL
        (in the quote currency), None when it made none."""
        base, quote = pair.split(".")
        self.cash[base] = self.cash.get(base, ZERO) + signed_qty
        self.cash[quote] = self.cash.get(quote, ZERO) - signed_qty * price
        self.cash[commission_currency] = self.cash.get(commission_currency, ZERO) - commission
        if not fx_position:
            return None
        pos = self.fx_position(pair)
        reduces = pos.quantity != 0 and (pos.quantity > 0) != (signed_qty > 0)
        realized = pos.apply_fill(signed_qty, price, ZERO)
        return realized if reduces else None

    # ------------------------------------------------------------- valuation
    def _held(self) -> list[tuple[Position, bool]]:
        return [(p, False) for p in self.positions.values()] + [
            (p, True) for p in self.fx_positions.values()
        ]

    def currencies(self, prices: Prices) -> list[str]:
        """The currencies of the ledger: the base currency first, then the others held."""
        others = {c for c, v in self.cash.items() if v != 0}
        others |= {prices.currency(s) for s, p in self.positions.items() if p.quantity != 0}
        return [self.base_currency, *sorted(others - {self.base_currency})]

    def _to_base(self, prices: Prices, ccy: str, amount: Decimal) -> Decimal:
        if ccy == self.base_currency:
            return amount
        return amount * prices.rate(ccy, self.base_currency)

    def total_cash(self, prices: Prices) -> Decimal:
        """Cash of every currency, in the base currency."""
        return sum((self._to_base(prices, c, v) for c, v in self.cash.items()), ZERO)

    def stock_value(self, prices: Prices, ccy: str | None = None) -> Decimal:
        """Market value of the stock positions: in one currency, or all in the base."""
        total = ZERO
        for s, p in self.positions.items():
            c = prices.currency(s)
            if ccy is None:
                total += self._to_base(prices, c, p.quantity * prices.mark(s))
            elif c == ccy:
                total += p.quantity * prices.mark(s)
        return total

    def gross_value(self, prices: Prices) -> Decimal:
        """Sum of absolute market values, in the base currency."""
        return sum(
            (
                self._to_base(prices, prices.currency(s), abs(p.quantity * prices.mark(s)))
                for s, p in self.positions.items()
            ),
            ZERO,
        )

    def net_liquidation(self, prices: Prices) -> Decimal:
        """Cash plus market value of positions, in the base currency."""
        return self.total_cash(prices) + self.stock_value(prices)

    def _pnl(self, prices: Prices, which: Callable[[Position, Decimal], Decimal]) -> Decimal:
        return sum(
            (
                self._to_base(prices, prices.currency(p.symbol), which(p, prices.mark(p.symbol)))
                for p, _fx in self._held()
            ),
            ZERO,
        )

    def unrealized(self, prices: Prices) -> Decimal:
        """Unrealized PnL over all positions, in the base currency."""
        return self._pnl(prices, Position.unrealized)

    def realized(self, prices: Prices) -> Decimal:
        """Today's realized PnL, in the base currency."""
        return self._pnl(prices, lambda p, _m: p.realized_pnl)

    def daily_pnl(self, prices: Prices) -> Decimal:
        """Realized today plus the change in unrealized since the session started, summed
        over the positions and converted to the base currency."""
        return self._pnl(prices, Position.daily_pnl)

    def margin(self, gross: Decimal) -> tuple[Decimal, Decimal]:
        """Initial and maintenance requirement for a gross position value."""
        return gross * INIT_MARGIN[self.account_type], gross * MAINT_MARGIN[self.account_type]

    def available_funds(self, prices: Prices) -> Decimal:
        """Equity with loan minus initial margin."""
        init, _ = self.margin(self.gross_value(prices))
        return self.net_liquidation(prices) - init

    def buying_power(self, prices: Prices) -> Decimal:
        """How much stock could be bought now, in the base currency."""
        return self.available_funds(prices) / INIT_MARGIN[self.account_type]

    def start_session(self, prices: Prices) -> None:
        """Remember unrealized PnL now: daily PnL counts from here."""
        for p, _fx in self._held():
            p.start_unrealized = p.unrealized(prices.mark(p.symbol))

    # ---------------------------------------------------------- account values
    def _totals(self, prices: Prices) -> dict[str, list[Decimal]]:
        """Per ledger currency: [cash, stock value, gross value, unrealized, realized], in
        that currency; one pass over the positions."""
        totals = {
            c: [self.cash.get(c, ZERO), ZERO, ZERO, ZERO, ZERO] for c in self.currencies(prices)
        }
        for p, fx in self._held():
            ccy = prices.currency(p.symbol)
            row = totals.setdefault(ccy, [ZERO, ZERO, ZERO, ZERO, ZERO])
            mark = prices.mark(p.symbol)
            if not fx:
                row[1] += p.quantity * mark
                row[2] += abs(p.quantity * mark)
            row[3] += p.unrealized(mark)
            row[4] += p.realized_pnl
        return totals

    def _ledger_rows(
        self, tag_ccy: str, cash: Decimal, stock: Decimal, unreal: Decimal, real: Decimal,
        rate: Decimal,
    ) -> list[tuple[str, str, str]]:  # fmt: skip
        ccy = tag_ccy
        return [
            ("Currency", ccy, ccy),
            ("ExchangeRate", _rate(rate), ccy),
            ("CashBalance", _m(cash), ccy),
            ("TotalCashBalance", _m(cash), ccy),
            ("AccruedCash", "0.00", ccy),
            ("StockMarketValue", _m(stock), ccy),
            ("OptionMarketValue", "0.00", ccy),
            ("FutureOptionValue", "0.00", ccy),
            ("FuturesPNL", "0.00", ccy),
            ("NetLiquidationByCurrency", _m(cash + stock), ccy),
            ("UnrealizedPnL", _m(unreal), ccy),
            ("RealizedPnL", _m(real), ccy),
            ("NetDividend", "0.00", ccy),
        ]

    def ledger(self, prices: Prices) -> list[tuple[str, str, str]]:
        """The cash ledger: each tag once per currency held and once as ``BASE``.

        A currency's rows are in that currency, ``ExchangeRate`` is what one unit of it is
        worth in the base currency, and the ``BASE`` rows are the totals converted (IB's
        ``Currency`` row for BASE says ``BASE``).
        """
        return self._ledger(prices, self._totals(prices))[0]

    def _ledger(
        self, prices: Prices, totals: dict[str, list[Decimal]]
    ) -> tuple[list[tuple[str, str, str]], list[Decimal]]:
        rows: list[tuple[str, str, str]] = []
        base = [ZERO, ZERO, ZERO, ZERO, ZERO]
        for ccy, row in totals.items():
            rate = prices.rate(ccy, self.base_currency)
            rows += self._ledger_rows(ccy, row[0], row[1], row[3], row[4], rate)
            for i, v in enumerate(row):
                base[i] += v if ccy == self.base_currency else v * rate
        rows += self._ledger_rows("BASE", base[0], base[1], base[3], base[4], Decimal(1))
        return rows, base

    def values(self, prices: Prices) -> list[tuple[str, str, str]]:
        """Account values as IB names them: (tag, value, currency), the ledger included;
        the account-wide ones in the base currency."""
        ccy = self.base_currency
        ledger, (cash, stock, gross, _u, _r) = self._ledger(prices, self._totals(prices))
        nlv = cash + stock
        init, maint = self.margin(gross)
        power = (nlv - init) / INIT_MARGIN[self.account_type]
        m = _m
        return [
            ("AccountCode", self.id, ""),
            ("AccountType", "INDIVIDUAL", ""),
            ("AccountReady", "true", ""),
            *ledger,
            ("TotalCashValue", m(cash), ccy),
            ("SettledCash", m(cash), ccy),
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
            ("BuyingPower", m(power), ccy),
            ("Cushion", f"{((nlv - maint) / nlv) if nlv else ZERO:.4f}", ""),
        ]
