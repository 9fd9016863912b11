"""`rebalancer plans`, `approve`, `cancel`, `halt`, `resume` read and write what the services
do: the shared view of events.plans.v1, and the operator commands on commands.plans.v1."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import redis.asyncio as aioredis
from faststream.redis import RedisBroker
from typer.testing import CliRunner

from rebalancer_cli.app import app
from rebalancer_cli.flows import Step, next_step
from rebalancer_testkit.samples import sample_of
from shared.contracts import catalogue
from shared.contracts.base import Message, utc_now
from shared.contracts.plan_commands import ApprovePlan, CancelPlan, HaltTrading, ResumeTrading
from shared.kit.streams import read
from shared.plans.view import fold_all

DRY, MANUAL, FRESH = "pl-dry", "pl-manual", "pl-fresh"


async def publish(url: str, *messages: Message) -> None:
    broker = RedisBroker(url)
    await broker.connect()
    for message in messages:
        await broker.publish(
            message.model_dump(mode="json"),
            stream=catalogue.stream_of(message),
            correlation_id=message.correlation_id,
        )
    await broker.stop()


def proposed(plan_id: str) -> Message:
    return sample_of(
        "PlanProposed", plan_id=plan_id, correlation_id=f"c-{plan_id}",
        valid_until=utc_now() + timedelta(minutes=15),
    )  # fmt: skip


@pytest.fixture
async def plans(redis_url: str) -> str:
    """A dry run reported, a plan awaiting approval, one not decided yet, and a halt."""
    await publish(
        redis_url,
        proposed(DRY),
        sample_of("PlanDryRunReported", plan_id=DRY, why="the trigger asked for a dry run"),
        proposed(MANUAL),
        sample_of("PlanAwaitingApproval", plan_id=MANUAL, valid_until=utc_now() + timedelta(minutes=15)),
        proposed(FRESH),
        sample_of("HaltTrading", reason="market chaos", valid_until=utc_now() + timedelta(minutes=1)),
    )  # fmt: skip
    return redis_url


async def cli(*args: str):  # type: ignore[no-untyped-def]
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def commands(url: str) -> list[Message]:
    client = aioredis.Redis.from_url(url)
    found = await read(client, catalogue.PLAN_COMMANDS)
    await client.aclose()
    return [m for m in found if not isinstance(m, HaltTrading) or m.source == "cli"]


async def test_plans_lists_every_decision_and_the_halt(plans: str) -> None:
    result = await cli("plans", "--redis-url", plans)
    assert result.exit_code == 0, result.output
    assert "TRADING HALTED" in result.output
    assert "market chaos" in result.output
    lines = {
        line.split()[1]: line for line in result.output.splitlines() if line.startswith("│ pl-")
    }
    assert "awaiting_approval" in lines[MANUAL]
    assert "dry_run" in lines[DRY]
    assert "proposed" in lines[FRESH]


@pytest.mark.parametrize(
    ("plan_id", "says"),
    [
        (DRY, f"plan {DRY} is dry_run, not awaiting approval: it is a dry run"),
        (FRESH, "the executor has not decided on it yet"),
        ("pl-nope", "no plan 'pl-nope' is known"),
    ],
)
async def test_approving_a_plan_that_does_not_await_approval_exits_1_saying_why(
    plans: str, plan_id: str, says: str
) -> None:
    result = await cli("approve", plan_id, "--redis-url", plans)
    assert result.exit_code == 1
    assert says in " ".join(result.output.split())
    assert [m for m in await commands(plans) if isinstance(m, ApprovePlan)] == []


async def test_approving_a_plan_that_awaits_approval_sends_the_command(plans: str) -> None:
    result = await cli("approve", MANUAL, "--redis-url", plans)
    assert result.exit_code == 0, result.output
    [command] = [m for m in await commands(plans) if isinstance(m, ApprovePlan)]
    assert (command.plan_id, command.approved_by, command.source) == (MANUAL, "cli", "cli")
    assert command.correlation_id == f"c-{MANUAL}"


async def test_cancel_halt_and_resume_send_the_operator_commands(plans: str) -> None:
    assert (
        await cli("cancel", MANUAL, "--reason", "not today", "--redis-url", plans)
    ).exit_code == 0
    assert (await cli("cancel", DRY, "--redis-url", plans)).exit_code == 1  # final already
    assert (await cli("halt", "--reason", "drill", "--redis-url", plans)).exit_code == 0
    assert (await cli("resume", "--redis-url", plans)).exit_code == 0
    sent = await commands(plans)
    assert [type(m) for m in sent] == [CancelPlan, HaltTrading, ResumeTrading]
    assert sent[0].reason == "not today"
    assert all(m.valid_until > utc_now() for m in sent)


@pytest.mark.parametrize(
    ("events", "execute", "legs", "step"),
    [
        ([], False, 1, Step.WAIT),
        (["PlanDryRunReported"], False, 1, Step.DRY_RUN),
        (["PlanDryRunReported"], True, 1, Step.NOT_EXECUTED),
        (["PlanDryRunReported"], True, 0, Step.NOTHING_TO_TRADE),
        (["PlanAwaitingApproval"], True, 1, Step.ASK_APPROVAL),
        (["PlanApproved"], True, 1, Step.FOLLOW),
        (["PlanApproved"], True, 0, Step.NOTHING_TO_TRADE),
        (["PlanRejected"], True, 1, Step.REJECTED),
        (["PlanAwaitingApproval", "PlanExpired"], True, 1, Step.ENDED),
    ],
)
def test_the_flow_decides_from_the_plan_view(
    events: list[str], execute: bool, legs: int, step: Step
) -> None:
    moves = [sample_of(name, plan_id="pl-abc") for name in events]
    view = fold_all([sample_of("PlanProposed"), *moves])["pl-abc"]
    assert next_step(view, execute=execute, legs=legs) == step
    assert next_step(None, execute=execute, legs=legs) == Step.WAIT
