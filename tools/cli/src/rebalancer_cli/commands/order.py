"""``rebalancer order buy|sell SYMBOL QTY``: one order, a one-leg plan like any other.

The order goes to the notifier as a ``RequestRebalance`` carrying it, so it takes the path of
every plan: the notifier's checks, the planner (which prices it), the executor (risk gate,
kill switch, approval mode, journal) and the bridge. ``--key`` makes it idempotent: the same
account and key are the same order, which trades at most once however often it is sent.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated

import redis.asyncio as aioredis
import typer
from pydantic import ValidationError

from rebalancer_cli.bus import Bus
from rebalancer_cli.commands.trade import HomeOption, RedisOption
from rebalancer_cli.console import make_console
from rebalancer_cli.flows import SOURCE, rebalance_flow
from rebalancer_cli.stackconfig import resolve_redis_url
from shared import operator
from shared.contracts.order_commands import ManualOrder
from shared.contracts.plans import PlanProposed
from shared.plans.view import PlanView
from shared.rebalancing.ids import order_request_id


class SideArg(StrEnum):
    """The side, as typed."""

    BUY = "buy"
    SELL = "sell"


def _decimal(text: str | None, what: str) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        make_console(stderr=True).print(
            f"[red]rebalancer order:[/] {what} {text!r} is not a number"
        )
        raise typer.Exit(2) from None


async def _placed_before(url: str, request_id: str) -> PlanView | None:
    """The plan (or rejection) of an order request already made with this key, if any."""
    async with Bus(url) as bus:
        views = await bus.plans()
    return next((v for v in views.values() if v.correlation_id == request_id), None)


def order_command(
    side: Annotated[SideArg, typer.Argument(help="buy or sell.")],
    symbol: Annotated[str, typer.Argument(help="The symbol, e.g. SPY.")],
    quantity: Annotated[str | None, typer.Argument(help="Shares (or give --cash).")] = None,
    account: Annotated[str, typer.Option("--account", "-a", help="Account id.")] = "",
    cash: Annotated[str | None, typer.Option(help="Money to spend or raise instead.")] = None,
    order_type: Annotated[
        str, typer.Option("--type", help="MKT, LMT, MIDPRICE or ADAPTIVE.")
    ] = "MKT",
    limit: Annotated[str | None, typer.Option(help="Limit price (LMT).")] = None,
    tif: Annotated[str, typer.Option(help="Time in force: DAY or GTC.")] = "DAY",
    outside_rth: Annotated[bool, typer.Option(help="Allow outside regular hours.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan it, never trade.")] = False,
    key: Annotated[
        str | None, typer.Option(help="Idempotency key: the same key is the same order.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Approve without a prompt.")] = False,
    redis_url: RedisOption = None,
    home: HomeOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the plan.")] = 30.0,
) -> None:
    """Place one order (a one-leg plan: risk gate, kill switch, approval mode, journal)."""
    err = make_console(stderr=True)
    if not account:
        err.print("[red]rebalancer order:[/] name the account with --account ID")
        raise typer.Exit(2)
    try:
        order = ManualOrder(
            symbol=symbol.upper(),
            side=side.value.upper(),
            quantity=_decimal(quantity, "quantity"),
            cash_amount=_decimal(cash, "--cash"),
            order_type=order_type.upper(),
            limit_price=_decimal(limit, "--limit"),
            time_in_force=tif.upper(),
            outside_rth=outside_rth,
        )
    except ValidationError as error:
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in error.errors())
        err.print(f"[red]rebalancer order:[/] {problems}")
        raise typer.Exit(2) from None
    request = operator.place_order(
        order,
        account=account,
        source=SOURCE,
        request_id=order_request_id(account, key or uuid.uuid4().hex),
        execute=not dry_run,
        by=SOURCE,
        # Without --yes the order waits for the prompt's answer, even on an `auto` account.
        hold_for_approval=not yes,
    )
    url = resolve_redis_url(redis_url, home)

    def confirm(plans: list[PlanProposed]) -> bool:
        legs = [plan.legs[0] for plan in plans]
        what = ", ".join(f"{leg.side.value} {leg.quantity} {leg.symbol}" for leg in legs)
        return typer.confirm(f"{what} for {account}?")

    try:
        placed = asyncio.run(_placed_before(url, request.message_id))
        if placed is not None:
            # The same key was sent before: that order stands (its plan exists), nothing is sent.
            line = f" ({'; '.join(r.message for r in placed.reasons)})" if placed.reasons else ""
            make_console().print(
                f"order already placed with this key: {placed.plan_id} for {placed.account_id} "
                f"is {placed.status.value}{line}; see `rebalancer plans`"
            )
            return
        ok, _ = asyncio.run(
            rebalance_flow(
                url, request, {account}, execute=not dry_run, yes=yes, console=make_console(),
                timeout_s=timeout, confirm=confirm,
            )
        )  # fmt: skip
    except (OSError, aioredis.RedisError) as error:
        err.print(f"[red]rebalancer order:[/] cannot reach Redis at {url}: {error}")
        raise typer.Exit(1) from None
    if not ok:
        raise typer.Exit(1)
