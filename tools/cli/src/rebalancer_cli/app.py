"""The operator CLI ``rebalancer``: thin commands over the CLI's flows and the shared library."""

from __future__ import annotations

import typer

from rebalancer_cli.commands import config, demo, ledger, migrate, order, rebalance, stack, trade

app = typer.Typer(
    name="rebalancer",
    help="Operate the IBKR rebalancer: run the local stack, rebalance, approve, halt.",
    no_args_is_help=True,
    add_completion=False,
)
app.command(name="up")(stack.up)
app.command(name="status")(stack.status)
app.command(name="down")(stack.down)
app.command(name="plan")(trade.plan_command)
app.command(name="rebalance")(rebalance.rebalance_command)
app.command(name="approve")(trade.approve_command)
app.command(name="cancel")(trade.cancel_command)
app.command(name="plans")(trade.plans_command)
app.command(name="order")(order.order_command)
app.command(name="halt")(trade.halt_command)
app.command(name="resume")(trade.resume_command)
app.command(name="pnl")(ledger.pnl_command)
app.command(name="trades")(ledger.trades_command)
app.command(name="demo")(demo.demo_command)
app.command(name="import")(migrate.import_command)
app.command(name="validate")(config.validate_command)
app.command(name="accounts")(config.accounts_command)


def main() -> None:
    """Console script entry point."""
    app()
