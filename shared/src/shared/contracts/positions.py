"""``events.positions.v1``: positions per account, from the gateway-bridge."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.contracts.base import Contract, Message, Money, Price, Quantity

STREAM = "events.positions.v1"


class Position(Contract):
    """A holding in one account."""

    symbol: str
    con_id: int | None = None
    currency: str = "USD"
    quantity: Quantity
    average_cost: Price
    market_price: Price | None = None
    market_value: Money | None = None
    unrealized_pnl: Money | None = None
    realized_pnl: Money | None = None
    daily_pnl: Money | None = Field(
        default=None, description="IB's daily PnL of the position (reqPnLSingle), when known."
    )


class PositionsSnapshot(Message):
    """Every position of one account at ``ts_event``."""

    type: Literal["PositionsSnapshot"] = "PositionsSnapshot"
    account_id: str
    positions: tuple[Position, ...]


class PositionChanged(Message):
    """One position of one account changed (a quantity of zero means it was closed)."""

    type: Literal["PositionChanged"] = "PositionChanged"
    account_id: str
    position: Position


PositionEvent = Annotated[PositionsSnapshot | PositionChanged, Field(discriminator="type")]
MESSAGES: tuple[type[Message], ...] = (PositionsSnapshot, PositionChanged)
