"""``events.account.v1``: account values per account, from the gateway-bridge."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.contracts.base import Message, Money

STREAM = "events.account.v1"


class AccountSnapshot(Message):
    """Net liquidation, cash and PnL of one account at ``ts_event``."""

    type: Literal["AccountSnapshot"] = "AccountSnapshot"
    account_id: str
    currency: str = "USD"
    net_liquidation: Money
    total_cash: Money
    cash_by_currency: dict[str, Money] = Field(default_factory=dict)
    exchange_rates: dict[str, Money] = Field(
        default_factory=dict,
        description="IB's ExchangeRate per currency: one unit's value in the base currency.",
    )
    buying_power: Money | None = None
    excess_liquidity: Money | None = None
    gross_position_value: Money | None = None
    daily_pnl: Money | None = None
    realized_pnl: Money | None = None
    unrealized_pnl: Money | None = None


AccountEvent = Annotated[AccountSnapshot, Field(discriminator="type")]
MESSAGES: tuple[type[Message], ...] = (AccountSnapshot,)
