"""``rebalancer rebalance``: plan accounts, show the previews, ask, then execute if asked.

The habits of the tools our users run today are kept where they are sound (see
``docs/migrating.md``): ``--dry-run`` is the explicit form of the default, ``--read-only`` never
sends (whatever else is given), ``--yes`` approves without a prompt, ``--confirm-mode
per_account|global`` chooses one prompt per account or one for the batch, ``--config`` names the
accounts file and ``--csv`` the targets. Without ``--yes`` an execution is held for the prompt
for every account, ``auto`` ones included: the plan confirmed is the plan executed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, NoReturn

import redis.asyncio as aioredis
import typer

from rebalancer_cli.choose import ChoiceError, choose_accounts
from rebalancer_cli.console import make_console
from rebalancer_cli.flows import ConfirmMode, rebalance_flow, trade_request
from rebalancer_cli.stackconfig import resolve_redis_url
from rebalancer_cli.targets import TargetsFileError, load_targets
from shared.contracts.base import TargetWeight
from shared.contracts.plans import PlanProposed

HomeOption = Annotated[Path | None, typer.Option("--home", help="Folder of the stack.")]
RedisOption = Annotated[
    str | None,
    typer.Option(help="Redis of the stack (default: from <home>/stack.json, else port 6390)."),
]


def _weights(targets: Path | None, column: str | None) -> tuple[TargetWeight, ...] | None:
    if targets is None:
        if column is not None:
            _fail("--column chooses a column of --targets/--csv; give the file too", 2)
        return None
    err = make_console(stderr=True)
    try:
        loaded = load_targets(targets, column)
    except TargetsFileError as error:
        _fail(str(error), 2)
    for note in loaded.notes:
        err.print(f"[dim]{note}[/]")
    return loaded.targets


def _fail(message: str, code: int) -> NoReturn:
    make_console(stderr=True).print(f"[red]rebalancer rebalance:[/] {message}")
    raise typer.Exit(code)


def _prompt(plans: list[PlanProposed]) -> bool:
    if len(plans) == 1:
        plan = plans[0]
        question = f"Execute {len(plan.legs)} orders for {plan.account_id}?"
    else:
        orders = sum(len(p.legs) for p in plans)
        names = ", ".join(p.account_id for p in plans)
        question = f"Execute {orders} orders for {len(plans)} accounts ({names})?"
    try:
        return typer.confirm(question)
    except typer.Abort:  # end of input: no answer is a no
        return False


def rebalance_command(
    account: Annotated[
        list[str] | None,
        typer.Option(
            "--account", "-a", help="Account id (repeatable); default: the file's default account."
        ),
    ] = None,
    group: Annotated[str | None, typer.Option("--group", "-g", help="Group of accounts.")] = None,
    targets: Annotated[
        Path | None,
        typer.Option(
            "--targets",
            "-t",
            "--csv",
            help="CSV (`symbol,weight`, or one column per model) or YAML; else the account's "
            "source.",
        ),
    ] = None,
    column: Annotated[
        str | None, typer.Option("--column", help="The model column of a multi-model CSV.")
    ] = None,
    execute: Annotated[bool, typer.Option("--execute", help="Trade (default: dry run).")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Plan and report only (the default).")
    ] = False,
    read_only: Annotated[
        bool,
        typer.Option("--read-only", help="Never send an order, even with --execute --yes."),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Approve without a prompt.")] = False,
    confirm_mode: Annotated[
        ConfirmMode,
        typer.Option(
            "--confirm-mode",
            help="per_account: one prompt per account; global: every preview, then one prompt.",
        ),
    ] = ConfirmMode.PER_ACCOUNT,
    parallel_accounts: Annotated[
        bool,
        typer.Option(
            "--parallel-accounts",
            help="Accepted for the ETF rebalancer's habit: accounts are always planned "
            "concurrently here; prompts stay one at a time.",
        ),
    ] = False,
    accounts_file: Annotated[
        Path | None,
        typer.Option(
            "--accounts-file",
            "--config",
            help="The accounts file, to find the default account (default: "
            "REBALANCER_ACCOUNTS_FILE, else the running stack's).",
        ),
    ] = None,
    redis_url: RedisOption = None,
    home: HomeOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the plans.")] = 30.0,
) -> None:
    """Rebalance accounts toward their targets: show the plans, then execute if asked."""
    console = make_console()
    if dry_run and execute:
        _fail("--dry-run and --execute contradict each other; give one of them", 2)
    try:
        accounts = choose_accounts(account or [], group, accounts_file, home)
    except ChoiceError as error:
        _fail(str(error), 2)
    if parallel_accounts:
        console.print(
            "[dim]--parallel-accounts: accounts are always planned concurrently here; "
            "prompts stay one at a time[/]"
        )
    weights = _weights(targets, column)
    if read_only and execute:
        console.print("[yellow]--read-only: planning only; nothing will be sent[/]")
        execute = False
    hold = execute and not yes
    request = trade_request(accounts, group, weights, execute, hold_for_approval=hold)
    url = resolve_redis_url(redis_url, home)
    try:
        ok, _ = asyncio.run(
            rebalance_flow(
                url, request, set(accounts) if accounts else None, execute=execute, yes=yes,
                console=console, timeout_s=timeout, confirm=_prompt, confirm_mode=confirm_mode,
            )
        )  # fmt: skip
    except (OSError, aioredis.RedisError) as error:
        _fail(f"cannot reach Redis at {url}: {error}", 1)
    if not ok:
        raise typer.Exit(1)
