"""``/api/v1/pnl`` and ``/api/v1/trades``: PnL and trade history, from the ledger.

Both are answers of the ledger (``rpc.ledger.v1``), never computed here. ``GET /api/v1/positions``
gets the ledger's PnL per position merged in through :func:`with_ledger_pnl`. The ledger's
refusals keep their meaning: ``invalid_request`` 400 (naming the field), ``unknown_account``
404, ``error`` 503; no answer in time 504.
"""

# No `from __future__ import annotations`: FastAPI must see the routes' real annotations.

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from notifier.edges.api.context import ApiContext, ApiError
from shared.contracts.ledger import MAX_PAGE, AccountPnl, PnlView, Trade
from shared.kit.ledger import LedgerUnavailableError, parse_time

STATUS_OF = {"invalid_request": 400, "unknown_account": 404, "expired": 504, "timeout": 504}
POSITIONS_LEDGER_TIMEOUT_S = 2.0
"""How long GET /positions waits for the ledger's PnL before answering without it."""


class ErrorBody(BaseModel):
    """Every error of the API."""

    error: str
    message: str


class PnlBody(BaseModel):
    """PnL per position and per account (realized + unrealized = total, to the cent)."""

    day_start: datetime
    accounts: list[AccountPnl]


class TradesBody(BaseModel):
    """One page of trades; pass ``next_cursor`` back as ``cursor`` for the next (null: last)."""

    trades: list[Trade]
    next_cursor: str | None


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    words = {
        400: "Bad input: `error` is `invalid_request`, `message` names the parameter.",
        401: "Missing or wrong bearer token (`unauthorized`).",
        404: "The account is not configured (`unknown_account`), or the ledger has nothing "
        "of it yet.",
        503: "The ledger failed (`ledger_error`) or the API has no token configured.",
        504: "The ledger did not answer in time (`ledger_timeout`): is it running?",
    }
    return {code: {"model": ErrorBody, "description": words[code]} for code in codes}


def ledger_router(ctx: ApiContext) -> APIRouter:
    """The ledger's routes."""
    router = APIRouter(tags=["ledger"])

    @router.get(
        "/pnl",
        response_model=PnlBody,
        responses=_errors(400, 401, 404, 503, 504),
        summary="PnL per position and per account",
    )
    async def get_pnl(
        account: Annotated[
            str | None, Query(description="Account id; every configured account when omitted.")
        ] = None,
    ) -> JSONResponse:
        """Per position: quantity, average cost, market price, unrealized (IB's `pnlSingle`
        when current, else from the price), realized (IB's, summed over the ledger's trades),
        realized today, daily, total and commissions. Per account, in its base currency:
        realized + unrealized = total, exactly the sums of its positions; `complete` is false
        when an open position had no price (named in `unpriced`)."""
        if account is not None:
            _configured(ctx, account)
        try:
            view = await ctx.ledger.pnl(account)
        except LedgerUnavailableError as error:
            raise _api_error(error) from None
        accounts = [a for a in view.accounts if a.account_id in ctx.accounts]
        return JSONResponse(_pnl_json(view, accounts))

    @router.get(
        "/trades",
        response_model=TradesBody,
        responses=_errors(400, 401, 404, 503, 504),
        summary="Trade history (paged)",
    )
    async def get_trades(
        account: Annotated[str | None, Query(description="Account id; all when omitted.")] = None,
        symbol: Annotated[str | None, Query(description="One symbol; all when omitted.")] = None,
        since: Annotated[
            str | None,
            Query(
                description="Executed at or after: `2026-12-01` or `2026-12-01T14:30:00Z` "
                "(a time without an offset is UTC)."
            ),
        ] = None,
        until: Annotated[
            str | None, Query(description="Executed strictly before (same forms as `since`).")
        ] = None,
        cursor: Annotated[
            str | None, Query(description="`next_cursor` of the previous page.")
        ] = None,
        limit: Annotated[int, Query(description=f"Rows per page, 1 to {MAX_PAGE}.")] = 100,
        order: Annotated[
            Literal["newest_first", "oldest_first"], Query(description="Sort order.")
        ] = "newest_first",
    ) -> JSONResponse:
        """Every execution on the accounts, whoever placed it (`external: true` for orders
        placed outside this system, `client_order_id` `external:<perm_id>`), with IB's
        commission and realized PnL (null until the commission report arrived)."""
        if account is not None:
            _configured(ctx, account)
        if not 1 <= limit <= MAX_PAGE:
            raise ApiError(
                400, "invalid_request", f"limit: {limit} is out of range; give 1 to {MAX_PAGE}"
            )
        start, end = _when("since", since), _when("until", until)
        try:
            page = await ctx.ledger.trades(
                account_id=account,
                symbol=symbol or None,
                since=start,
                until=end,
                cursor=cursor or None,
                limit=limit,
                order=order,
            )
        except LedgerUnavailableError as error:
            raise _api_error(error) from None
        return JSONResponse(
            {
                "trades": [t.model_dump(mode="json") for t in page.trades],
                "next_cursor": page.next_cursor,
            }
        )

    return router


async def with_ledger_pnl(ctx: ApiContext, account_id: str, body: dict[str, Any]) -> None:
    """Merge the ledger's PnL into a positions answer: per position `unrealized_pnl`,
    `realized_pnl`, `daily_pnl`, `total_pnl` (and their sources), and the account's totals
    as `pnl`. Without an answer from the ledger the positions stay IB's and `pnl` is null,
    with `pnl_unavailable` saying why."""
    try:
        view = await ctx.ledger.pnl(account_id, timeout_s=POSITIONS_LEDGER_TIMEOUT_S)
    except LedgerUnavailableError as error:
        body["pnl"] = None
        body["pnl_unavailable"] = error.message
        return
    (account,) = view.accounts
    by_symbol = {p.symbol: p for p in account.positions}
    for position in body.get("positions", []):
        pnl = by_symbol.get(position.get("symbol"))
        if pnl is None:
            continue
        position.update(
            pnl.model_dump(
                mode="json",
                include={
                    "unrealized_pnl",
                    "unrealized_source",
                    "realized_pnl",
                    "realized_today",
                    "daily_pnl",
                    "daily_source",
                    "total_pnl",
                    "commissions",
                },
            )
        )
    body["pnl"] = account.model_dump(mode="json", exclude={"positions"})


def _configured(ctx: ApiContext, account: str) -> None:
    if account not in ctx.accounts:
        raise ApiError(404, "unknown_account", f"account {account!r} is not configured")


def _when(name: str, text: str | None) -> datetime | None:
    try:
        return parse_time(name, text)
    except ValueError as error:
        raise ApiError(400, "invalid_request", str(error)) from None


def _api_error(error: LedgerUnavailableError) -> ApiError:
    status = STATUS_OF.get(error.code, 503)
    code = {
        "invalid_request": "invalid_request",
        "unknown_account": "unknown_account",
    }.get(error.code, f"ledger_{error.code}")
    message = error.message if not error.field else f"{error.field}: {error.message}"
    return ApiError(status, code, message)


def _pnl_json(view: PnlView, accounts: list[AccountPnl]) -> dict[str, Any]:
    return {
        "day_start": view.model_dump(mode="json")["day_start"],
        "accounts": [a.model_dump(mode="json") for a in accounts],
    }
