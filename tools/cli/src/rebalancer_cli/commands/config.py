"""``rebalancer validate`` and ``rebalancer accounts``: the configuration, checked and shown.

``validate`` lists every problem of the accounts file, of the portfolio files it names and of
``--targets`` files at once (:mod:`shared.checks`, the same sentences the services stop with),
and, when a stack runs, asks the gateway-bridge to qualify every symbol at IB. Exit 1 when
anything is wrong. ``accounts`` shows the configured accounts and, when a stack runs, IB's
view of each (net liquidation, cash, positions, paper or live).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import redis.asyncio as aioredis
import typer
from faststream.redis import RedisBroker
from rich.table import Table

from rebalancer_cli.console import make_console
from rebalancer_cli.stackconfig import StackSettings, StackState
from shared.accounts import Account, Accounts, AccountsFileError, load_accounts
from shared.checks import Problem, check_accounts_file, check_targets_file, symbols_of
from shared.contracts import catalogue
from shared.contracts.base import utc_now
from shared.contracts.gateway import GatewayStatus
from shared.contracts.portfolio import GetPortfolio, PortfolioUnavailable, PortfolioView
from shared.ib_gateway import is_paper_account
from shared.kit.broker import Publisher
from shared.kit.metrics import KitMetrics
from shared.kit.rpc import RpcClient, RpcTimeout
from shared.kit.streams import newest_of

console = make_console()
err = make_console(stderr=True)

AccountsFileOption = Annotated[
    Path | None,
    typer.Option("--accounts-file", help="The accounts file [default: REBALANCER_ACCOUNTS_FILE]."),
]
HomeOption = Annotated[
    Path | None, typer.Option("--home", help="The stack's folder [default: ./.rebalancer].")
]


def _settings(home: Path | None) -> StackSettings:
    return StackSettings(home=home) if home is not None else StackSettings()


async def _running(settings: StackSettings) -> str | None:
    """The Redis URL of a running stack (recorded and answering), else None."""
    state = StackState.read(settings.state_path)
    if state is None:
        return None
    client = aioredis.Redis.from_url(state.client_url(), socket_timeout=1)
    try:
        await client.ping()
        return state.client_url()
    except (OSError, aioredis.RedisError):
        return None
    finally:
        await client.aclose()


async def _ask(
    url: str, accounts: list[str], symbols: tuple[str, ...], timeout_s: float
) -> dict[str, PortfolioView | PortfolioUnavailable | str]:
    """GetPortfolio for each account over ``rpc.portfolio.v1``; a string when no answer."""
    broker = RedisBroker(url, log_level=logging.DEBUG)
    await broker.connect()
    client = aioredis.Redis.from_url(url)
    answers: dict[str, PortfolioView | PortfolioUnavailable | str] = {}
    try:
        rpc = RpcClient(client, Publisher(broker, KitMetrics()))
        for account in accounts:
            request = GetPortfolio(
                source="rebalancer-cli",
                account_id=account,
                symbols=symbols,
                valid_until=utc_now() + timedelta(seconds=timeout_s),
            )
            try:
                reply = await rpc.request(request, catalogue.PORTFOLIO_REPLIES, timeout_s)
            except RpcTimeout:
                answers[account] = f"no answer from the gateway-bridge within {timeout_s:g} s"
                continue
            if isinstance(reply, PortfolioView | PortfolioUnavailable):
                answers[account] = reply
    finally:
        await client.aclose()
        await broker.stop()
    return answers


async def _served_account(url: str) -> str | None:
    client = aioredis.Redis.from_url(url)
    try:
        status = await newest_of(client, catalogue.GATEWAY, GatewayStatus)
    finally:
        await client.aclose()
    return status.accounts[0] if status and status.connected and status.accounts else None


async def qualify(url: str, symbols: dict[str, list[str]], timeout_s: float) -> list[Problem]:
    """Problems of symbols IB does not know or finds ambiguous (through the bridge)."""
    account = await _served_account(url)
    if account is None:
        return [Problem("IB", "not_checked", "the gateway-bridge is not connected to IB; "
                        "symbols were not qualified")]  # fmt: skip
    answers = await _ask(url, [account], tuple(sorted(symbols)), timeout_s)
    reply = answers.get(account)
    if not isinstance(reply, PortfolioView):
        why = reply if isinstance(reply, str) else getattr(reply, "reason", "no answer")
        return [Problem("IB", "not_checked", f"symbols were not qualified: {why}")]
    problems = []
    for quote in reply.quotes:
        if quote.status == "unqualified" and quote.symbol in symbols:
            said = quote.detail or "IB could not qualify it"
            code = "ambiguous_symbol" if said.startswith("ambiguous") else "unknown_symbol"
            for where in symbols[quote.symbol]:
                problems.append(Problem(where, code, f"{quote.symbol}: {said}"))
    return problems


def validate_command(
    accounts_file: AccountsFileOption = None,
    targets: Annotated[
        list[Path] | None,
        typer.Option("--targets", "-t", help="A targets file (CSV or YAML); repeatable."),
    ] = None,
    home: HomeOption = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Do not ask IB to qualify the symbols.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for IB's answer.")] = 20.0,
) -> None:
    """Check the accounts file, its portfolios and targets files; list every problem."""
    settings = _settings(home)
    path = accounts_file or settings.accounts_file
    files = list(targets or [])
    if path is None and not files:
        err.print("rebalancer validate: name --accounts-file F (or set REBALANCER_ACCOUNTS_FILE) "
                  "and/or --targets F")  # fmt: skip
        raise typer.Exit(2)
    problems = check_accounts_file(path) if path else []
    for target in files:
        problems += check_targets_file(target)
    symbols = symbols_of(path, files)
    checked = "not qualified at IB (no running stack; start `rebalancer up`)"
    url = None if offline else asyncio.run(_running(settings))
    if offline:
        checked = "not qualified at IB (--offline)"
    elif url is not None:
        found = asyncio.run(qualify(url, symbols, timeout))
        problems += found
        if not any(p.code == "not_checked" for p in found):
            checked = "qualified at IB"
    for problem in problems:
        console.print(f"[red]✗[/] {problem}", highlight=False, soft_wrap=True)
    named = [str(p) for p in ([path] if path else []) + files]
    summary = f"{len(symbols)} symbols, {checked}"
    if problems:
        console.print(f"{len(problems)} problem(s) in {', '.join(named)}; {summary}")
        raise typer.Exit(1)
    console.print(f"[green]✓[/] {', '.join(named)}: no problem; {summary}", highlight=False)


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _allocation(account: Account) -> str:
    source = account.config.allocation
    if source is None:
        return "-"
    if source.url:
        return f"url {source.url}"
    if source.csv:
        return f"csv {source.csv}"
    return f"{len(source.targets or ())} inline targets"


def _triggers(account: Account) -> str:
    triggers = account.config.triggers
    named = [n for n, on in (("redis", triggers.redis), ("http", triggers.http)) if on]
    if triggers.ably_channel:
        named.append(f"ably {triggers.ably_channel}")
    if triggers.schedules:
        named.append(f"{len(triggers.schedules)} schedule(s)")
    return ", ".join(named) or "none"


def configured_table(accounts: Accounts, path: Path) -> Table:
    """The accounts as configured: id, name, groups, approval, allocation, triggers."""
    table = Table(title=f"Accounts in {path}", title_justify="left")
    for column in ("id", "name", "groups", "approval", "allocation", "triggers"):
        table.add_column(column)
    for account in accounts:
        config = account.config
        table.add_row(
            config.id, config.name or "", ", ".join(config.groups),
            account.execution.approval.value, _allocation(account), _triggers(account),
        )  # fmt: skip
    return table


def ib_table(
    accounts: Accounts, answers: dict[str, PortfolioView | PortfolioUnavailable | str]
) -> Table:
    """IB's view of each account: paper or live, net liquidation, cash, positions."""
    view = Table(title="IB's view", title_justify="left")
    for column in ("id", "kind", "net liquidation", "cash", "positions"):
        view.add_column(
            column, justify="right" if column in {"net liquidation", "cash"} else "left"
        )
    for account in accounts:
        kind = "paper" if is_paper_account(account.id) else "[bold red]LIVE[/]"
        reply = answers.get(account.id)
        if isinstance(reply, PortfolioView):
            held = ", ".join(f"{p.symbol} {p.quantity:f}" for p in reply.positions) or "none"
            view.add_row(account.id, kind, f"{_money(reply.net_liquidation)} {reply.currency}",
                         _money(reply.total_cash), held)  # fmt: skip
        else:
            why = reply if isinstance(reply, str) else getattr(reply, "reason", "no answer")
            view.add_row(account.id, kind, "-", "-", f"[yellow]{why}[/]")
    return view


def accounts_command(
    accounts_file: AccountsFileOption = None,
    home: HomeOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for IB's view.")] = 15.0,
) -> None:
    """The configured accounts and, when the stack runs, IB's view of each."""
    settings = _settings(home)
    path = accounts_file or settings.accounts_file
    if path is None:
        err.print("rebalancer accounts: name --accounts-file F (or set REBALANCER_ACCOUNTS_FILE)")
        raise typer.Exit(2)
    try:
        accounts = load_accounts(path)
    except AccountsFileError as error:
        err.print(f"rebalancer accounts: {error}\n(`rebalancer validate` lists every problem)")
        raise typer.Exit(2) from None
    console.print(configured_table(accounts, path))
    url = asyncio.run(_running(settings))
    if url is None:
        console.print("[dim]no running stack: start `rebalancer up` to see IB's view[/]")
        return
    console.print(ib_table(accounts, asyncio.run(_ask(url, [a.id for a in accounts], (), timeout))))
