"""The scenario: accounts, instruments, prices, commissions and fill rules, loaded from YAML.

A bad file fails at start with the file, the field and what was expected, never later.
Several currencies are supported: instruments are priced in their own currency, accounts
hold cash per currency, and FX pairs (``sec_type: CASH``, e.g. ``EUR.USD``) both trade on
IDEALPRO and provide the exchange rates every amount is converted with.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .fx import conversion_path


class ScenarioError(ValueError):
    """A scenario file that cannot be used, with a message naming file and field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PositionSpec(_Model):
    """A starting position; ``average_cost`` is per share, as IB reports it."""

    symbol: str
    quantity: Decimal
    average_cost: Decimal


CCY = r"^[A-Z]{3}$"
PAIR = r"^[A-Z]{3}\.[A-Z]{3}$"


# The order IB names pairs in (EUR.USD, GBP.USD, USD.CAD, EUR.GBP...): the earlier currency
# is the base. Others come after these, alphabetically.
PAIR_PRIORITY = ("EUR", "GBP", "AUD", "NZD", "USD", "CAD", "CHF", "NOK", "SEK", "DKK", "JPY")


def ib_pair(a: str, b: str) -> str:
    """The pair of two currencies as IB names it (``ib_pair("USD", "EUR") == "EUR.USD"``)."""

    def rank(c: str) -> tuple[int, str]:
        return (PAIR_PRIORITY.index(c) if c in PAIR_PRIORITY else len(PAIR_PRIORITY), c)

    first, second = sorted((a, b), key=rank)
    return f"{first}.{second}"


class AccountSpec(_Model):
    """A paper account: ``cash`` is an amount in the base currency, or one per currency."""

    id: str = Field(min_length=1)
    base_currency: str = Field(default="USD", pattern=CCY)
    cash: dict[str, Decimal]
    account_type: Literal["margin", "cash"] = "margin"
    positions: list[PositionSpec] = []

    @model_validator(mode="before")
    @classmethod
    def _cash_in_base(cls, data: object) -> object:
        # ``cash: 25000`` means 25,000 in the base currency (every scenario before
        # multi-currency support says it so).
        if isinstance(data, dict) and not isinstance(data.get("cash", {}), dict):
            base = data.get("base_currency", "USD")
            return {**data, "cash": {base if isinstance(base, str) else "USD": data["cash"]}}
        return data

    @model_validator(mode="after")
    def _check_currencies(self) -> AccountSpec:
        bad = sorted(c for c in self.cash if not re.fullmatch(CCY, c))
        if bad:
            raise ValueError(f"cash: {bad[0]!r} is not a currency code (three capital letters)")
        return self

    @property
    def currencies(self) -> set[str]:
        """The base currency and every currency cash is held in."""
        return {self.base_currency, *self.cash}


class InstrumentSpec(_Model):
    """A stock or ETF, or an FX pair (``sec_type: CASH``), that can be qualified, quoted and
    traded.

    An FX pair's ``symbol`` is IB's local symbol, base and quote currency (``EUR.USD``): on
    the wire its symbol is the base currency (``EUR``) and its currency the quote (``USD``),
    as IB has them. ``price_magnifier`` is IB's: 100 for a line quoted in pence (LSE's GBp)
    whose currency is GBP; market data, limit and execution prices are then in pence, the
    account side (average cost, market value, cash) in pounds.
    """

    symbol: str = Field(min_length=1)
    con_id: int = Field(gt=0)
    sec_type: Literal["STK", "CASH"] = "STK"
    stock_type: Literal["COMMON", "ETF"] = "COMMON"
    exchange: str = "SMART"
    primary_exchange: str = ""
    currency: str = Field(default="USD", pattern=CCY)
    long_name: str = ""
    min_tick: Decimal = Field(default=Decimal("0.01"), gt=0)
    # Market data can be finer than orders: IDEALPRO quotes in 0.1 pip, orders in 0.5 pip.
    market_data_tick: Decimal | None = Field(default=None, gt=0)
    min_size: Decimal = Decimal("1")
    size_increment: Decimal = Field(default=Decimal("1"), gt=0)
    fractional: bool = False
    price_magnifier: int = Field(default=1, ge=1)
    spread_bps: float | None = Field(default=None, ge=0)  # overrides prices.spread_bps

    @model_validator(mode="before")
    @classmethod
    def _pair_defaults(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("sec_type") == "CASH":
            symbol = str(data.get("symbol", ""))
            quote = symbol.split(".")[-1] if "." in symbol else ""
            return {"exchange": "IDEALPRO", "primary_exchange": "IDEALPRO",
                    "currency": quote or data.get("currency", "USD"), **data}  # fmt: skip
        return data

    @model_validator(mode="after")
    def _check_kind(self) -> InstrumentSpec:
        if self.sec_type == "CASH":
            if not re.fullmatch(PAIR, self.symbol):
                raise ValueError(
                    f"symbol: an FX pair is named BASE.QUOTE, e.g. EUR.USD, got {self.symbol!r}"
                )
            if self.currency != self.quote_currency:
                raise ValueError(
                    f"currency: {self.symbol} is quoted in {self.quote_currency}, "
                    f"not {self.currency}"
                )
            if self.exchange != "IDEALPRO":
                raise ValueError("exchange: FX pairs trade on IDEALPRO")
        elif not self.primary_exchange:
            raise ValueError("primary_exchange: a stock needs its listing exchange, e.g. ARCA")
        return self

    @property
    def ib_symbol(self) -> str:
        """The symbol on the wire: the base currency for an FX pair."""
        return self.symbol.split(".")[0] if self.sec_type == "CASH" else self.symbol

    @property
    def local_symbol(self) -> str:
        """IB's local symbol (``EUR.USD`` for a pair, the symbol for a stock)."""
        return self.symbol

    @property
    def base_currency(self) -> str:
        """An FX pair's base currency (what its quantity counts); a stock's currency."""
        return self.ib_symbol if self.sec_type == "CASH" else self.currency

    @property
    def quote_currency(self) -> str:
        """The currency prices are in (an FX pair's second currency)."""
        return self.symbol.split(".")[1] if self.sec_type == "CASH" else self.currency

    @property
    def quote_tick(self) -> Decimal:
        """The increment market data is quoted in."""
        return self.market_data_tick or self.min_tick


class PricesSpec(_Model):
    """How prices move: fixed, or a seeded random walk around the starting price."""

    model: Literal["static", "random_walk"] = "static"
    seed: int = 7
    step_seconds: float = Field(default=1.0, gt=0)
    volatility_bps: float = Field(default=5.0, ge=0)
    spread_bps: float = Field(default=2.0, ge=0)
    # A trade at the last price prints this often on every subscribed symbol while a
    # session is on (IB keeps sending last size, volume and time ticks); null: never.
    trade_print_seconds: float | None = Field(default=1.0, gt=0)
    start: dict[str, Decimal]


class CommissionSpec(_Model):
    """IBKR Pro fixed-style commissions: per share and/or a percent of the trade value, with
    a minimum per order and caps; amounts are in ``currency`` (trade values are converted)."""

    per_share: Decimal = Field(default=Decimal("0.005"), ge=0)
    pct_of_value: Decimal = Field(default=Decimal(0), ge=0)  # e.g. 0.05 for Europe's 0.05%
    minimum: Decimal = Field(default=Decimal("1.00"), ge=0)
    maximum_pct_of_value: Decimal | None = Field(default=Decimal("1.0"), ge=0)
    maximum: Decimal | None = Field(default=None, ge=0)
    currency: str = Field(default="USD", pattern=CCY)


class FillSpec(_Model):
    """When and how orders fill."""

    delay_seconds: float = Field(default=0.0, ge=0)
    partial_fill_fraction: float | None = Field(default=None, gt=0, le=1)
    allow_fractional: bool = True


_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class MarketHoursSpec(_Model):
    """Sessions: regular hours (orders without ``outsideRth`` wait outside them) and the
    extended session around them; holidays and early closes default to NYSE's rules."""

    timezone: str = "America/New_York"
    open: str = Field(default="09:30", pattern=_HHMM)
    close: str = Field(default="16:00", pattern=_HHMM)
    extended_open: str = Field(default="04:00", pattern=_HHMM)
    extended_close: str = Field(default="20:00", pattern=_HHMM)
    early_close: str = Field(default="13:00", pattern=_HHMM)
    early_extended_close: str = Field(default="17:00", pattern=_HHMM)
    weekdays_only: bool = True
    holidays: list[date] | None = None  # null: the NYSE holidays of each year
    early_closes: list[date] | None = None  # null: NYSE's early closes of each year

    @model_validator(mode="after")
    def _check_order(self) -> MarketHoursSpec:
        if not self.extended_open <= self.open < self.close <= self.extended_close:
            raise ValueError("expected extended_open <= open < close <= extended_close")
        if not self.open < self.early_close <= self.early_extended_close:
            raise ValueError("expected open < early_close <= early_extended_close")
        _check_zone(self.timezone)
        return self


class SessionSpec(_Model):
    """One exchange's sessions in its local time. ``open`` after ``close`` is an overnight
    session (IDEALPRO: 17:15 the day before to 17:00). Holidays: weekends and the list."""

    open: str = Field(pattern=_HHMM)
    close: str = Field(pattern=_HHMM)
    extended_open: str | None = Field(default=None, pattern=_HHMM)  # default: open
    extended_close: str | None = Field(default=None, pattern=_HHMM)  # default: close
    weekdays_only: bool = True
    holidays: list[date] = []

    @model_validator(mode="after")
    def _check_order(self) -> SessionSpec:
        ext_open = self.extended_open or self.open
        ext_close = self.extended_close or self.close
        if self.open > self.close:
            if (ext_open, ext_close) != (self.open, self.close):
                raise ValueError("an overnight session (open after close) has no extended hours")
        elif not ext_open <= self.open < self.close <= ext_close:
            raise ValueError("expected extended_open <= open < close <= extended_close")
        return self


def _check_zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r}") from None


class ExchangeSpec(_Model):
    """A listing exchange (by IB's name: IBIS, AEB, LSEETF, TSE, EBS, IDEALPRO...): its time
    zone, sessions (null: always open) and commission schedule (null: the scenario's)."""

    timezone: str
    hours: SessionSpec | None = None
    commission: CommissionSpec | None = None

    @model_validator(mode="after")
    def _check_timezone(self) -> ExchangeSpec:
        _check_zone(self.timezone)
        return self


class FxSpec(_Model):
    """IDEALPRO's order size rule: below the minimum an order is an odd lot, which IB routes
    to its odd-lot venue and fills at a worse price instead of refusing it."""

    idealpro_minimum_usd: Decimal = Field(default=Decimal(25000), ge=0)
    odd_lot_markup_bps: Decimal = Field(default=Decimal(1), ge=0)
    odd_lot_exchange: str = "IDEALFX"


class AccountUpdatesSpec(_Model):
    """How often IB re-sends changed account summary and account values."""

    period_seconds: float = Field(default=180.0, gt=0)


class LimitsSpec(_Model):
    """IB's limits; null switches one off."""

    market_data_lines: int | None = Field(default=100, ge=0)
    orders_per_contract_side: int | None = Field(default=20, ge=0)
    snapshot_seconds: float | None = Field(default=11.0, ge=0)


class Scenario(_Model):
    """Everything the emulator needs to behave like one IB login with its accounts."""

    accounts: list[AccountSpec] = Field(min_length=1)
    instruments: list[InstrumentSpec] = Field(min_length=1)
    prices: PricesSpec
    commissions: CommissionSpec = CommissionSpec()
    fills: FillSpec = FillSpec()
    market_data_type: Literal["live", "delayed"] = "live"
    market_hours: MarketHoursSpec | None = None
    account_updates: AccountUpdatesSpec = AccountUpdatesSpec()
    limits: LimitsSpec = LimitsSpec()
    exchanges: dict[str, ExchangeSpec] = {}  # by primary exchange; others use market_hours
    fx: FxSpec = FxSpec()
    master_client_id: int | None = Field(
        default=None,
        ge=0,
        description="TWS/Gateway's 'Master API client ID': this client id also receives the "
        "order events (openOrder, orderStatus, execDetails, commissionReport) of orders placed "
        "by every other client. None: each client hears only its own orders.",
    )

    @model_validator(mode="after")
    def _check_references(self) -> Scenario:
        symbols = {i.symbol for i in self.instruments}
        if len(symbols) != len(self.instruments):
            raise ValueError("instruments: each symbol may appear only once")
        if len({i.con_id for i in self.instruments}) != len(self.instruments):
            raise ValueError("instruments: each con_id may appear only once")
        if len({a.id for a in self.accounts}) != len(self.accounts):
            raise ValueError("accounts: each id may appear only once")
        self._check_prices(symbols)
        for acct in self.accounts:
            for pos in acct.positions:
                if pos.symbol not in symbols:
                    raise ValueError(
                        f"accounts[{acct.id}].positions.{pos.symbol}: "
                        "not a symbol listed under instruments"
                    )
                if self.instrument(pos.symbol).sec_type == "CASH":  # type: ignore[union-attr]
                    raise ValueError(
                        f"accounts[{acct.id}].positions.{pos.symbol}: a currency is held as "
                        f"cash; put it under cash, e.g. cash: {{{pos.symbol[:3]}: ...}}"
                    )
        self._check_conversions()
        return self

    def _check_conversions(self) -> None:
        """Every currency used must convert to every other through the scenario's FX pairs."""
        pairs = self.pairs()
        used: dict[str, str] = {}  # currency -> where it is first used
        for acct in self.accounts:
            for ccy in [acct.base_currency, *sorted(acct.currencies)]:
                used.setdefault(ccy, f"accounts[{acct.id}]")
        for inst in self.instruments:
            used.setdefault(inst.currency, f"instruments.{inst.symbol}")
        for name, ex in self.exchanges.items():
            if ex.commission is not None:
                used.setdefault(ex.commission.currency, f"exchanges.{name}.commission")
        used.setdefault(self.commissions.currency, "commissions")
        if any(i.sec_type == "CASH" for i in self.instruments):
            used.setdefault("USD", "fx (IDEALPRO's minimum is in USD)")
        first, *others = used  # the first account's base currency, then the others
        for ccy in others:
            if conversion_path(pairs, ccy, first) is None:
                raise ValueError(
                    f"{used[ccy]}: no FX pair converts {ccy} to {first}; add an instrument "
                    f"with sec_type CASH such as {ib_pair(ccy, first)} (with a starting "
                    "price under prices.start)"
                )

    def pairs(self) -> list[str]:
        """The FX pairs (``EUR.USD``...) the scenario quotes."""
        return [i.symbol for i in self.instruments if i.sec_type == "CASH"]

    def _check_prices(self, symbols: set[str]) -> None:
        missing = sorted(symbols - set(self.prices.start))
        if missing:
            raise ValueError(f"prices.start: needs a starting price for {', '.join(missing)}")
        for sym, px in self.prices.start.items():
            if sym not in symbols:
                raise ValueError(f"prices.start.{sym}: not a symbol listed under instruments")
            if px <= 0:
                raise ValueError(f"prices.start.{sym}: expected a positive price, got {px}")

    def instrument(self, symbol: str) -> InstrumentSpec | None:
        """Find an instrument by symbol."""
        return next((i for i in self.instruments if i.symbol == symbol), None)


def _format_error(source: str, err: ValidationError) -> str:
    lines = [f"{source}: invalid scenario"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  {loc}: {e['msg']}")
    return "\n".join(lines)


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    """Parse YAML text into a Scenario or raise ScenarioError naming source and field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping at the top level")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_error(source, exc)) from exc


BUILTIN_SCENARIOS = {"default": "default_scenario.yaml", "multi_currency": "multi_currency.yaml"}


def builtin_scenario(name: str) -> Scenario:
    """A scenario shipped with the emulator, by name (``default``, ``multi_currency``)."""
    file = BUILTIN_SCENARIOS.get(name)
    if file is None:
        raise ScenarioError(f"no built-in scenario {name!r}; known: {sorted(BUILTIN_SCENARIOS)}")
    text = resources.files("ib_emulator").joinpath(file).read_text("utf-8")
    return parse_scenario(text, file)


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario file (or a built-in one by name) or raise ScenarioError."""
    p = Path(path)
    if not p.exists() and str(path) in BUILTIN_SCENARIOS:
        return builtin_scenario(str(path))
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot read scenario file: {exc.strerror}") from exc
    return parse_scenario(text, str(p))


def default_scenario() -> Scenario:
    """The built-in scenario: two paper accounts and common ETFs and stocks."""
    return builtin_scenario("default")
