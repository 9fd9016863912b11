"""``rebalancer demo``: the README's main command."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from rebalancer_cli.console import make_console
from rebalancer_cli.demo import DEMO_DIR, demo_flow
from rebalancer_cli.stack import StackAlreadyRunning
from rebalancer_cli.stackconfig import StackSettings
from rebalancer_cli.targets import TargetsFileError


def demo_command(
    home: Annotated[Path | None, typer.Option("--home", help="Folder of the stack.")] = None,
    model: Annotated[
        Path, typer.Option(help="Model portfolio (CSV symbol,weight or YAML).")
    ] = DEMO_DIR / "model.csv",
    accounts_file: Annotated[Path, typer.Option(help="Accounts file of the demo stack.")] = DEMO_DIR
    / "accounts.yaml",
) -> None:
    """Start the stack on the emulator, rebalance the sample accounts: dry run, execute, report."""
    console = make_console()
    values: dict[str, object] = {"accounts_file": accounts_file}
    if home is not None:
        values["home"] = home
    settings = StackSettings(**values)  # type: ignore[arg-type]
    try:
        ok = asyncio.run(demo_flow(settings, model, console))
    except TargetsFileError as error:
        console.print(f"[red]rebalancer demo:[/] {error}")
        raise typer.Exit(2) from None
    except (StackAlreadyRunning, RuntimeError, TimeoutError) as error:
        console.print(f"[red]rebalancer demo:[/] {error}")
        raise typer.Exit(1) from None
    if not ok:
        raise typer.Exit(1)
