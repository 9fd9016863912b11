"""The scenario: accounts, instruments, prices, commissions and fill rules, loaded from YAML.

A bad file fails at start with the file, the field and what was expected, never later.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ScenarioError(ValueError):
    """A scenario file that cannot be used, with a message naming file and field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PositionSpec(_Model):
    """A starting position; ``average_cost`` is per share, as IB reports it."""

    symbol: str
    quantity: Decimal
    average_cost: Decimal


class AccountSpec(_Model):
    """A paper account."""

    id: str = Field(min_length=1)
    base_currency: str = "USD"
    cash: Decimal
    account_type: Literal["margin", "cash"] = "margin"
    positions: list[PositionSpec] = []


class InstrumentSpec(_Model):
    """A stock or ETF that can be qualified, quoted and traded."""

    symbol: str = Field(min_length=1)
    con_id: int = Field(gt=0)
    sec_type: Literal["STK"] = "STK"
    stock_type: Literal["COMMON", "ETF"] = "COMMON"
    exchange: str = "SMART"
    primary_exchange: str
    currency: str = "USD"
    long_name: str = ""
    min_tick: Decimal = Decimal("0.01")
    min_size: Decimal = Decimal("1")
    size_increment: Decimal = Decimal("1")
    fractional: bool = False


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
    """IBKR Pro fixed-style commissions: per share with a minimum and a cap."""

    per_share: Decimal = Decimal("0.005")
    minimum: Decimal = Decimal("1.00")
    maximum_pct_of_value: Decimal = Decimal("1.0")
    currency: str = "USD"


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
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {self.timezone!r}") from None
        return self


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
        return self

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


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario file or raise ScenarioError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot read scenario file: {exc.strerror}") from exc
    return parse_scenario(text, str(p))


def default_scenario() -> Scenario:
    """The built-in scenario: two paper accounts and common ETFs and stocks."""
    text = resources.files("ib_emulator").joinpath("default_scenario.yaml").read_text("utf-8")
    return parse_scenario(text, "default_scenario.yaml")
