"""``rebalancer up``, ``status``, ``down``: the local stack."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Annotated

import redis
import typer

from rebalancer_cli.console import make_console
from rebalancer_cli.gateway import GatewayUnreachable, parse_address
from rebalancer_cli.processes import command_of, is_alive, orphans_of, stop_processes
from rebalancer_cli.stack import Stack, StackAlreadyRunning, StackConfigError, run_until_interrupted
from rebalancer_cli.stackconfig import StackSettings, StackState
from rebalancer_cli.status import (
    ib_status,
    render_ib,
    render_status,
    service_health,
    stream_rows,
)
from shared.checks import check_accounts_file

console = make_console()
err = make_console(stderr=True)

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home", help="Folder of the stack's data, logs and reports [default: ./.rebalancer]."
    ),
]


def _settings(home: Path | None, **overrides: object) -> StackSettings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if home is not None:
        values["home"] = home
    return StackSettings(**values)  # type: ignore[arg-type]


def up(
    home: HomeOption = None,
    redis_port: Annotated[
        int | None, typer.Option(help="Port of the embedded Redis [6390].")
    ] = None,
    ib_port: Annotated[int | None, typer.Option(help="Port of the IB emulator [4002].")] = None,
    scenario: Annotated[Path | None, typer.Option(help="Emulator scenario YAML.")] = None,
    accounts_file: Annotated[Path | None, typer.Option(help="Accounts file (YAML).")] = None,
    gateway: Annotated[
        str | None,
        typer.Option(
            help="HOST:PORT of your own TWS or IB Gateway (7497 TWS paper, 4002 IB Gateway "
            "paper): no emulator is started."
        ),
    ] = None,
    client_id: Annotated[
        int | None, typer.Option(help="The bridge's API client id at your gateway [17].")
    ] = None,
    allow_orders: Annotated[
        bool,
        typer.Option(
            "--allow-orders",
            help="Let the bridge place orders at your gateway (read-only without).",
        ),
    ] = False,
    live: Annotated[
        bool,
        typer.Option("--live", help="Also trade live accounts (not DU...): real money."),
    ] = False,
) -> None:
    """Start the local stack (embedded Redis, IB emulator or your gateway, every service)
    until Ctrl-C."""
    settings = _settings(
        home, redis_port=redis_port, ib_port=ib_port, scenario=scenario,
        accounts_file=accounts_file, gateway=gateway, client_id=client_id,
        allow_orders=allow_orders or None, live=live or None,
    )  # fmt: skip
    _refuse_bad_configuration(settings)
    stack = Stack(settings)
    try:
        stack.acquire()
    except StackAlreadyRunning as error:
        err.print(f"[red]rebalancer up:[/] {error}")
        raise typer.Exit(1) from None
    try:
        asyncio.run(run_until_interrupted(stack))
    except (GatewayUnreachable, StackConfigError) as error:
        err.print(f"[red]rebalancer up:[/] {error}")
        raise typer.Exit(2) from None
    except (RuntimeError, TimeoutError) as error:
        err.print(f"[red]rebalancer up:[/] {error}")
        raise typer.Exit(1) from None
    finally:
        stack.release()


def _refuse_bad_configuration(settings: StackSettings) -> None:
    """Stop before starting anything when the gateway address or the accounts file is wrong."""
    problems: list[str] = []
    if settings.gateway:
        try:
            parse_address(settings.gateway)
        except ValueError as error:
            problems.append(str(error))
    if settings.accounts_file:
        path = settings.accounts_file
        problems += [str(p) for p in check_accounts_file(path) if p.file == str(path)]
    if not problems:
        return
    for problem in problems:
        err.print(f"[red]rebalancer up:[/] {problem}", highlight=False)
    err.print("nothing started; `rebalancer validate` lists every problem")
    raise typer.Exit(2)


def status(home: HomeOption = None) -> None:
    """Show each service's health, the Redis address, stream lengths and consumer-group lag."""
    settings = _settings(home)
    state = StackState.read(settings.state_path)
    if state is None:
        redis_url = f"redis://127.0.0.1:{settings.redis_port}/0"
        client_url = settings.fallback_redis_url()
        ops_ports = {
            "gateway-bridge": settings.bridge_ops_port,
            "planner": settings.planner_ops_port,
            "executor": settings.executor_ops_port,
            "notifier": settings.notifier_ops_port,
        }
        err.print(f"[yellow]no running stack recorded in {settings.home}; probing default ports[/]")
    else:
        redis_url, client_url, ops_ports = state.redis_url, state.client_url(), state.ops_ports
    health = service_health(ops_ports)
    rows, redis_error, ib = None, None, None
    client = redis.Redis.from_url(client_url, socket_timeout=2)
    try:
        rows = stream_rows(client)
        ib = ib_status(client)
    except redis.exceptions.RedisError as error:
        redis_error = f"cannot reach {redis_url}: {error}"
    finally:
        client.close()
    tables = render_status(redis_url, health, rows, redis_error)
    if ib is not None:
        tables.insert(1, render_ib(ib))
    for table in tables:
        console.print(table)
    if redis_error or not all(ok for ok, _ in health.values()):
        raise typer.Exit(1)


def down(
    home: HomeOption = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the stack to stop before giving up.")
    ] = 90.0,
) -> None:
    """Stop the stack started by `rebalancer up` (as Ctrl-C in its terminal would).

    When its supervisor is gone (killed), stop the processes it left behind instead.
    """
    settings = _settings(home)
    state = StackState.read(settings.state_path)
    if state is None:
        err.print(f"no running stack recorded in {settings.home.resolve()}")
        raise typer.Exit(1)
    if is_alive(state.pid) and "rebalancer" in command_of(state.pid):
        os.kill(state.pid, signal.SIGINT)
        console.print(f"asked the stack (pid {state.pid}) to stop; waiting")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and is_alive(state.pid):
            time.sleep(0.2)
        if is_alive(state.pid):
            err.print(f"the stack (pid {state.pid}) is still stopping after {timeout:g} s")
            raise typer.Exit(1)
        console.print("stopped")
        return
    left = orphans_of(state.children, state.markers)
    if left:
        listed = ", ".join(f"{name} (pid {pid})" for name, pid in left.items())
        console.print(f"the stack's supervisor (pid {state.pid}) is gone; stopping {listed}")
        _stopped, killed = stop_processes(left.values())
        if killed:
            console.print(f"killed {len(killed)} that did not stop within 15 s")
    else:
        err.print(f"the stack's process {state.pid} is gone and left nothing running")
    settings.state_path.unlink(missing_ok=True)
