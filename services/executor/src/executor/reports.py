"""CSV reports per run, as users of the reference ETF rebalancer expect them.

A run is every plan of one trigger (same ``correlation_id``). Under ``reports_dir``::

    rebalance_pre_<account>_<run>.csv    state and intended trades (every plan, dry run too)
    rebalance_post_<account>_<run>.csv   executions per leg (omitted on dry run)
    run_summary_<run>.csv                one row per account of the run

``<run>`` is the run's UTC timestamp plus the first characters of its correlation id, so two
runs in the same second never overwrite each other. Files are written to a temporary name
and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from shared.contracts.base import Side
from shared.contracts.plans import LegResult, PlanLeg, PlanProposed
from shared.plans.rows import drift_csv_rows
from shared.plans.view import PlanStatus, PlanView
from shared.rebalancing.exposure import Exposure

SUMMARY_COLUMNS = (
    "timestamp_run",
    "account_id",
    "planned_orders",
    "submitted",
    "filled",
    "rejected",
    "buy_usd",
    "sell_usd",
    "pre_leverage",
    "post_leverage",
    "status",
    "error",
    "currency",
)
POST_COLUMNS = (
    "account_id",
    "plan_id",
    "leg",
    "client_order_id",
    "symbol",
    "currency",
    "side",
    "ordered_quantity",
    "filled_quantity",
    "average_price",
    "value",
    "commission",
    "status",
)


@dataclass(frozen=True)
class SummaryRow:
    """One account's line of the run summary."""

    account_id: str
    planned_orders: int
    submitted: int
    filled: int
    rejected: int
    buy_usd: Decimal
    sell_usd: Decimal
    pre_leverage: Decimal
    post_leverage: Decimal
    status: str
    error: str = ""
    currency: str = "USD"


def run_label(proposal: PlanProposed) -> str:
    """The ``<run>`` part of the file names of the plan's run."""
    run = proposal.correlation_id or proposal.plan_id
    safe = "".join(c for c in run if c.isalnum())[:8]
    return f"{proposal.ts_event.strftime('%Y%m%d_%H%M%S')}_{safe}"


def _write(path: Path, columns: tuple[str, ...] | list[str], rows: list[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_pre_trade(reports_dir: Path, proposal: PlanProposed) -> Path:
    """Write the account's state and intended trades (drift rows plus the plan's legs)."""
    legs = {leg.symbol: leg for leg in proposal.legs}
    rows = []
    for row in drift_csv_rows(proposal):
        leg = legs.get(row["Symbol"])
        rows.append(
            {
                "plan_id": proposal.plan_id,
                "execution": proposal.execution.value,
                **row,
                "leg": "" if leg is None else str(leg.leg),
                "reference_price": "" if leg is None else str(leg.reference_price),
                "leg_currency": "" if leg is None else (leg.currency or proposal.summary.currency),
            }
        )
    for leg in proposal.legs:
        if leg.sec_type == "CASH":  # FX legs have no drift row: one line each
            rows.append(
                {
                    "plan_id": proposal.plan_id,
                    "execution": proposal.execution.value,
                    "Account": proposal.account_id,
                    "Symbol": leg.symbol,
                    "Action": leg.side.value,
                    "Qty": str(leg.quantity),
                    "Est Value": f"{leg.estimated_value:.2f}",
                    "Note": f"FX leg funding {leg.funds_currency} buys",
                    "leg": str(leg.leg),
                    "reference_price": str(leg.reference_price),
                    "leg_currency": leg.currency or proposal.summary.currency,
                }
            )
    columns = ["plan_id", "execution", *(rows[0].keys() if rows else [])]
    columns = list(dict.fromkeys(columns))
    path = reports_dir / f"rebalance_pre_{proposal.account_id}_{run_label(proposal)}.csv"
    return _write(path, columns, rows)


def write_post_trade(reports_dir: Path, proposal: PlanProposed, legs: list[LegResult]) -> Path:
    """Write one row per executed leg: ordered, filled, average price, commission, status."""
    rows = [
        {
            "account_id": proposal.account_id,
            "plan_id": proposal.plan_id,
            "leg": str(leg.leg),
            "client_order_id": leg.client_order_id,
            "symbol": leg.symbol,
            "currency": leg.currency or proposal.summary.currency,
            "side": leg.side.value,
            "ordered_quantity": str(leg.ordered_quantity),
            "filled_quantity": str(leg.filled_quantity),
            "average_price": "" if leg.average_price is None else f"{leg.average_price:.4f}",
            "value": f"{leg.filled_quantity * (leg.average_price or Decimal(0)):.2f}",
            "commission": f"{leg.commission:.2f}",
            "status": leg.status,
        }
        for leg in legs
    ]
    path = reports_dir / f"rebalance_post_{proposal.account_id}_{run_label(proposal)}.csv"
    return _write(path, POST_COLUMNS, rows)


def _post_leverage(proposal: PlanProposed, legs: list[LegResult]) -> Decimal:
    """Leverage after the executed legs, position by position from the plan's drift rows."""
    s = proposal.summary
    holdings = {
        row.symbol: (row.current_quantity, row.price) for row in proposal.drift if row.price
    }
    held = Exposure(holdings)
    exposure = Exposure(holdings, other=s.pre_gross_exposure - held.gross)
    change: dict[str, Decimal] = {}
    prices: dict[str, Decimal] = {}
    for leg in legs:
        signed = leg.filled_quantity if leg.side == Side.BUY else -leg.filled_quantity
        change[leg.symbol] = change.get(leg.symbol, Decimal(0)) + signed
        if leg.average_price is not None:
            prices[leg.symbol] = leg.average_price
    return exposure.after(change, prices) / s.net_liquidation


def summary_row(
    proposal: PlanProposed, status: str, legs: list[LegResult] | None, error: str = ""
) -> SummaryRow:
    """Build an account's summary line: planned values on dry run, executed ones otherwise."""
    s = proposal.summary
    stocks = [leg for leg in proposal.legs if leg.sec_type != "CASH"]
    if legs is None:
        buy = sum((_planned_base(leg) for leg in stocks if leg.side == Side.BUY), Decimal(0))
        sell = sum((_planned_base(leg) for leg in stocks if leg.side == Side.SELL), Decimal(0))
        submitted = filled = rejected = 0
    else:
        planned = {leg.leg: leg for leg in proposal.legs}
        rates = s.exchange_rates

        def value(leg: LegResult) -> Decimal:
            """The executed value in the base currency, at the plan's rates."""
            plan_leg = planned.get(leg.leg)
            times = plan_leg.price_magnifier if plan_leg else 1
            rate = rates.get(leg.currency or "", Decimal(1))
            return leg.filled_quantity * (leg.average_price or Decimal(0)) / times * rate

        executed = [leg for leg in legs if not _is_fx(planned.get(leg.leg))]
        buy = sum((value(leg) for leg in executed if leg.side == Side.BUY), Decimal(0))
        sell = sum((value(leg) for leg in executed if leg.side == Side.SELL), Decimal(0))
        submitted = sum(1 for leg in legs if leg.status != "skipped")
        filled = sum(1 for leg in legs if leg.status == "filled")
        rejected = sum(1 for leg in legs if leg.status == "rejected")
    post = s.post_leverage
    if legs is not None and s.net_liquidation > 0:
        post = _post_leverage(proposal, legs)
    return SummaryRow(
        account_id=proposal.account_id,
        planned_orders=len(proposal.legs),
        submitted=submitted,
        filled=filled,
        rejected=rejected,
        buy_usd=buy,
        sell_usd=sell,
        pre_leverage=s.pre_leverage,
        post_leverage=post,
        status=status,
        error=error,
        currency=s.currency,
    )


def _planned_base(leg: PlanLeg) -> Decimal:
    """A planned leg's value in the base currency."""
    return leg.estimated_value_base if leg.estimated_value_base is not None else leg.estimated_value


def _is_fx(leg: PlanLeg | None) -> bool:
    return leg is not None and leg.sec_type == "CASH"


def summary_path(reports_dir: Path, proposal: PlanProposed) -> Path:
    """Where the run summary of the plan's run is written."""
    return reports_dir / f"run_summary_{run_label(proposal)}.csv"


def write_summary(reports_dir: Path, label: str, timestamp: str, rows: list[SummaryRow]) -> Path:
    """(Re)write the run summary with one line per account."""
    lines = [
        {
            "timestamp_run": timestamp,
            "account_id": r.account_id,
            "planned_orders": str(r.planned_orders),
            "submitted": str(r.submitted),
            "filled": str(r.filled),
            "rejected": str(r.rejected),
            "buy_usd": f"{r.buy_usd:.2f}",
            "sell_usd": f"{r.sell_usd:.2f}",
            "currency": r.currency,
            "pre_leverage": f"{r.pre_leverage:.4f}",
            "post_leverage": f"{r.post_leverage:.4f}",
            "status": r.status,
            "error": r.error,
        }
        for r in sorted(rows, key=lambda r: r.account_id)
    ]
    return _write(reports_dir / f"run_summary_{label}.csv", SUMMARY_COLUMNS, lines)


def outcome_row(proposal: PlanProposed, view: PlanView) -> SummaryRow | None:
    """The summary line of a plan from its view (None while it has no outcome yet)."""
    if not view.terminal:
        return None
    status = view.status.value
    if view.status == PlanStatus.DRY_RUN:
        return summary_row(proposal, status, None, view.why or "")
    if view.status == PlanStatus.EXPIRED:
        return summary_row(proposal, status, None, "the plan expired before it could execute")
    error = "; ".join(r.message for r in view.reasons)
    legs = list(view.results) if view.results else None
    return summary_row(proposal, status, legs, error)


class CsvReports:
    """The executor's reports as CSV files under ``reports_dir`` (see the module)."""

    def __init__(self, reports_dir: Path) -> None:
        self.reports_dir = reports_dir

    def pre_trade(self, proposal: PlanProposed) -> Path:
        return write_pre_trade(self.reports_dir, proposal)

    def post_trade(self, proposal: PlanProposed, legs: list[LegResult]) -> Path:
        return write_post_trade(self.reports_dir, proposal, legs)

    def summary_path(self, proposal: PlanProposed) -> Path:
        return summary_path(self.reports_dir, proposal)

    def summary(self, proposal: PlanProposed, run: Iterable[tuple[PlanProposed, PlanView]]) -> Path:
        """(Re)write the run summary of ``proposal``'s run from every plan of it.

        Built from the plans' views, so a restart (which replays them) loses no line.
        """
        label = run_label(proposal)
        rows = [
            row
            for other, view in run
            if run_label(other) == label and (row := outcome_row(other, view)) is not None
        ]
        return write_summary(self.reports_dir, label, proposal.ts_event.isoformat(), rows)
