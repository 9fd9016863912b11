"""Render plans as the reference ETF rebalancer does: a drift table and a batch summary.

``drift_table`` and ``summary_table`` turn a PlanProposed into rich Tables,
``rejection_table`` lists a PlanRejected's reasons, and ``drift_csv_rows`` /
``summary_csv_row`` give the same content as plain string rows for CSV reports.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from rich.table import Table

from shared.contracts.plans import PlanProposed, PlanRejected

DRIFT_COLUMNS = (
    "Account",
    "Symbol",
    "Target %",
    "Current %",
    "Drift %",
    "Drift $",
    "Action",
    "Qty",
    "Est Value",
)
"""Columns of the drift table, in order (also the CSV header, plus ``Note``)."""


def _num(value: Decimal | None, places: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN):,}"


def _qty(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text if "." in text else f"{text}"


def drift_csv_rows(plan: PlanProposed) -> list[dict[str, str]]:
    """Return one row per drift-table line, keyed by DRIFT_COLUMNS plus ``Note``."""
    rows = []
    for row in plan.drift:
        rows.append(
            {
                "Account": plan.account_id,
                "Symbol": row.symbol,
                "Target %": _num(row.target_pct),
                "Current %": _num(row.current_pct),
                "Drift %": _num(row.drift_pct),
                "Drift $": _num(row.drift_value),
                "Action": row.action,
                "Qty": _qty(row.quantity),
                "Est Value": _num(row.estimated_value),
                "Note": row.skip_reason or "",
            }
        )
    return rows


def summary_csv_row(plan: PlanProposed) -> dict[str, str]:
    """Return the batch summary as one flat row (plan id and account first)."""
    s = plan.summary
    return {
        "plan_id": plan.plan_id,
        "account_id": plan.account_id,
        "legs": str(len(plan.legs)),
        "net_liquidation": _num(s.net_liquidation),
        "gross_buy": _num(s.gross_buy),
        "gross_sell": _num(s.gross_sell),
        "pre_gross_exposure": _num(s.pre_gross_exposure),
        "post_gross_exposure": _num(s.post_gross_exposure),
        "pre_leverage": _num(s.pre_leverage),
        "post_leverage": _num(s.post_leverage),
        "cash_before": _num(s.cash_before),
        "cash_after": _num(s.cash_after),
        "turnover_pct": _num(s.turnover_pct),
        "estimated_commissions": _num(s.estimated_commissions),
        "currency": s.currency,
    }


_ACTION_STYLE = {"BUY": "green", "SELL": "red", "HOLD": "dim"}


def drift_table(plan: PlanProposed, *, notes: bool = True) -> Table:
    """Return the drift table of ``plan`` (one row per symbol; skip reasons as notes)."""
    title = f"Plan {plan.plan_id} for {plan.account_id} ({plan.execution.value})"
    table = Table(title=title, title_justify="left")
    for name in DRIFT_COLUMNS:
        justify = "left" if name in ("Account", "Symbol", "Action") else "right"
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    if notes:
        table.add_column("Note", style="yellow", overflow="fold")
    for row in drift_csv_rows(plan):
        style = _ACTION_STYLE.get(row["Action"], "")
        cells = [row[c] for c in DRIFT_COLUMNS]
        cells[6] = f"[{style}]{cells[6]}[/]" if style else cells[6]
        table.add_row(*cells, *([row["Note"]] if notes else []))
    return table


def summary_table(plan: PlanProposed) -> Table:
    """Return the batch summary of ``plan`` as a two-column table."""
    s = plan.summary
    table = Table(title="Batch Summary", title_justify="left", show_header=False)
    table.add_column("Item")
    table.add_column("Value", justify="right")
    for label, value in (
        ("Net Liquidation", _num(s.net_liquidation)),
        ("Gross Buy", _num(s.gross_buy)),
        ("Gross Sell", _num(s.gross_sell)),
        ("Pre Gross Exposure", _num(s.pre_gross_exposure)),
        ("Post Gross Exposure", _num(s.post_gross_exposure)),
        ("Pre Leverage", _num(s.pre_leverage)),
        ("Post Leverage", _num(s.post_leverage)),
        ("Cash Before", _num(s.cash_before)),
        ("Cash After", _num(s.cash_after)),
        ("Turnover %", _num(s.turnover_pct)),
        ("Est. Commissions", _num(s.estimated_commissions)),
        ("Legs", str(len(plan.legs))),
        ("Valid Until", plan.valid_until.strftime("%Y-%m-%d %H:%M:%S UTC")),
    ):
        table.add_row(label, value)
    return table


def warnings_table(plan: PlanProposed) -> Table | None:
    """Return the plan's warnings as a table, or None when there are none."""
    if not plan.warnings:
        return None
    table = Table(title="Warnings", title_justify="left", show_header=False)
    table.add_column("Warning", style="yellow", overflow="fold")
    for warning in plan.warnings:
        table.add_row(warning)
    return table


def rejection_table(rejection: PlanRejected) -> Table:
    """Return the reasons of a rejected plan: code, symbol and what to fix."""
    table = Table(
        title=f"Plan rejected for {rejection.account_id} ({rejection.stage})",
        title_justify="left",
        title_style="bold red",
    )
    table.add_column("Code", style="red")
    table.add_column("Symbol")
    table.add_column("What to fix", overflow="fold")
    for reason in rejection.reasons:
        table.add_row(reason.code, reason.symbol or "", reason.message)
    return table


def plan_tables(message: PlanProposed | PlanRejected) -> list[Table]:
    """Return every table that shows ``message`` (drift, summary, warnings; or the reasons)."""
    if isinstance(message, PlanRejected):
        return [rejection_table(message)]
    tables = [drift_table(message), summary_table(message)]
    warnings = warnings_table(message)
    if warnings is not None:
        tables.append(warnings)
    return tables
