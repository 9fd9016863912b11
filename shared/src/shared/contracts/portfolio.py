"""``rpc.portfolio.v1``: ask the gateway-bridge for a fresh view of one account."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.contracts.base import Command, Contract, Message, Money, Price, UtcDatetime
from shared.contracts.positions import Position
from shared.contracts.prices import MarketDataType

STREAM = "rpc.portfolio.v1"

QuoteStatus = Literal["ok", "missing", "unqualified"]


class GetPortfolio(Command):
    """Request: positions, cash, net liquidation and quotes for held plus ``symbols``."""

    type: Literal["GetPortfolio"] = "GetPortfolio"
    account_id: str
    symbols: tuple[str, ...] = ()


class Quote(Contract):
    """A symbol's quote as of ``as_of``; ``status`` says whether it can be used at all."""

    symbol: str
    con_id: int | None = None
    status: QuoteStatus = "ok"
    bid: Price | None = None
    ask: Price | None = None
    last: Price | None = None
    close: Price | None = None
    market_data_type: MarketDataType | None = None
    as_of: UtcDatetime | None = None
    min_quantity_increment: Price | None = Field(
        default=None, description="Smallest tradable quantity step (1 for whole shares)."
    )
    detail: str | None = Field(
        default=None, description="What IB said about an unqualified symbol (unknown, ambiguous)."
    )


class PortfolioView(Message):
    """Reply: the account as the bridge sees it now."""

    type: Literal["PortfolioView"] = "PortfolioView"
    account_id: str
    currency: str = "USD"
    net_liquidation: Money
    total_cash: Money
    cash_by_currency: dict[str, Money] = Field(default_factory=dict)
    positions: tuple[Position, ...]
    quotes: tuple[Quote, ...]
    unqualified: tuple[str, ...] = Field(default=(), description="Symbols IB could not qualify.")
    positions_as_of: UtcDatetime
    account_as_of: UtcDatetime


class PortfolioUnavailable(Message):
    """Reply: no view can be given (unknown account, gateway down, not reconciled)."""

    type: Literal["PortfolioUnavailable"] = "PortfolioUnavailable"
    account_id: str
    code: Literal["unknown_account", "gateway_disconnected", "not_reconciled", "expired", "error"]
    reason: str


PortfolioRequest = Annotated[GetPortfolio, Field(discriminator="type")]
PortfolioReply = Annotated[PortfolioView | PortfolioUnavailable, Field(discriminator="type")]
MESSAGES: tuple[type[Message], ...] = (GetPortfolio,)
REPLIES: tuple[type[Message], ...] = (PortfolioView, PortfolioUnavailable)
