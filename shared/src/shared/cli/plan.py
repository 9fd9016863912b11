"""``rebalancer plan``: send targets for an account through the running stack, show the plan.

It publishes a dry-run TargetAllocationSet (source ``cli``), then reads ``events.plans.v1``
from the entry before it published (XREAD, no consumer group, so it takes nothing from the
executor or the notifier) until the planner's PlanProposed or PlanRejected for that
allocation arrives, and prints the drift table and batch summary. Exit 0 for a plan, 1 for
a rejection or no answer, 2 for an unreadable targets file.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Annotated, Any

import redis.asyncio as aioredis
import typer
import yaml
from faststream.redis import RedisBroker
from faststream.redis.parser.binary import BinaryMessageFormatV1
from pydantic import ValidationError

from shared.cli.console import make_console
from shared.cli.stackconfig import StackSettings, StackState
from shared.contracts import catalogue
from shared.contracts.allocations import TargetAllocationSet
from shared.contracts.base import ExecutionMode, Message, TargetWeight, new_id
from shared.contracts.plans import PlanProposed, PlanRejected
from shared.rebalancing.targets import parse_target_csv, parse_target_mapping
from shared.render.plan import plan_tables

DEFAULT_REDIS_URL = "redis://127.0.0.1:6390/0"
DATA_KEY = b"__data__"


class TargetsFileError(ValueError):
    """The targets file cannot be read; the message says where and what."""


def load_targets(path: Path) -> tuple[TargetWeight, ...]:
    """Read targets from CSV (``symbol,weight``; header optional) or YAML (list or mapping).

    The formats are the notifier's (:mod:`shared.rebalancing.targets`); whether the weights
    suit the account is the notifier's check when the request arrives.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TargetsFileError(f"{path}: cannot read the targets file ({error.strerror})") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise TargetsFileError(f"{path}: not valid YAML: {error}") from None
        parsed = parse_target_mapping(data, str(path))
    else:
        parsed = parse_target_csv(text, str(path))
    if not parsed.ok:
        raise TargetsFileError("; ".join(r.message for r in parsed.reasons))
    return parsed.targets


def resolve_redis_url(redis_url: str | None, home: Path | None) -> str:
    """The --redis-url option, else the running stack's (``<home>/stack.json``), else 6390."""
    if redis_url:
        return redis_url
    settings = StackSettings(home=home) if home is not None else StackSettings()
    state = StackState.read(settings.home.resolve() / "stack.json")
    return state.redis_url if state is not None else DEFAULT_REDIS_URL


def decode_plan_entry(fields: dict[bytes, bytes]) -> Message | None:
    """Decode one ``events.plans.v1`` entry as written by the service kit (None if unreadable)."""
    raw = fields.get(DATA_KEY)
    if raw is None:
        return None
    body, _ = BinaryMessageFormatV1.parse(raw)
    try:
        return catalogue.PLANS.decode(body)
    except (ValidationError, ValueError):
        return None


async def request_plans(
    redis_url: str, event: TargetAllocationSet, timeout_s: float
) -> dict[str, PlanProposed | PlanRejected]:
    """Publish ``event`` and return the planner's answer per account (those that came in time)."""
    client = aioredis.Redis.from_url(redis_url)
    broker = RedisBroker(redis_url, log_level=logging.DEBUG)
    answers: dict[str, PlanProposed | PlanRejected] = {}
    try:
        last = await client.xrevrange(catalogue.PLANS.name, count=1)
        cursor: Any = last[0][0] if last else "0-0"
        await broker.connect()
        await broker.publish(
            event.model_dump(mode="json"),
            stream=catalogue.ALLOCATIONS.name,
            correlation_id=event.correlation_id or event.message_id,
        )
        deadline = time.monotonic() + timeout_s
        wanted = set(event.account_ids)
        while wanted - set(answers):
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                break
            found: Any = await client.xread({catalogue.PLANS.name: cursor}, block=min(left_ms, 500))
            for _, entries in found or []:
                for entry_id, fields in entries:
                    cursor = entry_id
                    message = decode_plan_entry(fields)
                    if (
                        isinstance(message, PlanProposed | PlanRejected)
                        and message.allocation_id == event.allocation_id
                    ):
                        answers[message.account_id] = message
    finally:
        await broker.stop()
        await client.aclose()
    return answers


def plan_command(
    account: Annotated[
        list[str], typer.Option("--account", "-a", help="Account id (repeat for several).")
    ],
    targets: Annotated[
        Path, typer.Option("--targets", "-t", help="CSV `symbol,weight` (blank = 0) or YAML.")
    ],
    redis_url: Annotated[
        str | None,
        typer.Option(help="Redis of the stack (default: from <home>/stack.json, else port 6390)."),
    ] = None,
    home: Annotated[Path | None, typer.Option("--home", help="Folder of the stack.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the plan.")] = 15.0,
) -> None:
    """Plan (dry run) an account toward the targets in FILE and show the drift and summary."""
    console, err = make_console(), make_console(stderr=True)
    try:
        weights = load_targets(targets)
    except TargetsFileError as error:
        err.print(f"[red]rebalancer plan:[/] {error}")
        raise typer.Exit(2) from None
    allocation_id = f"cli-{new_id()[:16]}"
    event = TargetAllocationSet(
        source="cli",
        correlation_id=allocation_id,
        allocation_id=allocation_id,
        account_ids=tuple(dict.fromkeys(account)),
        targets=weights,
        execution=ExecutionMode.DRY_RUN,
        source_kind="csv",
    )
    url = resolve_redis_url(redis_url, home)
    try:
        answers = asyncio.run(request_plans(url, event, timeout))
    except (OSError, aioredis.RedisError) as error:
        err.print(f"[red]rebalancer plan:[/] cannot reach Redis at {url}: {error}")
        raise typer.Exit(1) from None
    failed = False
    for account_id in event.account_ids:
        answer = answers.get(account_id)
        if answer is None:
            err.print(
                f"[red]rebalancer plan:[/] no plan for {account_id} within {timeout:g} s; is the "
                "planner running (`rebalancer status`)?"
            )
            failed = True
            continue
        for table in plan_tables(answer):
            console.print(table)
        failed = failed or isinstance(answer, PlanRejected)
    if failed:
        raise typer.Exit(1)
