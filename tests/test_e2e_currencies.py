"""End to end over the real stack with several currencies: Redis, the emulator's
multi_currency scenario, bridge, planner and executor processes.

DU2000002 is a CAD-base *cash* account (CAD 60,000, USD 5,000, XIC and VFV on Toronto). It is
taken to 50 % SPY (a USD ETF) with ``currency_policy: convert``: the plan sells CAD ETFs,
buys USD on IDEALPRO (USD.CAD), then buys SPY with the USD. A cash account that had no USD
would have its SPY buy refused by IB, so a completed plan proves the FX leg came first; no
currency may end negative. DU2000001 (EUR base, margin) is taken to USD and EUR ETFs the
same way, and must not borrow USD either.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ib_emulator.scenario import builtin_scenario
from rebalancer_testkit.e2e import E2EStack, accounts_file
from shared.contracts import catalogue
from shared.contracts.order_commands import SubmitOrder
from shared.contracts.plans import PlanCompleted, PlanProposed

CAD, EUR = "DU2000002", "DU2000001"
PLANNING = {
    "drift_band_abs_pct": "0.5",
    "min_order_value": "50",
    "currency_policy": "convert",
    "fx_buffer_pct": "0.5",
}


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[E2EStack]:
    scenario = builtin_scenario("multi_currency").model_dump(mode="json")
    accounts = accounts_file(
        DU2000001={"approval": "auto", "planning": PLANNING},
        DU2000002={"approval": "auto", "planning": PLANNING},
    )
    s = E2EStack(tmp_path, accounts, scenario=scenario)
    try:  # a stack that failed to start is stopped too (no orphaned processes)
        await s.start()
        yield s
    finally:
        await s.stop()


async def account(stack: E2EStack, account_id: str) -> dict[str, Any]:
    state = await stack.emulator("GET", "/state")
    return next(a for a in state["accounts"] if a["id"] == account_id)


def weights(acct: dict[str, Any], prices: dict[str, Decimal]) -> dict[str, Decimal]:
    """Each holding's share of net liquidation, in the base currency."""
    rates = {c: Decimal(r) for c, r in acct["exchange_rates"].items()}
    nlv = Decimal(acct["net_liquidation"])
    found = {}
    for p in acct["positions"]:
        currency = p.get("currency", "USD")
        value = Decimal(str(p["quantity"])) * prices[p["symbol"]] * rates.get(currency, Decimal(1))
        found[p["symbol"]] = value / nlv
    return found


async def test_a_cad_cash_account_buys_usd_first_then_the_usd_etf(stack: E2EStack) -> None:
    plans = await stack.request_plan((CAD,), {"XIC": "0.3", "VFV": "0.2", "SPY": "0.5"})
    end = await stack.wait_end(plans[CAD], 90)
    assert isinstance(end, PlanCompleted), end
    proposal = next(e for e in await stack.plan_events(plans[CAD]) if isinstance(e, PlanProposed))
    assert proposal.summary.currency == "CAD"
    assert [leg.symbol for leg in proposal.legs if leg.sec_type == "CASH"] == ["USD.CAD"]
    assert all(leg.status == "filled" for leg in end.legs), end.legs
    # sells, then the FX leg, then the buys
    sent = [
        (c.side.value, c.sec_type, c.symbol)
        for c in await stack.messages(catalogue.ORDER_COMMANDS)
        if isinstance(c, SubmitOrder)
    ]
    kinds = ["sell" if s == "SELL" and t == "STK" else "fx" if t == "CASH" else "buy"
             for s, t, _ in sent]  # fmt: skip
    assert kinds == sorted(kinds, key=["sell", "fx", "buy"].index), sent
    assert ("BUY", "CASH", "USD.CAD") in sent
    assert ("BUY", "STK", "SPY") in sent
    acct = await account(stack, CAD)
    cash = {c: Decimal(v) for c, v in acct["cash_by_currency"].items()}
    assert all(v >= 0 for v in cash.values()), cash
    state = await stack.emulator("GET", "/state")
    prices = {s: (Decimal(p["bid"]) + Decimal(p["ask"])) / 2 for s, p in state["prices"].items()}
    w = weights(acct, prices)
    assert abs(w["SPY"] - Decimal("0.5")) < Decimal("0.02"), w
    assert abs(w["XIC"] - Decimal("0.3")) < Decimal("0.02"), w
    # IB's odd-lot or IDEALPRO fill: the conversion is not left in the positions
    assert {p["symbol"] for p in acct["positions"]} == {"XIC", "VFV", "SPY"}
    # the reports name each leg's currency; the FX leg has its line in the pre-trade report
    [pre] = stack.reports_dir.glob(f"rebalance_pre_{CAD}_*.csv")
    assert "USD.CAD" in pre.read_text()
    [post] = stack.reports_dir.glob(f"rebalance_post_{CAD}_*.csv")
    header, *lines = post.read_text().splitlines()
    assert header.split(",")[5] == "currency"
    assert {line.split(",")[4]: line.split(",")[5] for line in lines}["SPY"] == "USD"
    [summary] = stack.reports_dir.glob("run_summary_*.csv")
    assert summary.read_text().splitlines()[1].endswith(",CAD")


async def test_a_eur_margin_account_converts_rather_than_borrowing_usd(stack: E2EStack) -> None:
    plans = await stack.request_plan((EUR,), {"VTI": "0.5", "EXS1": "0.25", "IWDA": "0.25"})
    end = await stack.wait_end(plans[EUR], 90)
    assert isinstance(end, PlanCompleted), end
    proposal = next(e for e in await stack.plan_events(plans[EUR]) if isinstance(e, PlanProposed))
    assert [leg.symbol for leg in proposal.legs if leg.sec_type == "CASH"] == ["EUR.USD"]
    acct = await account(stack, EUR)
    cash = {c: Decimal(v) for c, v in acct["cash_by_currency"].items()}
    assert all(v >= 0 for v in cash.values()), cash  # a margin account could have borrowed
    state = await stack.emulator("GET", "/state")
    prices = {s: (Decimal(p["bid"]) + Decimal(p["ask"])) / 2 for s, p in state["prices"].items()}
    w = weights(acct, prices)
    assert abs(w["VTI"] - Decimal("0.5")) < Decimal("0.02"), w
    assert "BND" not in w
