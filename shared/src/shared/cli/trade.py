"""``rebalancer rebalance``, ``approve``, ``plans``, ``halt``, ``resume``: drive the executor.

``rebalance`` publishes the request, waits for each account's plan, shows it (drift table,
batch summary), then follows the executor: dry run (reported only), approval (prompted, or
``--yes``), live progress of the orders, and the outcome with the report paths. It exits 1 if
any plan was rejected or failed, or if ``--execute`` could not trade an account. The executor
keeps a read model in Redis (hash ``executor:plans``) that ``plans`` lists.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import redis.asyncio as aioredis
import typer
from faststream.redis import RedisBroker
from faststream.redis.parser.binary import BinaryMessageFormatV1
from pydantic import ValidationError
from rich.console import Console
from rich.live import Live
from rich.table import Table

from shared.cli.console import make_console
from shared.cli.plan import TargetsFileError, load_targets, resolve_redis_url
from shared.contracts import catalogue
from shared.contracts.allocations import TargetAllocationSet
from shared.contracts.base import ExecutionMode, Message, TargetWeight, new_id, utc_now
from shared.contracts.orders import CommissionReported, OrderFilled, OrderRejected
from shared.contracts.plan_commands import ApprovePlan, CancelPlan, HaltTrading, ResumeTrading
from shared.contracts.plans import (
    PlanCompleted,
    PlanExpired,
    PlanFailed,
    PlanProposed,
    PlanRejected,
)
from shared.contracts.triggers import RequestRebalance
from shared.render.plan import plan_tables

READ_MODEL_KEY = "executor:plans"
HALT_KEY = "executor:halted"
DATA_KEY = b"__data__"
ENDINGS = (PlanCompleted, PlanFailed, PlanRejected, PlanExpired)

HomeOption = Annotated[Path | None, typer.Option("--home", help="Folder of the stack.")]
RedisOption = Annotated[
    str | None,
    typer.Option(help="Redis of the stack (default: from <home>/stack.json, else port 6390)."),
]


def decode(spec: catalogue.StreamSpec, fields: dict[bytes, bytes]) -> Message | None:
    """Decode one entry written by the service kit (None if unreadable)."""
    raw = fields.get(DATA_KEY)
    if raw is None:
        return None
    body, _ = BinaryMessageFormatV1.parse(raw)
    try:
        return spec.decode(body)
    except (ValidationError, ValueError):
        return None


class Bus:
    """Publish commands and tail streams from a point in time (XREAD, no consumer group)."""

    def __init__(self, redis_url: str) -> None:
        self.url = redis_url
        self.client = aioredis.Redis.from_url(redis_url)
        self.broker = RedisBroker(redis_url, log_level=logging.DEBUG)
        self.cursors: dict[str, Any] = {}

    async def __aenter__(self) -> Bus:
        await self.client.ping()
        await self.broker.connect()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.broker.stop()
        await self.client.aclose()

    async def mark(self, *specs: catalogue.StreamSpec) -> None:
        """Remember the current end of each stream; ``read`` returns what comes after."""
        for spec in specs:
            last = await self.client.xrevrange(spec.name, count=1)
            self.cursors[spec.name] = last[0][0] if last else "0-0"

    async def publish(self, message: Message) -> None:
        await self.broker.publish(
            message.model_dump(mode="json"),
            stream=catalogue.stream_of(message),
            correlation_id=message.correlation_id or message.message_id,
        )

    async def read(self, block_ms: int = 200) -> list[Message]:
        """New messages of the marked streams, in order per stream."""
        cursors: Any = self.cursors
        found: Any = await self.client.xread(cursors, block=block_ms)
        out: list[Message] = []
        for name, entries in found or []:
            stream = name.decode() if isinstance(name, bytes) else name
            spec = catalogue.CATALOGUE[stream]
            for entry_id, fields in entries:
                self.cursors[stream] = entry_id
                message = decode(spec, fields)
                if message is not None:
                    out.append(message)
        return out

    async def row(self, plan_id: str) -> dict[str, Any] | None:
        raw = await self.client.hget(READ_MODEL_KEY, plan_id)
        return json.loads(raw) if raw else None


@dataclass
class Progress:
    """What the live view shows for one plan."""

    proposal: PlanProposed
    status: str = "proposed"
    fills: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    end: Message | None = None

    def table(self) -> Table:
        table = Table(title=f"{self.proposal.account_id}: {self.status}", title_justify="left")
        for name in ("Leg", "Symbol", "Side", "Planned", "Filled", "Avg Price", "Commission"):
            table.add_column(name, justify="left" if name in ("Symbol", "Side") else "right")
        table.add_column("Note")
        for leg in self.proposal.legs:
            prefix = f"{self.proposal.plan_id}.{leg.leg}."
            filled = sum(
                (f["qty"] for k, f in self.fills.items() if k.startswith(prefix)), Decimal(0)
            )
            value = sum(
                (f["value"] for k, f in self.fills.items() if k.startswith(prefix)), Decimal(0)
            )
            commission = sum(
                (f["commission"] for k, f in self.fills.items() if k.startswith(prefix)), Decimal(0)
            )
            note = next((v for k, v in self.notes.items() if k.startswith(prefix)), "")
            table.add_row(
                str(leg.leg),
                leg.symbol,
                leg.side.value,
                f"{leg.quantity.normalize():f}",
                f"{filled.normalize():f}",
                f"{value / filled:.2f}" if filled else "-",
                f"{commission:.2f}",
                note,
            )
        return table

    def apply(self, message: Message) -> None:
        coid = getattr(message, "client_order_id", "")
        slot = self.fills.setdefault(
            coid, {"qty": Decimal(0), "value": Decimal(0), "commission": Decimal(0)}
        )
        if isinstance(message, OrderFilled):
            slot["qty"] += message.last_quantity
            slot["value"] += message.last_quantity * message.last_price
        elif isinstance(message, CommissionReported):
            slot["commission"] += message.commission
        elif isinstance(message, OrderRejected):
            self.notes[coid] = message.reason[:60]


async def collect_plans(
    bus: Bus, correlation_id: str, accounts: set[str] | None, timeout_s: float
) -> dict[str, PlanProposed | PlanRejected]:
    """Wait for a plan (or rejection) per account of the request."""
    answers: dict[str, PlanProposed | PlanRejected] = {}
    deadline = time.monotonic() + timeout_s
    quiet_after: float | None = None
    while time.monotonic() < deadline:
        for message in await bus.read():
            if (
                isinstance(message, PlanProposed | PlanRejected)
                and message.correlation_id == correlation_id
                and message.account_id not in answers
            ):
                answers[message.account_id] = message
                quiet_after = time.monotonic() + 2.0
        if accounts is not None and accounts <= set(answers):
            break
        # a group request: stop once answers stopped coming for a moment
        if accounts is None and quiet_after is not None and time.monotonic() > quiet_after:
            break
    return answers


async def follow(
    bus: Bus, plans: list[PlanProposed], console: Console, timeout_s: float
) -> dict[str, Progress]:
    """Show the executions live until every plan ended (or the timeout)."""
    progress = {p.plan_id: Progress(p) for p in plans}
    deadline = time.monotonic() + timeout_s

    def render() -> Table:
        grid = Table.grid()
        for item in progress.values():
            grid.add_row(item.table())
        return grid

    with Live(render(), console=console, refresh_per_second=8, transient=False) as live:
        while time.monotonic() < deadline and any(p.end is None for p in progress.values()):
            for message in await bus.read(100):
                item = progress.get(getattr(message, "plan_id", None) or "")
                if item is None:
                    coid = getattr(message, "client_order_id", "") or ""
                    item = next((v for k, v in progress.items() if coid.startswith(k + ".")), None)
                if item is None:
                    continue
                if isinstance(message, ENDINGS):
                    item.end = message
                    item.status = type(message).__name__
                elif message.type in ("PlanApproved", "PlanExecutionStarted"):  # type: ignore[attr-defined]
                    item.status = message.type  # type: ignore[attr-defined]
                else:
                    item.apply(message)
            live.update(render())
    console.print()
    return progress


def _ending_line(end: Message | None) -> tuple[str, bool]:
    if isinstance(end, PlanCompleted):
        return "[green]completed[/]", True
    if isinstance(end, PlanFailed | PlanRejected):
        reasons = "; ".join(r.message for r in end.reasons)
        return f"[red]{type(end).__name__[4:].lower()}[/]: {reasons}", False
    if isinstance(end, PlanExpired):
        return "[red]expired[/]", False
    return "[yellow]still running (see `rebalancer plans`)[/]", False


async def rebalance_flow(
    redis_url: str,
    request: Message,
    correlation_id: str,
    accounts: set[str] | None,
    *,
    execute: bool,
    yes: bool,
    console: Console,
    timeout_s: float = 30.0,
    exec_timeout_s: float = 600.0,
    confirm: Any = None,
) -> tuple[bool, dict[str, Any]]:
    """Publish, show the plans, approve as asked, follow; return (ok, rows by account)."""
    ok = True
    async with Bus(redis_url) as bus:
        await bus.mark(catalogue.PLANS, catalogue.ORDERS)
        await bus.publish(request)
        answers = await collect_plans(bus, correlation_id, accounts, timeout_s)
        for account in sorted(accounts or set()):
            if account not in answers:
                console.print(
                    f"[red]no plan for {account} within {timeout_s:g} s; are the notifier and "
                    "planner running (`rebalancer status`)?[/]"
                )
                ok = False
        proposals: list[PlanProposed] = []
        for answer in answers.values():
            for table in plan_tables(answer):
                console.print(table)
            if isinstance(answer, PlanRejected):
                ok = False
            else:
                proposals.append(answer)
        rows: dict[str, Any] = {}
        to_follow: list[PlanProposed] = []
        for plan in proposals:
            row = await _wait_decided(bus, plan.plan_id, timeout_s)
            rows[plan.account_id] = row
            status = row["status"] if row else "unknown"
            if not plan.legs and status in ("dry_run", "approved", "executing", "completed"):
                console.print(f"{plan.account_id}: [green]nothing to trade[/] (within the bands)")
                if status != "dry_run":
                    to_follow.append(plan)
                continue
            if status == "dry_run":
                if execute:
                    console.print(
                        f"[yellow]{plan.account_id}: not executed: the account's approval mode is "
                        f"{row['approval'] if row else '?'}; set `approval: manual` or `auto` in "
                        "the accounts file to trade it[/]"
                    )
                    ok = False
                else:
                    console.print(f"{plan.account_id}: dry run, nothing sent")
                continue
            if status == "awaiting_approval":
                approve = yes or (confirm(plan) if confirm else False)
                if approve:
                    await bus.publish(
                        ApprovePlan(
                            source="cli",
                            correlation_id=plan.correlation_id,
                            plan_id=plan.plan_id,
                            approved_by="cli",
                            valid_until=utc_now() + timedelta(minutes=5),
                        )
                    )
                    to_follow.append(plan)
                else:
                    await bus.publish(
                        CancelPlan(
                            source="cli",
                            plan_id=plan.plan_id,
                            reason="declined at the prompt",
                            valid_until=utc_now() + timedelta(minutes=5),
                        )
                    )
                    console.print(f"{plan.account_id}: not approved; the plan was cancelled")
                continue
            if status == "rejected":
                reasons = "; ".join(r["message"] for r in (row or {}).get("reasons", []))
                console.print(f"[red]{plan.account_id}: rejected: {reasons}[/]")
                ok = False
                continue
            to_follow.append(plan)
        if to_follow:
            progress = await follow(bus, to_follow, console, exec_timeout_s)
            for item in progress.values():
                line, good = _ending_line(item.end)
                # the end may have been published before we started following
                if item.end is None:
                    row = await bus.row(item.proposal.plan_id)
                    if row and row["status"] == "completed":
                        line, good = "[green]completed[/]", True
                console.print(f"{item.proposal.account_id}: {line}")
                ok = ok and good
        for plan in proposals:
            row = await bus.row(plan.plan_id)
            rows[plan.account_id] = row
            for path in (row or {}).get("reports", []):
                console.print(f"  report: {path}")
    return ok, rows


async def _wait_decided(bus: Bus, plan_id: str, timeout_s: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = await bus.row(plan_id)
        if row and row["status"] != "proposed":
            return row
        await asyncio.sleep(0.1)
    return None


def rebalance_command(
    account: Annotated[
        list[str] | None, typer.Option("--account", "-a", help="Account id (repeatable).")
    ] = None,
    group: Annotated[str | None, typer.Option("--group", "-g", help="Group of accounts.")] = None,
    targets: Annotated[
        Path | None,
        typer.Option(
            "--targets", "-t", help="CSV `symbol,weight` or YAML; else the account's source."
        ),
    ] = None,
    execute: Annotated[bool, typer.Option("--execute", help="Trade (default: dry run).")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Approve without a prompt.")] = False,
    redis_url: RedisOption = None,
    home: HomeOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the plans.")] = 30.0,
) -> None:
    """Rebalance accounts toward their targets: show the plan, then execute if asked."""
    console, err = make_console(), make_console(stderr=True)
    if not account and not group:
        err.print("[red]rebalancer rebalance:[/] name --account ID (repeatable) or --group NAME")
        raise typer.Exit(2)
    weights: tuple[TargetWeight, ...] | None = None
    if targets is not None:
        try:
            weights = load_targets(targets)
        except TargetsFileError as error:
            err.print(f"[red]rebalancer rebalance:[/] {error}")
            raise typer.Exit(2) from None
    request, correlation = build_request(account or [], group, weights, execute)
    url = resolve_redis_url(redis_url, home)

    def confirm(plan: PlanProposed) -> bool:
        return typer.confirm(f"Execute {len(plan.legs)} orders for {plan.account_id}?")

    try:
        ok, _ = asyncio.run(
            rebalance_flow(
                url,
                request,
                correlation,
                set(account) if account else None,
                execute=execute,
                yes=yes,
                console=console,
                timeout_s=timeout,
                confirm=confirm,
            )
        )
    except (OSError, aioredis.RedisError) as error:
        err.print(f"[red]rebalancer rebalance:[/] cannot reach Redis at {url}: {error}")
        raise typer.Exit(1) from None
    if not ok:
        raise typer.Exit(1)


def build_request(
    accounts: list[str],
    group: str | None,
    weights: tuple[TargetWeight, ...] | None,
    execute: bool,
) -> tuple[Message, str]:
    """Targets for named accounts go straight to the planner; anything else via the notifier."""
    correlation = f"cli-{new_id()[:16]}"
    execution = ExecutionMode.REBALANCE if execute else ExecutionMode.DRY_RUN
    if weights is not None and accounts and group is None:
        return (
            TargetAllocationSet(
                source="cli",
                correlation_id=correlation,
                allocation_id=correlation,
                account_ids=tuple(dict.fromkeys(accounts)),
                targets=weights,
                execution=execution,
                source_kind="csv",
            ),
            correlation,
        )
    return (
        RequestRebalance(
            source="cli",
            correlation_id=correlation,
            account_ids=tuple(dict.fromkeys(accounts)),
            group=group,
            execution=execution,
            targets=weights,
            trigger_source="cli",
            requested_by="cli",
            valid_until=utc_now() + timedelta(minutes=5),
        ),
        correlation,
    )


async def _publish(url: str, message: Message) -> None:
    async with Bus(url) as bus:
        await bus.publish(message)


def approve_command(
    plan_id: Annotated[str, typer.Argument(help="The plan to approve (see `rebalancer plans`).")],
    redis_url: RedisOption = None,
    home: HomeOption = None,
) -> None:
    """Approve a plan that waits for manual approval."""
    url = resolve_redis_url(redis_url, home)
    row = asyncio.run(_row(url, plan_id))
    if row is None or row["status"] != "awaiting_approval":
        make_console(stderr=True).print(
            f"[red]rebalancer approve:[/] plan {plan_id} is "
            f"{row['status'] if row else 'unknown'}, not awaiting approval; see `rebalancer plans`"
        )
        raise typer.Exit(1)
    asyncio.run(
        _publish(
            url,
            ApprovePlan(
                source="cli",
                plan_id=plan_id,
                approved_by="cli",
                valid_until=utc_now() + timedelta(minutes=5),
            ),
        )
    )
    make_console().print(
        f"approved {plan_id} ({row['account_id']}); follow it with `rebalancer plans`"
    )


async def _row(url: str, plan_id: str) -> dict[str, Any] | None:
    async with Bus(url) as bus:
        return await bus.row(plan_id)


async def _rows(url: str) -> tuple[list[dict[str, Any]], str | None]:
    async with Bus(url) as bus:
        raw = await bus.client.hgetall(READ_MODEL_KEY)
        halted: Any = await bus.client.get(HALT_KEY)
    rows = [json.loads(v) for v in raw.values()]
    return rows, halted.decode() if halted else None


def plans_command(
    redis_url: RedisOption = None,
    home: HomeOption = None,
    recent: Annotated[int, typer.Option(help="How many finished plans to show.")] = 10,
) -> None:
    """List plans: pending approval, running, and the most recent finished ones."""
    console = make_console()
    rows, halted = asyncio.run(_rows(resolve_redis_url(redis_url, home)))
    if halted:
        console.print(f"[red bold]TRADING HALTED[/]: {halted} (`rebalancer resume` lifts it)")
    groups = {
        "Pending approval": [r for r in rows if r["status"] == "awaiting_approval"],
        "Running": [r for r in rows if r["status"] in ("proposed", "approved", "executing")],
        "Recent": sorted(
            (
                r
                for r in rows
                if r["status"] not in ("awaiting_approval", "proposed", "approved", "executing")
            ),
            key=lambda r: r["updated_at"],
            reverse=True,
        )[:recent],
    }
    for title, items in groups.items():
        table = Table(title=title, title_justify="left")
        for name in (
            "Plan",
            "Account",
            "Status",
            "Legs",
            "Filled",
            "Proposed",
            "Valid until",
            "Note",
        ):
            table.add_column(name)
        for r in items:
            filled = sum(1 for leg in r["legs"] if leg["status"] == "filled")
            note = "; ".join(x["message"] for x in r.get("reasons", []))[:80]
            table.add_row(
                r["plan_id"], r["account_id"], r["status"], str(len(r["legs"])), str(filled),
                r["proposed_at"][:19], r["valid_until"][11:19], note,
            )  # fmt: skip
        console.print(table)


def halt_command(
    reason: Annotated[
        str, typer.Option("--reason", help="Why (shown in alerts).")
    ] = "operator halt",
    redis_url: RedisOption = None,
    home: HomeOption = None,
) -> None:
    """Kill switch: cancel every open order and refuse new plans until `rebalancer resume`."""
    asyncio.run(
        _publish(
            resolve_redis_url(redis_url, home),
            HaltTrading(
                source="cli", reason=reason, requested_by="cli",
                valid_until=utc_now() + timedelta(minutes=5),
            ),
        )
    )  # fmt: skip
    make_console().print(f"[red]trading halted[/]: {reason}")


def resume_command(redis_url: RedisOption = None, home: HomeOption = None) -> None:
    """Lift a halt."""
    asyncio.run(
        _publish(
            resolve_redis_url(redis_url, home),
            ResumeTrading(
                source="cli", requested_by="cli", valid_until=utc_now() + timedelta(minutes=5)
            ),
        )
    )
    make_console().print("[green]trading resumed[/]")
