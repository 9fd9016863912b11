"""Commissions: IBKR Pro fixed-style schedules per exchange, charged in their currency.

A stock pays in its own currency (USD on US exchanges, EUR on IBIS...), on the order's
cumulative size so the order as a whole pays the minimum once. An FX trade pays IB's
spot-currency rate on the trade value in USD, "converted and charged to the base currency
of the account" (IB's FX commissions page). The rates themselves are the scenario's; the
defaults are IB's published Fixed rates (see docs/ib-emulator.md).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from .fx import Rates
from .scenario import CommissionSpec, InstrumentSpec, Scenario

# IBKR Pro spot currencies: 0.20 basis point of the trade value, USD 2.00 minimum per order.
FX_COMMISSION = CommissionSpec(
    per_share=Decimal(0), pct_of_value=Decimal("0.002"), minimum=Decimal("2.00"),
    maximum_pct_of_value=None, currency="USD",
)  # fmt: skip
CENT = Decimal("0.01")
STEP = Decimal("0.0001")


def _q(v: Decimal, step: Decimal) -> Decimal:
    return (v / step).to_integral_value(rounding=ROUND_HALF_UP) * step


def schedule(scenario: Scenario, inst: InstrumentSpec) -> CommissionSpec:
    """The commission schedule of an instrument: its exchange's, else the scenario's."""
    exchange = scenario.exchanges.get(inst.primary_exchange)
    if exchange is not None and exchange.commission is not None:
        return exchange.commission
    return FX_COMMISSION if inst.sec_type == "CASH" else scenario.commissions


def fee(spec: CommissionSpec, quantity: Decimal, value: Decimal) -> Decimal:
    """The fee for ``quantity`` units worth ``value``, both in the schedule's currency."""
    due = max(spec.per_share * quantity + value * spec.pct_of_value / 100, spec.minimum)
    if spec.maximum_pct_of_value is not None:
        due = min(due, max(value * spec.maximum_pct_of_value / 100, CENT))
    if spec.maximum is not None:
        due = min(due, spec.maximum)
    return _q(due, STEP)


def commission(
    scenario: Scenario,
    rates: Rates,
    inst: InstrumentSpec,
    quantity: Decimal,
    value: Decimal,
    account_base: str,
) -> tuple[Decimal, str]:
    """(commission, currency) for an order's cumulative ``quantity`` worth ``value`` (in the
    instrument's currency): a stock pays in its currency, an FX trade in the account's."""
    spec = schedule(scenario, inst)
    charged_in = account_base if inst.sec_type == "CASH" else inst.currency
    if spec.currency == inst.currency and spec.currency == charged_in:
        return fee(spec, quantity, value), charged_in  # the common case: no conversion
    due = fee(spec, quantity, rates.convert(value, inst.currency, spec.currency))
    return _q(rates.convert(due, spec.currency, charged_in), STEP), charged_in
