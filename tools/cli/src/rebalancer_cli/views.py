"""What the CLI shows: plans as the reference ETF rebalancer prints them (a drift table and a
batch summary, or a rejection's reasons), the live progress of executions, and the plans list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from rich.table import Table

from shared.contracts.base import Message
from shared.contracts.orders import CommissionReported, OrderFilled, OrderRejected
from shared.contracts.plans import PlanProposed, PlanRejected
from shared.plans.rows import drift_columns, drift_csv_rows, number
from shared.plans.view import PlanStatus, PlanView
from shared.rebalancing.ids import ClientOrderId

_ACTION_STYLE = {"BUY": "green", "SELL": "red", "HOLD": "dim"}


def drift_table(plan: PlanProposed, *, notes: bool = True) -> Table:
    """Return the drift table of ``plan`` (one row per symbol; skip reasons as notes)."""
    title = f"Plan {plan.plan_id} for {plan.account_id} ({plan.execution.value})"
    table = Table(title=title, title_justify="left")
    columns = drift_columns(plan)
    action = columns.index("Action")
    for name in columns:
        justify = "left" if name in ("Account", "Symbol", "Action", "Currency") else "right"
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    if notes:
        table.add_column("Note", style="yellow", overflow="fold")
    for row in drift_csv_rows(plan, grouped=True):
        style = _ACTION_STYLE.get(row["Action"], "")
        cells = [row[c] for c in columns]
        cells[action] = f"[{style}]{cells[action]}[/]" if style else cells[action]
        table.add_row(*cells, *([row["Note"]] if notes else []))
    return table


def summary_table(plan: PlanProposed) -> Table:
    """Return the batch summary of ``plan`` as a two-column table."""
    s = plan.summary
    title = "Batch Summary" if s.currency == "USD" else f"Batch Summary ({s.currency})"
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("Item")
    table.add_column("Value", justify="right")
    for label, value in (
        ("Net Liquidation", number(s.net_liquidation)),
        ("Gross Buy", number(s.gross_buy)),
        ("Gross Sell", number(s.gross_sell)),
        ("Pre Gross Exposure", number(s.pre_gross_exposure)),
        ("Post Gross Exposure", number(s.post_gross_exposure)),
        ("Pre Leverage", number(s.pre_leverage)),
        ("Post Leverage", number(s.post_leverage)),
        ("Cash Before", number(s.cash_before)),
        ("Cash After", number(s.cash_after)),
        ("Turnover %", number(s.turnover_pct)),
        ("Est. Commissions", number(s.estimated_commissions)),
        *_currency_lines(plan),
        ("Legs", str(len(plan.legs))),
        ("Valid Until", plan.valid_until.strftime("%Y-%m-%d %H:%M:%S UTC")),
    ):
        table.add_row(label, value)
    return table


def _currency_lines(plan: PlanProposed) -> list[tuple[str, str]]:
    """Cash per currency before and after, the FX legs and what no cash pays for."""
    s = plan.summary
    if not s.cash_by_currency_after:
        return []
    lines = [
        (f"Cash {c} (before -> after)", f"{number(s.cash_by_currency_before.get(c))} -> "
         f"{number(v)}")
        for c, v in s.cash_by_currency_after.items()
    ]  # fmt: skip
    lines += [(f"Rate {c} in {s.currency}", number(r, 6)) for c, r in s.exchange_rates.items()]
    lines.append((f"FX legs ({s.currency})", number(s.gross_fx)))
    lines += [(f"Unfunded {c}", number(v)) for c, v in s.unfunded.items()]
    if s.currency_policy:
        lines.append(("Currency policy", s.currency_policy))
    return lines


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


@dataclass
class Progress:
    """What the live view shows for one plan: its status, and each leg's fills."""

    proposal: PlanProposed
    view: PlanView | None = None
    filled: dict[int, Decimal] = field(default_factory=dict)
    value: dict[int, Decimal] = field(default_factory=dict)
    commission: dict[int, Decimal] = field(default_factory=dict)
    notes: dict[int, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.view.status.value if self.view else PlanStatus.PROPOSED.value

    def on_order_event(self, message: Message) -> None:
        """Count a fill, a commission or a rejection of one of the plan's orders."""
        coid = ClientOrderId.parse(str(getattr(message, "client_order_id", "")))
        if coid is None or coid.plan_id != self.proposal.plan_id:
            return
        leg = coid.leg
        if isinstance(message, OrderFilled):
            self.filled[leg] = self.filled.get(leg, Decimal(0)) + message.last_quantity
            self.value[leg] = (
                self.value.get(leg, Decimal(0)) + message.last_quantity * message.last_price
            )
        elif isinstance(message, CommissionReported):
            self.commission[leg] = self.commission.get(leg, Decimal(0)) + message.commission
        elif isinstance(message, OrderRejected):
            self.notes[leg] = message.reason[:60]

    def table(self) -> Table:
        table = Table(title=f"{self.proposal.account_id}: {self.status}", title_justify="left")
        for name in ("Leg", "Symbol", "Side", "Planned", "Filled", "Avg Price", "Commission"):
            table.add_column(name, justify="left" if name in ("Symbol", "Side") else "right")
        table.add_column("Note")
        for leg in self.proposal.legs:
            filled = self.filled.get(leg.leg, Decimal(0))
            table.add_row(
                str(leg.leg),
                leg.symbol,
                leg.side.value,
                f"{leg.quantity.normalize():f}",
                f"{filled.normalize():f}",
                f"{self.value.get(leg.leg, Decimal(0)) / filled:.2f}" if filled else "-",
                f"{self.commission.get(leg.leg, Decimal(0)):.2f}",
                self.notes.get(leg.leg, ""),
            )
        return table


PLANS_COLUMNS = ("Plan", "Account", "Status", "Legs", "Filled", "Proposed", "Valid until", "Note")
PENDING = frozenset({PlanStatus.AWAITING_APPROVAL})
RUNNING = frozenset({PlanStatus.PROPOSED, PlanStatus.APPROVED, PlanStatus.EXECUTING})


def plans_tables(views: list[PlanView], recent: int) -> list[Table]:
    """``rebalancer plans``: pending approval, running, and the most recent finished plans."""
    finished = sorted(
        (v for v in views if v.status not in PENDING | RUNNING),
        key=lambda v: v.updated_at,
        reverse=True,
    )
    groups = {
        "Pending approval": [v for v in views if v.status in PENDING],
        "Running": [v for v in views if v.status in RUNNING],
        "Recent": finished[:recent],
    }
    tables = []
    for title, items in groups.items():
        table = Table(title=title, title_justify="left")
        for name in PLANS_COLUMNS:
            table.add_column(name)
        for v in items:
            note = "; ".join(r.message for r in v.reasons) or (v.why or "")
            table.add_row(
                v.plan_id,
                v.account_id,
                v.status.value,
                str(v.legs if v.legs is not None else "-"),
                str(v.filled_legs),
                v.proposed_at.isoformat()[:19] if v.proposed_at else "-",
                v.valid_until.isoformat()[11:19] if v.valid_until else "-",
                note[:80],
            )
        tables.append(table)
    return tables
