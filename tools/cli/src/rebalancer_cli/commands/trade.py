"""``rebalancer plan``, ``approve``, ``cancel``, ``plans``, ``halt``, ``resume``.

``rebalance`` has its own module (:mod:`rebalancer_cli.commands.rebalance`).

Thin commands: the options, then a library call. Every trigger is a ``RequestRebalance`` to
the notifier (its checks apply to the CLI as to any edge), every operator command comes from
``shared.operator``, and what a plan is comes from the shared view of ``events.plans.v1``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import redis.asyncio as aioredis
import typer

from rebalancer_cli.bus import Bus
from rebalancer_cli.console import make_console
from rebalancer_cli.flows import SOURCE, Plans, collect_plans, trade_request
from rebalancer_cli.stackconfig import resolve_redis_url
from rebalancer_cli.targets import TargetsFileError, load_targets
from rebalancer_cli.views import plan_tables, plans_tables
from shared import operator
from shared.contracts import catalogue
from shared.contracts.base import Message, TargetWeight
from shared.contracts.plans import PlanProposed, PlanRejected
from shared.contracts.triggers import RequestRebalance
from shared.plans.view import HaltView, PlanView

HomeOption = Annotated[Path | None, typer.Option("--home", help="Folder of the stack.")]
RedisOption = Annotated[
    str | None,
    typer.Option(help="Redis of the stack (default: from <home>/stack.json, else port 6390)."),
]


def _weights(targets: Path | None, command: str) -> tuple[TargetWeight, ...] | None:
    if targets is None:
        return None
    try:
        return load_targets(targets).targets
    except TargetsFileError as error:
        make_console(stderr=True).print(f"[red]rebalancer {command}:[/] {error}")
        raise typer.Exit(2) from None


async def request_plans(
    redis_url: str, request: RequestRebalance, timeout_s: float
) -> dict[str, PlanProposed | PlanRejected]:
    """Publish a dry-run request and return the plan (or rejection) per account in time."""
    async with Bus(redis_url) as bus:
        plans = Plans(await bus.tail(catalogue.PLANS))
        await bus.publish(request)
        return await collect_plans(
            plans, request.correlation_id or "", set(request.account_ids), timeout_s
        )


def plan_command(
    account: Annotated[
        list[str], typer.Option("--account", "-a", help="Account id (repeat for several).")
    ],
    targets: Annotated[
        Path, typer.Option("--targets", "-t", help="CSV `symbol,weight` (blank = 0) or YAML.")
    ],
    redis_url: RedisOption = None,
    home: HomeOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the plan.")] = 15.0,
) -> None:
    """Plan (dry run) accounts toward the targets in FILE and show the drift and summary.

    The same as ``rebalance`` without ``--execute``, without following the executor.
    """
    console, err = make_console(), make_console(stderr=True)
    request = trade_request(account, None, _weights(targets, "plan"), execute=False)
    url = resolve_redis_url(redis_url, home)
    started = time.monotonic()
    try:
        answers = asyncio.run(request_plans(url, request, timeout))
    except (OSError, aioredis.RedisError) as error:
        err.print(f"[red]rebalancer plan:[/] cannot reach Redis at {url}: {error}")
        raise typer.Exit(1) from None
    failed = False
    for account_id in request.account_ids:
        answer = answers.get(account_id)
        if answer is None:
            waited = time.monotonic() - started
            err.print(
                f"[red]rebalancer plan:[/] no plan for {account_id} within {waited:.0f} s; are "
                "the notifier and the planner running (`rebalancer status`)?"
            )
            failed = True
            continue
        for table in plan_tables(answer):
            console.print(table)
        failed = failed or isinstance(answer, PlanRejected)
    if failed:
        raise typer.Exit(1)


async def _publish(url: str, message: Message) -> None:
    async with Bus(url) as bus:
        await bus.publish(message)


def approve_command(
    plan_id: Annotated[str, typer.Argument(help="The plan to approve (see `rebalancer plans`).")],
    redis_url: RedisOption = None,
    home: HomeOption = None,
) -> None:
    """Approve a plan that awaits approval (exit 1, saying why, for any other plan)."""
    url = resolve_redis_url(redis_url, home)
    view = asyncio.run(_plans(url)).get(plan_id)
    refused = operator.approval_refused(plan_id, view)
    if refused is not None or view is None:
        make_console(stderr=True).print(f"[red]rebalancer approve:[/] {refused}")
        raise typer.Exit(1)
    command = operator.approve(
        plan_id, source=SOURCE, by=SOURCE, correlation_id=view.correlation_id
    )
    asyncio.run(_publish(url, command))
    make_console().print(
        f"approved {plan_id} ({view.account_id}); follow it with `rebalancer plans`"
    )


def cancel_command(
    plan_id: Annotated[str, typer.Argument(help="The plan to cancel (see `rebalancer plans`).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept on the plan).")] = (
        "cancelled by operator"
    ),
    redis_url: RedisOption = None,
    home: HomeOption = None,
) -> None:
    """Cancel a plan: dropped before it starts, its working orders cancelled after."""
    url = resolve_redis_url(redis_url, home)
    view = asyncio.run(_plans(url)).get(plan_id)
    if view is None or view.terminal:
        status = view.status.value if view else "unknown"
        make_console(stderr=True).print(
            f"[red]rebalancer cancel:[/] plan {plan_id} is {status}; nothing to cancel "
            "(see `rebalancer plans`)"
        )
        raise typer.Exit(1)
    command = operator.cancel(
        plan_id, source=SOURCE, by=SOURCE, reason=reason, correlation_id=view.correlation_id
    )
    asyncio.run(_publish(url, command))
    make_console().print(f"asked to cancel {plan_id} ({view.account_id}, {view.status.value})")


async def _plans(url: str) -> dict[str, PlanView]:
    async with Bus(url) as bus:
        return await bus.plans()


def plans_command(
    redis_url: RedisOption = None,
    home: HomeOption = None,
    recent: Annotated[int, typer.Option(help="How many finished plans to show.")] = 10,
) -> None:
    """List plans: pending approval, running, and the most recent finished ones."""
    console = make_console()

    async def read() -> tuple[dict[str, PlanView], HaltView]:
        async with Bus(resolve_redis_url(redis_url, home)) as bus:
            return await bus.plans(), await bus.halt()

    views, halt = asyncio.run(read())
    if halt.halted:
        console.print(f"[red bold]TRADING HALTED[/]: {halt.reason} (`rebalancer resume` lifts it)")
    for table in plans_tables(list(views.values()), recent):
        console.print(table)


def halt_command(
    reason: Annotated[str, typer.Option("--reason", help="Why (shown in alerts).")] = (
        "operator halt"
    ),
    redis_url: RedisOption = None,
    home: HomeOption = None,
) -> None:
    """Kill switch: cancel every open order and refuse new plans until `rebalancer resume`."""
    command = operator.halt(reason, source=SOURCE, by=SOURCE)
    asyncio.run(_publish(resolve_redis_url(redis_url, home), command))
    make_console().print(f"[red]trading halted[/]: {reason}")


def resume_command(redis_url: RedisOption = None, home: HomeOption = None) -> None:
    """Lift a halt."""
    command = operator.resume(source=SOURCE, by=SOURCE)
    asyncio.run(_publish(resolve_redis_url(redis_url, home), command))
    make_console().print("[green]trading resumed[/]")
