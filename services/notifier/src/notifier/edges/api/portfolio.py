"""``GET /api/v1/positions``: an account's positions and cash, from the gateway-bridge."""

# No `from __future__ import annotations`: FastAPI must see the routes' real annotations.

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from notifier.edges.api.context import ApiContext, ApiError
from notifier.edges.api.ledger import with_ledger_pnl
from notifier.edges.api.schemas import answer, errors, portfolio_schema
from shared.kit.portfolio import PortfolioUnavailableError


def portfolio_router(ctx: ApiContext) -> APIRouter:
    """The portfolio's routes."""
    router = APIRouter(tags=["portfolio"])

    @router.get(
        "/positions",
        responses={
            200: answer(portfolio_schema(), "The account as the bridge sees it now."),
            **errors(404, 503, 504),
        },
    )
    async def get_positions(
        account: Annotated[str | None, Query(description="Account id.")] = None,
    ) -> JSONResponse:
        """Positions, cash and net liquidation of an account, from the gateway-bridge, with
        the ledger's PnL per position (`unrealized_pnl`, `realized_pnl`, `daily_pnl`,
        `total_pnl`) and the account's totals as `pnl` (null, with `pnl_unavailable`, when
        the ledger did not answer within 2 s)."""
        account_id = ctx.single_account(account)
        if account_id not in ctx.accounts:
            raise ApiError(404, "unknown_account", f"account {account_id!r} is not configured")
        try:
            view = await ctx.portfolio.get(account_id)
        except PortfolioUnavailableError as error:
            if error.code == "timeout":
                raise ApiError(504, "bridge_timeout", error.reason.message) from None
            raise ApiError(503, f"portfolio_{error.code}", error.reason.message) from None
        body = view.model_dump(mode="json")
        await with_ledger_pnl(ctx, account_id, body)
        return JSONResponse(body)

    return router
