"""``rebalancer rebalance``: the workflow, deciding from the shared plan view what to do next.

The request goes to the notifier (``RequestRebalance``), so the accounts file and the weights
are checked where every other trigger is checked. The flow waits for each account's plan,
shows it (drift table, batch summary), then follows the executor's decision as it appears on
``events.plans.v1``: a dry run (reported only), a plan awaiting approval (prompted, or
``--yes``), an execution (live progress of the orders), and the outcome with the report
paths. It returns whether everything went as asked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from rich.console import Console
from rich.live import Live
from rich.table import Table

from rebalancer_cli.bus import Bus
from rebalancer_cli.views import Progress, plan_tables
from shared import operator
from shared.contracts import catalogue
from shared.contracts.base import Message, TargetWeight, new_id
from shared.contracts.plans import PlanProposed, PlanRejected
from shared.contracts.triggers import RequestRebalance
from shared.kit.streams import Tail
from shared.plans.view import PlanStatus, PlanView, fold, plan_key

SOURCE = "cli"
Confirm = Callable[[list[PlanProposed]], bool]
"""Asked with the plans to execute (one per account, or the whole batch); True to execute."""


class ConfirmMode(StrEnum):
    """How the CLI asks before executing (the ETF rebalancer's ``confirm_mode``)."""

    PER_ACCOUNT = "per_account"  # one prompt per account, one after the other
    GLOBAL = "global"  # every preview first, then one prompt for the batch


def trade_request(
    accounts: list[str],
    group: str | None,
    weights: tuple[TargetWeight, ...] | None,
    execute: bool,
    hold_for_approval: bool = False,
) -> RequestRebalance:
    """The CLI's trigger: a RequestRebalance to the notifier, traced by a ``cli-`` id.

    ``hold_for_approval`` makes the executor wait for an approval even for an ``auto``
    account, so the prompt comes before any account trades and the plan confirmed is the plan
    executed.
    """
    return operator.request_rebalance(
        hold_for_approval=hold_for_approval,
        source=SOURCE,
        correlation_id=f"cli-{new_id()[:16]}",
        accounts=accounts,
        group=group,
        targets=weights,
        execute=execute,
        by=SOURCE,
        trigger_source="cli",
    )


class Step(StrEnum):
    """What the flow does with a plan once the executor decided about it."""

    WAIT = "wait"  # the executor has not decided yet
    NOTHING_TO_TRADE = "nothing_to_trade"
    DRY_RUN = "dry_run"  # reported, as asked
    NOT_EXECUTED = "not_executed"  # --execute, but the account may not trade
    ASK_APPROVAL = "ask_approval"
    REJECTED = "rejected"
    FOLLOW = "follow"
    ENDED = "ended"  # expired or failed before anything was followed


def next_step(view: PlanView | None, *, execute: bool, legs: int) -> Step:
    """The flow's next step for a plan, from its view (pure: the tests' table)."""
    if view is None or view.status == PlanStatus.PROPOSED:
        return Step.WAIT
    status = view.status
    if legs == 0 and status in (
        PlanStatus.DRY_RUN,
        PlanStatus.APPROVED,
        PlanStatus.EXECUTING,
        PlanStatus.COMPLETED,
    ):
        return Step.NOTHING_TO_TRADE
    if status == PlanStatus.DRY_RUN:
        return Step.NOT_EXECUTED if execute else Step.DRY_RUN
    if status == PlanStatus.AWAITING_APPROVAL:
        return Step.ASK_APPROVAL
    if status == PlanStatus.REJECTED:
        return Step.REJECTED
    if status in (PlanStatus.EXPIRED, PlanStatus.FAILED):
        return Step.ENDED
    return Step.FOLLOW


class Plans:
    """The views of the plans this flow follows, kept up to date from a tail of the streams."""

    def __init__(self, tail: Tail) -> None:
        self.tail = tail
        self.views: dict[str, PlanView] = {}
        self.orders: list[Message] = []

    async def read(self, block_ms: int = 200) -> list[Message]:
        """New messages; plan events are folded into ``views`` on the way."""
        messages = await self.tail.read(block_ms)
        for message in messages:
            key = plan_key(message)
            if key is not None:
                view = fold(self.views.get(key), message)
                if view is not None:
                    self.views[key] = view
        return messages

    async def decided(self, plan_id: str, timeout_s: float) -> PlanView | None:
        """The plan's view once the executor decided about it (None if it did not in time)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            view = self.views.get(plan_id)
            if view is not None and view.status != PlanStatus.PROPOSED:
                return view
            await self.read()
        return self.views.get(plan_id)


async def collect_plans(
    plans: Plans, correlation_id: str, accounts: set[str] | None, timeout_s: float
) -> dict[str, PlanProposed | PlanRejected]:
    """Wait for a plan (or rejection) per account of the request."""
    answers: dict[str, PlanProposed | PlanRejected] = {}
    deadline = time.monotonic() + timeout_s
    quiet_after: float | None = None
    while time.monotonic() < deadline:
        for message in await plans.read():
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


def _ending_line(view: PlanView | None) -> tuple[str, bool]:
    if view is None or not view.terminal:
        return "[yellow]still running (see `rebalancer plans`)[/]", False
    if view.status == PlanStatus.COMPLETED:
        return "[green]completed[/]", True
    reasons = "; ".join(r.message for r in view.reasons)
    return f"[red]{view.status.value}[/]" + (f": {reasons}" if reasons else ""), False


async def follow(
    plans: Plans, proposals: list[PlanProposed], console: Console, timeout_s: float
) -> dict[str, Progress]:
    """Show the executions live until every plan ended (or the timeout)."""
    progress = {p.plan_id: Progress(p, plans.views.get(p.plan_id)) for p in proposals}
    deadline = time.monotonic() + timeout_s

    def render() -> Table:
        grid = Table.grid()
        for item in progress.values():
            grid.add_row(item.table())
        return grid

    def ended() -> bool:
        return all(item.view is not None and item.view.terminal for item in progress.values())

    with Live(render(), console=console, refresh_per_second=8, transient=False) as live:
        while time.monotonic() < deadline and not ended():
            for message in await plans.read(100):
                for item in progress.values():
                    item.on_order_event(message)
            for plan_id, item in progress.items():
                item.view = plans.views.get(plan_id, item.view)
            live.update(render())
    console.print()
    return progress


async def rebalance_flow(
    redis_url: str,
    request: RequestRebalance,
    accounts: set[str] | None,
    *,
    execute: bool,
    yes: bool,
    console: Console,
    timeout_s: float = 30.0,
    exec_timeout_s: float = 600.0,
    confirm: Confirm | None = None,
    confirm_mode: ConfirmMode = ConfirmMode.PER_ACCOUNT,
) -> tuple[bool, dict[str, PlanView | None]]:
    """Publish, show the plans, approve as asked, follow; return (ok, view by account).

    Plans awaiting approval are confirmed after every preview was shown: one prompt each
    (``per_account``, one at a time) or one for the batch (``global``); ``yes`` approves them
    without a prompt.
    """
    correlation = request.correlation_id or request.message_id
    async with Bus(redis_url) as bus:
        plans = Plans(await bus.tail(catalogue.PLANS, catalogue.ORDERS))
        await bus.publish(request)
        answers = await collect_plans(plans, correlation, accounts, timeout_s)
        ok = _show(answers, accounts, console, timeout_s)
        proposals = [a for a in answers.values() if isinstance(a, PlanProposed)]
        steps: list[tuple[PlanProposed, PlanView | None, Step]] = []
        for plan in proposals:
            view = await plans.decided(plan.plan_id, timeout_s)
            steps.append((plan, view, next_step(view, execute=execute, legs=len(plan.legs))))
        asking = [plan for plan, _, step in steps if step == Step.ASK_APPROVAL]
        approved = _approvals(asking, yes, confirm, confirm_mode)
        to_follow: list[PlanProposed] = []
        for plan, view, step in steps:
            done, good = await _take(step, plan, view, bus, console, plan.plan_id in approved)
            ok = ok and good
            if not done:
                to_follow.append(plan)
        if to_follow:
            progress = await follow(plans, to_follow, console, exec_timeout_s)
            for item in progress.values():
                line, good = _ending_line(item.view)
                console.print(f"{item.proposal.account_id}: {line}")
                ok = ok and good
        views = {p.account_id: plans.views.get(p.plan_id) for p in proposals}
        paths = [path for view in views.values() if view for path in view.report_paths]
        for path in dict.fromkeys(paths):
            console.print(f"  report: {path}")
    return ok, views


def _show(
    answers: dict[str, PlanProposed | PlanRejected],
    accounts: set[str] | None,
    console: Console,
    timeout_s: float,
) -> bool:
    ok = True
    for account in sorted(accounts or set()):
        if account not in answers:
            console.print(
                f"[red]no plan for {account} within {timeout_s:g} s; are the notifier and "
                "planner running (`rebalancer status`)?[/]"
            )
            ok = False
    for answer in answers.values():
        for table in plan_tables(answer):
            console.print(table)
        ok = ok and not isinstance(answer, PlanRejected)
    return ok


def _approvals(
    asking: list[PlanProposed], yes: bool, confirm: Confirm | None, mode: ConfirmMode
) -> set[str]:
    """The ids of the plans the operator approved (all with ``yes``; none without a prompt)."""
    if yes:
        return {plan.plan_id for plan in asking}
    if confirm is None or not asking:
        return set()
    if mode == ConfirmMode.GLOBAL:
        return {plan.plan_id for plan in asking} if confirm(asking) else set()
    return {plan.plan_id for plan in asking if confirm([plan])}


async def _take(
    step: Step,
    plan: PlanProposed,
    view: PlanView | None,
    bus: Bus,
    console: Console,
    approved: bool,
) -> tuple[bool, bool]:
    """Act on one plan's step; return (done with it, went as asked)."""
    account = plan.account_id
    if step == Step.WAIT:
        console.print(f"[red]{account}: the executor did not decide on {plan.plan_id} in time[/]")
        return True, False
    if step == Step.NOTHING_TO_TRADE:
        console.print(f"{account}: [green]nothing to trade[/] (within the bands)")
        return view is not None and view.terminal, True
    if step == Step.DRY_RUN:
        console.print(f"{account}: dry run, nothing sent")
        return True, True
    if step == Step.NOT_EXECUTED:
        why = view.why if view else "?"
        console.print(
            f"[yellow]{account}: not executed: {why}; set `approval: manual` or `auto` in the "
            "accounts file to trade it[/]"
        )
        return True, False
    if step == Step.REJECTED:
        reasons = "; ".join(r.message for r in view.reasons) if view else ""
        console.print(f"[red]{account}: rejected: {reasons}[/]")
        return True, False
    if step == Step.ASK_APPROVAL:
        if approved:
            await bus.publish(
                operator.approve(
                    plan.plan_id, source=SOURCE, by=SOURCE, correlation_id=plan.correlation_id
                )
            )
            return False, True
        await bus.publish(
            operator.cancel(
                plan.plan_id, source=SOURCE, by=SOURCE, reason="declined at the prompt",
                correlation_id=plan.correlation_id,
            )
        )  # fmt: skip
        console.print(f"{account}: not approved; the plan was cancelled")
        return True, True
    if step == Step.ENDED:
        line, good = _ending_line(view)
        console.print(f"{account}: {line}")
        return True, good
    return False, True
