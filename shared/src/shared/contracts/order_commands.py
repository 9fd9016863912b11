"""``commands.orders.v1``: the executor's instructions to the gateway-bridge.

Strings that travel to IB are checked here, at the border. The TWS protocol ends every field
with a NUL byte, so a NUL (or any control character) inside a value would shift every field
after it: IB would read another order than the one we sent. Each such field accepts only the
characters IB uses for it, within a length (see ``WIRE_RULES``); anything else is refused
with a sentence naming the field. IB's API reference gives no maximum for ``orderRef``; ours
are ``<plan_id>.<leg>.<attempt>`` (about 20 characters), so 64 leaves room and stays short.
The checks are validators, not schema constraints, so the stream's JSON schema is unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from shared.contracts.base import Command, Contract, Money, Price, Quantity, Side

STREAM = "commands.orders.v1"


@dataclass(frozen=True)
class WireRule:
    """What IB accepts in one string field: a pattern (whole value) and a description."""

    pattern: re.Pattern[str]
    allowed: str

    def problem(self, value: str) -> str | None:
        """Return why ``value`` may not go to IB, or None."""
        if self.pattern.fullmatch(value):
            return None
        return f"must be {self.allowed}; got {value!r}"


WIRE_RULES: dict[str, WireRule] = {
    "client_order_id": WireRule(
        re.compile(r"[A-Za-z0-9._:-]{1,64}"),
        "1 to 64 letters, digits or . _ : - (it travels to IB as orderRef)",
    ),
    "account_id": WireRule(re.compile(r"[A-Za-z0-9]{1,32}"), "an IB account id (letters, digits)"),
    "symbol": WireRule(
        re.compile(r"[!-~](?:[ -~]{0,22}[!-~])?"),
        "1 to 24 printable ASCII characters, no leading or trailing space",
    ),
    "currency": WireRule(re.compile(r"[A-Z]{3}"), "a three-letter currency code such as USD"),
    "exchange": WireRule(re.compile(r"[A-Z0-9.]{1,16}"), "an IB exchange code such as SMART"),
}
"""The string fields the bridge sends to IB, and what each may hold."""


def wire_problem(field: str, value: str) -> str | None:
    """Return a sentence saying why ``value`` of ``field`` may not go to IB, or None."""
    problem = WIRE_RULES[field].problem(value)
    return f"{field} {problem}" if problem else None


def _wire(field: str) -> AfterValidator:
    def check(value: str) -> str:
        problem = WIRE_RULES[field].problem(value)
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


ClientOrderId = Annotated[str, _wire("client_order_id")]
AccountId = Annotated[str, _wire("account_id")]
IbSymbol = Annotated[str, _wire("symbol")]
CurrencyCode = Annotated[str, _wire("currency")]
ExchangeCode = Annotated[str, _wire("exchange")]


class OrderType(StrEnum):
    """Order types the system sends; ``ADAPTIVE`` is IB's Adaptive algo on a market order."""

    MARKET = "MKT"
    LIMIT = "LMT"
    MIDPRICE = "MIDPRICE"
    ADAPTIVE = "ADAPTIVE"


class AdaptivePriority(StrEnum):
    """Urgency of IB's Adaptive algo."""

    PATIENT = "Patient"
    NORMAL = "Normal"
    URGENT = "Urgent"


class TimeInForce(StrEnum):
    """How long an order works."""

    DAY = "DAY"
    GTC = "GTC"


class ManualOrder(Contract):
    """One order an operator asks for (``POST /api/v1/orders``, ``rebalancer order``).

    It travels on the request (``RequestRebalance.order``), the allocation and the plan's one
    leg (``PlanLeg.order``), so the planner prices it and the executor sends it as asked.
    Exactly one of ``quantity`` and ``cash_amount``; a limit price exactly for LMT.
    """

    symbol: IbSymbol
    side: Side
    quantity: Quantity | None = Field(default=None, gt=0, description="Shares (or units).")
    cash_amount: Money | None = Field(
        default=None, gt=0, description="Money to spend or raise; the planner sizes the shares."
    )
    order_type: OrderType = OrderType.MARKET
    limit_price: Price | None = Field(default=None, gt=0)
    adaptive_priority: AdaptivePriority | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    outside_rth: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> ManualOrder:
        if (self.quantity is None) == (self.cash_amount is None):
            raise ValueError("give exactly one of quantity and cash_amount")
        if self.order_type == OrderType.LIMIT and self.limit_price is None:
            raise ValueError("a LMT order needs a limit_price")
        if self.order_type != OrderType.LIMIT and self.limit_price is not None:
            raise ValueError(f"limit_price is only for LMT orders, not {self.order_type.value}")
        if self.adaptive_priority is not None and self.order_type != OrderType.ADAPTIVE:
            raise ValueError("adaptive_priority is only for ADAPTIVE orders")
        return self


class SubmitOrder(Command):
    """Place one order; the bridge sends one ``client_order_id`` to IB at most once."""

    type: Literal["SubmitOrder"] = "SubmitOrder"
    client_order_id: ClientOrderId = Field(
        description="<plan_id>.<leg>.<attempt>; travels as orderRef."
    )
    plan_id: str | None = None
    account_id: AccountId
    symbol: IbSymbol
    con_id: int | None = None
    currency: CurrencyCode = "USD"
    exchange: ExchangeCode = "SMART"
    sec_type: Literal["STK", "CASH"] = Field(
        default="STK", description="STK, or CASH for an FX pair (symbol EUR.USD on IDEALPRO)."
    )
    side: Side
    quantity: Quantity
    order_type: OrderType = OrderType.MARKET
    limit_price: Price | None = None
    adaptive_priority: AdaptivePriority | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    outside_rth: bool = False


class CancelOrder(Command):
    """Cancel the order placed for ``client_order_id``."""

    type: Literal["CancelOrder"] = "CancelOrder"
    client_order_id: ClientOrderId
    account_id: AccountId | None = None
    reason: str | None = None


class CancelAllOrders(Command):
    """Cancel every open order of the accounts named (all accounts when empty).

    It names no single order, so it has no ``client_order_id``; each cancelled order is
    reported by its own ``OrderCancelled`` event.
    """

    type: Literal["CancelAllOrders"] = "CancelAllOrders"
    account_ids: tuple[AccountId, ...] = ()
    reason: str | None = None


OrderCommand = Annotated[SubmitOrder | CancelOrder | CancelAllOrders, Field(discriminator="type")]
MESSAGES: tuple[type[Command], ...] = (SubmitOrder, CancelOrder, CancelAllOrders)
