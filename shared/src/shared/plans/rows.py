"""Plans as rows of strings, as the reference ETF rebalancer prints them: the drift table and
the batch summary. The executor's CSV reports and the CLI's tables both render these rows."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from shared.contracts.plans import PlanProposed

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
CURRENCY_COLUMNS = ("Currency", "Price")
"""Added after ``Symbol`` for a plan over several currencies: the symbol's currency and its
price in it (``Drift $`` and the percentages stay in the base currency)."""


def is_multi_currency(plan: PlanProposed) -> bool:
    """Whether the plan's rows carry their currency (symbols or cash not all in the base)."""
    return any(row.currency is not None for row in plan.drift)


def drift_columns(plan: PlanProposed) -> tuple[str, ...]:
    """The drift table's columns for ``plan`` (with currency and price when it needs them)."""
    if not is_multi_currency(plan):
        return DRIFT_COLUMNS
    return (*DRIFT_COLUMNS[:2], *CURRENCY_COLUMNS, *DRIFT_COLUMNS[2:])


def number(value: Decimal | None, places: int = 2, *, grouped: bool = True) -> str:
    """A figure rounded to ``places`` decimals (``-`` for none), with thousands separators for
    people (``grouped``) or plain for files (``10000.00``: a CSV reader parses it as a number)."""
    if value is None:
        return "-"
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return f"{rounded:,}" if grouped else f"{rounded:f}"


_number = number


def _qty(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text if "." in text else f"{text}"


def drift_csv_rows(plan: PlanProposed, *, grouped: bool = False) -> list[dict[str, str]]:
    """Return one row per drift-table line, keyed by DRIFT_COLUMNS plus ``Note``: plain
    numbers for files, digits grouped (``grouped``) for a table shown to people."""

    def number(value: Decimal | None, places: int = 2) -> str:
        return _number(value, places, grouped=grouped)

    rows = []
    multi = is_multi_currency(plan)
    base = plan.summary.currency
    for row in plan.drift:
        listing = {"Currency": row.currency or base, "Price": number(row.price, 4)} if multi else {}
        rows.append(
            {
                "Account": plan.account_id,
                "Symbol": row.symbol,
                **listing,
                "Target %": number(row.target_pct),
                "Current %": number(row.current_pct),
                "Drift %": number(row.drift_pct),
                "Drift $": number(row.drift_value),
                "Action": row.action,
                "Qty": _qty(row.quantity),
                "Est Value": number(row.estimated_value),
                "Note": row.skip_reason or "",
            }
        )
    return rows


def summary_csv_row(plan: PlanProposed) -> dict[str, str]:
    """Return the batch summary as one flat row (plan id and account first), plain numbers."""

    def number(value: Decimal | None) -> str:
        return _number(value, grouped=False)

    s = plan.summary
    return {
        "plan_id": plan.plan_id,
        "account_id": plan.account_id,
        "legs": str(len(plan.legs)),
        "net_liquidation": number(s.net_liquidation),
        "gross_buy": number(s.gross_buy),
        "gross_sell": number(s.gross_sell),
        "pre_gross_exposure": number(s.pre_gross_exposure),
        "post_gross_exposure": number(s.post_gross_exposure),
        "pre_leverage": number(s.pre_leverage),
        "post_leverage": number(s.post_leverage),
        "cash_before": number(s.cash_before),
        "cash_after": number(s.cash_after),
        "turnover_pct": number(s.turnover_pct),
        "estimated_commissions": number(s.estimated_commissions),
        "currency": s.currency,
        **(
            {
                "cash_after_by_currency": " ".join(
                    f"{c} {number(v)}" for c, v in s.cash_by_currency_after.items()
                ),
                "gross_fx": number(s.gross_fx),
                "unfunded": " ".join(f"{c} {number(v)}" for c, v in s.unfunded.items()),
            }
            if s.cash_by_currency_after
            else {}
        ),
    }
