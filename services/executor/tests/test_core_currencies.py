"""The executor over several currencies, checked by hand: FX legs sized from the cash after
the sells, buys sized per currency from the converted cash, the risk gate in the base.

The CAD account of the planner's worked example (docs/planner.md): after selling 125 XIC the
account holds CAD 34,000 and USD 800; the plan buys USD.CAD 26,833.50 to pay 55 SPY at USD 500.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from executor.core.orders import order_spec, submit_order
from executor.core.risk import FreshQuote, RiskContext, RiskLeg, check_plan
from executor.core.sizing import Money, size_buys_by_currency, size_fx
from shared.contracts.base import ExecutionMode, Side
from shared.contracts.plans import BatchSummary, PlanLeg, PlanProposed, SizingTerms
from shared.policy import ExecutionPolicy, OrderStyle
from shared.rebalancing.exposure import Exposure

NOW = datetime(2026, 12, 2, 15, tzinfo=UTC)
D = Decimal
TERMS = SizingTerms(
    cash_buffer_pct=D(0), leverage_limit=D(1), quantity_step=D(1),
    commission_per_share=D(0), commission_minimum=D(0), min_order_value=D(0),
    min_share_diff=D(0), currency_policy="convert", base_currency="CAD",
    fx_buffer_pct=D("0.5"), min_fx_order_value=D(100),
)  # fmt: skip
FX = PlanLeg(
    leg=1, symbol="USD.CAD", side=Side.BUY, quantity=D("26833.50"), reference_price=D("1.25"),
    estimated_value=D("33541.88"), quantity_step=D("0.01"), currency="CAD", sec_type="CASH",
    funds_currency="USD", estimated_value_base=D("33541.88"),
)  # fmt: skip
SPY = PlanLeg(
    leg=2, symbol="SPY", side=Side.BUY, quantity=D(55), reference_price=D(500),
    estimated_value=D(27500), currency="USD", estimated_value_base=D(34375),
)  # fmt: skip
QUOTES = {
    "SPY": FreshQuote(D(500), D(500), None, NOW),
    "USD.CAD": FreshQuote(D("1.2499"), D("1.25"), None, NOW),
}


def money(cad: str, usd: str) -> Money:
    return Money(
        base="CAD",
        cash={"CAD": D(cad), "USD": D(usd)},
        rates={"USD": D("1.25")},
        net_liquidation=D(70_000),
    )


def test_the_fx_leg_buys_what_the_buys_need_beyond_the_currency_cash() -> None:
    # SPY 55 x 500 = USD 27,500; held USD 800: 26,700 short, +0.5 % = 26,833.50
    sized = size_fx(
        [FX], [SPY], TERMS, ExecutionPolicy(), money=money("34000", "800"), quotes=QUOTES,
        margin_bps=D(0),
    )  # fmt: skip
    assert sized == {1: D("26833.50")}


def test_more_usd_after_the_sells_means_a_smaller_fx_leg() -> None:
    sized = size_fx(
        [FX], [SPY], TERMS, ExecutionPolicy(), money=money("34000", "20000"), quotes=QUOTES,
        margin_bps=D(0),
    )  # fmt: skip
    assert sized == {1: D("7537.50")}  # (27,500 - 20,000) x 1.005


def test_no_fx_leg_when_the_currency_already_holds_enough_or_the_need_is_tiny() -> None:
    for usd in ("27500", "27450"):  # 50 short x 1.005 x 1.25 = CAD 62.81 < the minimum 100
        sized = size_fx(
            [FX], [SPY], TERMS, ExecutionPolicy(), money=money("34000", usd), quotes=QUOTES,
            margin_bps=D(0),
        )  # fmt: skip
        assert sized == {1: D(0)}


def test_buys_are_sized_from_their_own_currency_after_the_fx() -> None:
    # After the FX leg: USD 800 + 26,833.50 = 27,633.50 pays 55 SPY (27,500); CAD is not used.
    result = size_buys_by_currency(
        [SPY], TERMS, ExecutionPolicy(), money=money("456.12", "27633.50"), quotes=QUOTES,
        margin_bps=D(0),
    )  # fmt: skip
    assert result.quantities == {2: D(55)}
    # Had the FX leg failed, USD 800 pays one share, never a USD loan against the CAD.
    failed = size_buys_by_currency(
        [SPY], TERMS, ExecutionPolicy(), money=money("34000", "800"), quotes=QUOTES,
        margin_bps=D(0),
    )  # fmt: skip
    assert failed.quantities == {2: D(1)}


def test_the_gate_values_every_leg_in_the_base_currency() -> None:
    context = RiskContext(
        now=NOW,
        net_liquidation=D(70_000),
        exposure=Exposure({"XIC": (D(875), D(40))}),
        positions={"XIC": D(875)},
        quotes=QUOTES,
        portfolio_as_of=NOW - timedelta(seconds=1),
        rates={"CAD": D(1), "USD": D("1.25")},
    )
    fx = RiskLeg("USD.CAD", Side.BUY, D("26833.50"), D("1.25"), fx=True)
    spy = RiskLeg("SPY", Side.BUY, D(55), D(500), rate=D("1.25"))
    # SPY is USD 27,500 = CAD 34,375, the FX leg CAD 33,541.88: both above CAD 30,000
    limited = ExecutionPolicy(max_order_notional=D(30_000))
    reasons = check_plan([fx, spy], limited, context)
    assert [(r.code, r.symbol) for r in reasons] == [
        ("max_order_notional", "USD.CAD"),
        ("max_order_notional", "SPY"),
    ]
    # post leverage: XIC 35,000 + SPY 34,375 = 69,375 / 70,000; the FX leg adds no exposure
    assert check_plan([fx, spy], ExecutionPolicy(max_post_leverage=D("0.995")), context) == []
    tight = check_plan([fx, spy], ExecutionPolicy(max_post_leverage=D("0.99")), context)
    assert [r.code for r in tight] == ["max_post_leverage"]


def test_an_fx_limit_is_on_the_half_pip_and_the_order_goes_to_idealpro() -> None:
    spec = order_spec(
        ExecutionPolicy(order_type=OrderStyle.LIMIT, limit_offset_bps=D(1)),
        Side.BUY, D("1.24991"), D("1.25003"), fx=True,
    )  # fmt: skip
    # mid 1.24997 + 1 bp (0.000125) = 1.250095, up to the half pip: 1.25010
    assert spec.limit_price == D("1.25010")
    algo = order_spec(
        ExecutionPolicy(order_type=OrderStyle.ADAPTIVE), Side.BUY, None, None, fx=True
    )
    assert algo.order_type.value == "MKT"
    proposal = PlanProposed(
        source="t", plan_id="p1", account_id="DU2000002", allocation_id="a",
        execution=ExecutionMode.REBALANCE, legs=(FX, SPY), drift=(),
        summary=BatchSummary(
            net_liquidation=D(1), cash_before=D(0), cash_after=D(0), gross_buy=D(0),
            gross_sell=D(0), pre_gross_exposure=D(0), post_gross_exposure=D(0),
            pre_leverage=D(0), post_leverage=D(0), turnover_pct=D(0),
            estimated_commissions=D(0),
        ),
        valid_until=NOW + timedelta(minutes=5),
    )  # fmt: skip
    fx_order = submit_order(proposal, FX, FX.quantity, 0, spec, NOW, timedelta(minutes=1))
    assert (fx_order.symbol, fx_order.currency, fx_order.exchange, fx_order.sec_type) == (
        "USD.CAD",
        "CAD",
        "IDEALPRO",
        "CASH",
    )
    spy_order = submit_order(proposal, SPY, D(55), 0, algo, NOW, timedelta(minutes=1))
    assert (spy_order.currency, spy_order.exchange, spy_order.sec_type) == ("USD", "SMART", "STK")
