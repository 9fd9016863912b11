"""``rpc.ledger.v1``: ask the ledger for trades (paged) and PnL, per account or for all.

The ledger (``services/ledger``) is the read side of executions: every ``OrderFilled`` joined
with its ``CommissionReported`` by ``exec_id``, positions and their history, and PnL.
Requests are commands (``valid_until``); every request gets a reply, either the answer or
``LedgerQueryRefused`` with a code and a sentence, so a requester never guesses from a timeout.

Money is in the currency named next to it (a position's currency, an account's base
currency); nothing is converted between currencies.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.contracts.base import (
    Command,
    Contract,
    Message,
    Money,
    Price,
    Quantity,
    Side,
    UtcDatetime,
)

STREAM = "rpc.ledger.v1"

MAX_PAGE = 1000
"""The largest page ``GetTrades`` answers (a larger ``limit`` is refused, naming the field)."""

TradeOrder = Literal["newest_first", "oldest_first"]
UnrealizedSource = Literal["ib", "price"]
DailySource = Literal["ib", "computed"]
AccountDailySource = Literal["ib", "positions"]
RefusalCode = Literal["invalid_request", "unknown_account", "expired", "error"]


class GetTrades(Command):
    """Request: executions, filtered, one page at a time (keyset paging by ``cursor``)."""

    type: Literal["GetTrades"] = "GetTrades"
    account_id: str | None = Field(default=None, description="One account; all when omitted.")
    symbol: str | None = Field(default=None, description="One symbol; all when omitted.")
    since: UtcDatetime | None = Field(default=None, description="Executed at or after.")
    until: UtcDatetime | None = Field(default=None, description="Executed strictly before.")
    cursor: str | None = Field(
        default=None, description="`next_cursor` of the previous page; omit for the first page."
    )
    limit: int = Field(default=100, description=f"Rows per page, 1 to {MAX_PAGE}.")
    order: TradeOrder = "newest_first"


class GetPnl(Command):
    """Request: PnL per position and per account (one account, or every account known)."""

    type: Literal["GetPnl"] = "GetPnl"
    account_id: str | None = None


class Trade(Contract):
    """One execution as the ledger holds it: the fill, and its commission once reported."""

    exec_id: str
    account_id: str
    symbol: str
    side: Side
    quantity: Quantity
    price: Price
    value: Money = Field(description="quantity x price, in the instrument's currency.")
    executed_at: UtcDatetime
    client_order_id: str = Field(
        description="Ours (`<plan>.<leg>.<attempt>`), or `external:<perm_id>` for an order "
        "this system did not place."
    )
    plan_id: str | None = None
    leg: int | None = None
    ib_order_id: int | None = None
    perm_id: int | None = None
    external: bool = False
    correlation_id: str | None = None
    commission: Money | None = Field(default=None, description="None until IB reported it.")
    commission_currency: str | None = None
    realized_pnl: Money | None = Field(
        default=None,
        description="IB's realized PnL of this execution (net of commission); None for an "
        "opening trade or until the commission report arrived.",
    )
    recorded_at: UtcDatetime


class TradesPage(Message):
    """Reply: one page of trades and the cursor of the next (None on the last page)."""

    type: Literal["TradesPage"] = "TradesPage"
    trades: tuple[Trade, ...]
    next_cursor: str | None = None


class PositionPnl(Contract):
    """PnL of one position (or of a symbol closed earlier, with quantity 0)."""

    symbol: str
    currency: str = "USD"
    quantity: Quantity
    average_cost: Price
    market_price: Price | None = None
    price_as_of: UtcDatetime | None = None
    market_value: Money | None = None
    unrealized_pnl: Money | None = Field(
        default=None, description="None when the position has no price (see `unpriced`)."
    )
    unrealized_source: UnrealizedSource | None = Field(
        default=None,
        description="`ib`: IB's figure for the current quantity (pnlSingle, portfolio update); "
        "`price`: quantity x (market price - average cost).",
    )
    realized_pnl: Money = Field(description="Sum of IB's realized PnL over the ledger's trades.")
    realized_today: Money
    daily_pnl: Money | None = None
    daily_source: DailySource | None = None
    total_pnl: Money | None = Field(
        default=None, description="realized + unrealized; None while unrealized is unknown."
    )
    commissions: Money
    trades: int


class AccountPnl(Contract):
    """PnL of one account: its positions and totals in its base currency."""

    account_id: str
    currency: str = Field(default="USD", description="Base currency of the totals.")
    realized_pnl: Money
    unrealized_pnl: Money
    total_pnl: Money = Field(description="realized_pnl + unrealized_pnl, exactly.")
    daily_pnl: Money | None = None
    daily_source: AccountDailySource | None = Field(
        default=None,
        description="`ib`: IB's account daily PnL (reqPnL); `positions`: the sum of the "
        "positions' daily PnL.",
    )
    complete: bool = Field(
        description="True when every open position in the base currency had a price, so the "
        "totals cover the whole account."
    )
    unpriced: tuple[str, ...] = Field(default=(), description="Open positions without a price.")
    other_currencies: tuple[str, ...] = Field(
        default=(), description="Currencies of positions left out of the totals (no conversion)."
    )
    net_liquidation: Money | None = None
    ib_unrealized_pnl: Money | None = Field(
        default=None, description="IB's account UnrealizedPnL, for comparison."
    )
    ib_realized_pnl: Money | None = Field(
        default=None, description="IB's account RealizedPnL (today's), for comparison."
    )
    ib_daily_pnl: Money | None = Field(
        default=None, description="IB's account daily PnL (reqPnL), for comparison."
    )
    positions: tuple[PositionPnl, ...]
    positions_as_of: UtcDatetime | None = None


class PnlView(Message):
    """Reply: PnL of the requested account (or of every account the ledger knows)."""

    type: Literal["PnlView"] = "PnlView"
    accounts: tuple[AccountPnl, ...]
    day_start: UtcDatetime = Field(description="Start of the trading day of the daily figures.")


class LedgerQueryRefused(Message):
    """Reply: the request cannot be answered; ``reason`` says why and what to do."""

    type: Literal["LedgerQueryRefused"] = "LedgerQueryRefused"
    code: RefusalCode
    reason: str
    field: str | None = None


LedgerRequest = Annotated[GetTrades | GetPnl, Field(discriminator="type")]
LedgerReply = Annotated[TradesPage | PnlView | LedgerQueryRefused, Field(discriminator="type")]
MESSAGES: tuple[type[Message], ...] = (GetTrades, GetPnl)
REPLIES: tuple[type[Message], ...] = (TradesPage, PnlView, LedgerQueryRefused)
