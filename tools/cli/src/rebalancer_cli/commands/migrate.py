"""``rebalancer import``: write an accounts file from another tool's configuration."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from rebalancer_cli.console import make_console
from rebalancer_cli.importing import EtfOptions, ImportError_, import_source
from shared.accounts import AccountsFileError, load_accounts
from shared.policy import ApprovalMode


def _fail(message: str, code: int = 2) -> NoReturn:
    make_console(stderr=True).print(f"[red]rebalancer import:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def import_command(
    source: Annotated[
        Path,
        typer.Argument(help="The ETF rebalancer's settings.ini or the event-driven accounts.yaml."),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The accounts file to write.")
    ] = Path("rebalancer-accounts.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    csv: Annotated[
        Path | None,
        typer.Option("--csv", help="The portfolio CSV of accounts without a path (their --csv)."),
    ] = None,
    column: Annotated[
        str | None, typer.Option("--column", help="The model column of a multi-model CSV.")
    ] = None,
    approval: Annotated[
        ApprovalMode | None,
        typer.Option(help="Approval of every account (default: what the tool did, or dry_run)."),
    ] = None,
) -> None:
    """Write an accounts file from the ETF rebalancer's settings.ini (and its portfolio CSVs)
    or the event-driven rebalancer's accounts.yaml; each option says where it came from."""
    if output.exists() and output.resolve() == source.resolve():
        _fail(f"{output} is the file being imported; write elsewhere with --output")
    if output.exists() and not force:
        _fail(f"{output} exists; give --force to overwrite it, or another --output")
    options = EtfOptions(csv=csv, column=column, approval=approval.value if approval else None)
    try:
        imported = import_source(source, output, options)
    except ImportError_ as error:
        _fail(str(error))
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(imported.text(), encoding="utf-8")
    try:
        accounts = load_accounts(tmp)  # the loader every service uses
    except AccountsFileError as error:
        tmp.unlink()
        _fail(f"the file written does not load (a bug, please report it): {error}", 1)
    os.replace(tmp, output)
    err, out = make_console(stderr=True), make_console()
    for note in imported.notes:
        err.print(f"note: {note}", soft_wrap=True, markup=False)
    for warning in imported.warnings:
        err.print(f"warning: {warning}", soft_wrap=True, markup=False, style="yellow")
    names = ", ".join(a.id for a in accounts)
    out.print(
        f"wrote {output}: {len(accounts)} account(s) ({names}), {len(imported.warnings)} "
        f"warning(s); try it with `rebalancer rebalance --config {output}` (a dry run)",
        soft_wrap=True,
        markup=False,
    )
