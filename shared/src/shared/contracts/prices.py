"""``data.prices.v1``: quotes for held and requested symbols (high rate, trimmed hard)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from shared.contracts.base import Message, Price

STREAM = "data.prices.v1"
MAXLEN = 100_000
"""Approximate cap on the stream's length: prices are data, old ones have no value."""


class MarketDataType(StrEnum):
    """IB's market data types (reqMarketDataType 1 to 4)."""

    LIVE = "live"
    FROZEN = "frozen"
    DELAYED = "delayed"
    DELAYED_FROZEN = "delayed_frozen"


class PriceUpdated(Message):
    """Latest quote of one symbol; a missing field means IB had no usable value (NaN, 0)."""

    type: Literal["PriceUpdated"] = "PriceUpdated"
    symbol: str
    con_id: int | None = None
    bid: Price | None = None
    ask: Price | None = None
    last: Price | None = None
    close: Price | None = None
    market_data_type: MarketDataType = MarketDataType.LIVE


PriceEvent = Annotated[PriceUpdated, Field(discriminator="type")]
MESSAGES: tuple[type[Message], ...] = (PriceUpdated,)
