"""One realistic instance of every message class of the catalogue, for round-trip tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from shared.contracts import (
    account,
    alerts,
    allocations,
    gateway,
    ledger,
    order_commands,
    orders,
    plan_commands,
    plans,
    portfolio,
    positions,
    prices,
    triggers,
)
from shared.contracts.base import ExecutionMode, Message, Reason, Side, TargetWeight

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
UNTIL = T0 + timedelta(minutes=15)
ENV = {"source": "test", "ts_event": T0, "ts_init": T0, "correlation_id": "c0ffee"}
D = Decimal

POSITION = positions.Position(
    symbol="SPY",
    con_id=756733,
    quantity=D("10"),
    average_cost=D("401.25"),
    market_price=D("512.5"),
    market_value=D("5125"),
    unrealized_pnl=D("1112.5"),
)
LEG = plans.PlanLeg(
    leg=0,
    symbol="AGG",
    side=Side.SELL,
    quantity=D("5"),
    reference_price=D("98.1"),
    estimated_value=D("490.5"),
    quantity_step=D("1"),
)
DRIFT = plans.DriftRow(
    symbol="AGG",
    target_pct=D("40"),
    current_pct=D("45"),
    drift_pct=D("5"),
    drift_value=D("500"),
    action="SELL",
    quantity=D("5"),
    estimated_value=D("490.5"),
    current_quantity=D("46"),
    price=D("98.1"),
)
SUMMARY = plans.BatchSummary(
    net_liquidation=D("10000"),
    cash_before=D("100"),
    cash_after=D("590.5"),
    gross_buy=D("0"),
    gross_sell=D("490.5"),
    pre_gross_exposure=D("9900"),
    post_gross_exposure=D("9409.5"),
    pre_leverage=D("0.99"),
    post_leverage=D("0.94"),
    turnover_pct=D("4.9"),
    estimated_commissions=D("1"),
)
LEG_RESULT = plans.LegResult(
    leg=0,
    client_order_id="pl-abc.0.0",
    symbol="AGG",
    side=Side.SELL,
    ordered_quantity=D("5"),
    filled_quantity=D("5"),
    average_price=D("98.09"),
    commission=D("1"),
    status="filled",
)
REASON = Reason(code="weights_sum", message="The weights add up to 0.9; make them add up to 1.")
ORDER = {
    "client_order_id": "pl-abc.0.0",
    "plan_id": "pl-abc",
    "account_id": "DU111111",
    "symbol": "AGG",
    "ib_order_id": 12,
    "perm_id": 100012,
}


def all_samples() -> list[Message]:
    """Return one instance of every message class."""
    return [
        triggers.RequestRebalance(
            **ENV,
            valid_until=UNTIL,
            account_ids=("DU111111",),
            execution=ExecutionMode.REBALANCE,
            targets=(
                TargetWeight(symbol="QQQ", weight=D("0.6")),
                TargetWeight(symbol="SPY", weight=D("0.4")),
            ),
            trigger_source="redis",
            trigger_id="t-1",
        ),
        allocations.TargetAllocationSet(
            **ENV,
            allocation_id="al-1",
            request_id="r-1",
            account_ids=("DU111111", "DU222222"),
            group="core",
            targets=(TargetWeight(symbol="QQQ", weight=D("1")),),
            source_kind="url",
            strategy_name="etf-blend-301-20",
            as_of=T0,
        ),
        plans.PlanProposed(
            **ENV,
            plan_id="pl-abc",
            account_id="DU111111",
            allocation_id="al-1",
            execution=ExecutionMode.DRY_RUN,
            legs=(LEG,),
            drift=(DRIFT,),
            summary=SUMMARY,
            warnings=("VIXY: below the minimum order value",),
            valid_until=UNTIL,
            portfolio_as_of=T0,
            policy={"min_order_value": "100"},
            sizing=plans.SizingTerms(
                cash_buffer_pct=D("2"),
                leverage_limit=D("1"),
                quantity_step=D("1"),
                commission_per_share=D("0.005"),
                commission_minimum=D("1"),
                min_order_value=D("100"),
                min_share_diff=D("0.5"),
            ),
        ),
        plans.PlanRejected(**ENV, account_id="DU111111", allocation_id="al-1", reasons=(REASON,)),
        plans.PlanAwaitingApproval(
            **ENV, plan_id="pl-abc", account_id="DU111111", valid_until=UNTIL, leg_count=1
        ),
        plans.PlanDryRunReported(
            **ENV, plan_id="pl-abc", account_id="DU111111", why="the trigger asked for a dry run"
        ),
        plans.PlanApproved(**ENV, plan_id="pl-abc", account_id="DU111111", approved_by="auto"),
        plans.PlanExecutionStarted(**ENV, plan_id="pl-abc", account_id="DU111111", leg_count=1),
        plans.PlanCompleted(**ENV, plan_id="pl-abc", account_id="DU111111", legs=(LEG_RESULT,)),
        plans.PlanFailed(**ENV, plan_id="pl-abc", account_id="DU111111", reasons=(REASON,)),
        plans.PlanExpired(**ENV, plan_id="pl-abc", account_id="DU111111"),
        plan_commands.ApprovePlan(**ENV, valid_until=UNTIL, plan_id="pl-abc", approved_by="cli"),
        plan_commands.CancelPlan(**ENV, valid_until=UNTIL, plan_id="pl-abc"),
        plan_commands.HaltTrading(**ENV, valid_until=UNTIL, reason="market turmoil"),
        plan_commands.ResumeTrading(**ENV, valid_until=UNTIL, requested_by="ops"),
        order_commands.SubmitOrder(
            **ENV,
            valid_until=UNTIL,
            client_order_id="pl-abc.1.0",
            plan_id="pl-abc",
            account_id="DU111111",
            symbol="QQQ",
            con_id=320227571,
            side=Side.BUY,
            quantity=D("3.5"),
            order_type=order_commands.OrderType.ADAPTIVE,
            adaptive_priority=order_commands.AdaptivePriority.PATIENT,
            time_in_force=order_commands.TimeInForce.DAY,
            outside_rth=False,
        ),
        order_commands.CancelOrder(**ENV, valid_until=UNTIL, client_order_id="pl-abc.1.0"),
        order_commands.CancelAllOrders(**ENV, valid_until=UNTIL, account_ids=("DU111111",)),
        orders.OrderAccepted(**ENV, **ORDER, side=Side.SELL, quantity=D("5"), status="Submitted"),
        orders.OrderFilled(
            **ENV,
            **ORDER,
            exec_id="0000e0d5.6543a1b2.01.01",
            side=Side.SELL,
            last_quantity=D("2"),
            last_price=D("98.09"),
            cumulative_quantity=D("2"),
            average_price=D("98.09"),
            remaining_quantity=D("3"),
        ),
        orders.CommissionReported(
            **ENV,
            **ORDER,
            exec_id="0000e0d5.6543a1b2.01.01",
            commission=D("1.0"),
            realized_pnl=D("-3.2"),
        ),
        orders.OrderCancelled(**ENV, **ORDER, filled_quantity=D("2"), reason="fill timeout"),
        orders.OrderRejected(**ENV, **ORDER, reason="Order rejected - reason:", code=201),
        orders.OrderStatusUnknown(**ENV, **ORDER, reason="disconnected after placeOrder"),
        positions.PositionsSnapshot(**ENV, account_id="DU111111", positions=(POSITION,)),
        positions.PositionChanged(**ENV, account_id="DU111111", position=POSITION),
        account.AccountSnapshot(
            **ENV,
            account_id="DU111111",
            net_liquidation=D("100000.5"),
            total_cash=D("2500"),
            cash_by_currency={"USD": D("2500")},
            buying_power=D("400000"),
            excess_liquidity=D("90000"),
            gross_position_value=D("97500.5"),
            daily_pnl=D("12.3"),
            realized_pnl=D("0"),
            unrealized_pnl=D("1500"),
        ),
        prices.PriceUpdated(
            **ENV,
            symbol="SPY",
            con_id=756733,
            bid=D("512.49"),
            ask=D("512.51"),
            last=D("512.5"),
            close=D("510"),
            market_data_type=prices.MarketDataType.DELAYED,
        ),
        gateway.GatewayConnected(
            **ENV,
            host="127.0.0.1",
            port=4002,
            client_id=17,
            server_version=176,
            accounts=("DU111111",),
        ),
        gateway.GatewayDisconnected(**ENV, reason="1100 connectivity lost"),
        gateway.ReconciliationCompleted(**ENV, accounts=("DU111111",), adopted_orders=1),
        gateway.GatewayError(**ENV, code=2104, message="Market data farm OK", severity="info"),
        gateway.GatewayStatus(
            **ENV,
            host="ib-gateway",
            port=4004,
            client_id=17,
            connected=True,
            reconciled=True,
            since=T0,
            server_version=178,
            accounts=("DU111111", "U2222222"),
            live_accounts=("U2222222",),
            last_connectivity_code=1102,
            last_connectivity_at=T0,
            heartbeat_age_s=Decimal("1.5"),
        ),
        gateway.SecondFactorRequested(**ENV, attempt=2, timeout_s=180),
        alerts.SendAlert(**ENV, valid_until=UNTIL, title="Plan failed", text="pl-abc failed"),
        portfolio.GetPortfolio(**ENV, valid_until=UNTIL, account_id="DU111111", symbols=("QQQ",)),
        portfolio.PortfolioView(
            **ENV,
            account_id="DU111111",
            net_liquidation=D("10000"),
            total_cash=D("100"),
            positions=(POSITION,),
            quotes=(
                portfolio.Quote(
                    symbol="SPY",
                    bid=D("512.49"),
                    ask=D("512.51"),
                    as_of=T0,
                    market_data_type=prices.MarketDataType.LIVE,
                ),
                portfolio.Quote(symbol="XYZQ", status="unqualified"),
            ),
            unqualified=("XYZQ",),
            positions_as_of=T0,
            account_as_of=T0,
        ),
        portfolio.PortfolioUnavailable(
            **ENV, account_id="DU999", code="unknown_account", reason="IB does not know DU999"
        ),
        *ledger_samples(),
    ]


def ledger_samples() -> list[Message]:
    """One instance of every rpc.ledger.v1 request and reply."""
    trade = ledger.Trade(
        exec_id="0000e0d5.6555a1b2.01.01",
        account_id="DU111111",
        symbol="AGG",
        side=Side.SELL,
        quantity=D("5"),
        price=D("98.12"),
        value=D("490.60"),
        executed_at=T0,
        client_order_id="pl-abc.0.0",
        plan_id="pl-abc",
        leg=0,
        ib_order_id=12,
        perm_id=100012,
        commission=D("1.00"),
        commission_currency="USD",
        realized_pnl=D("12.34"),
        recorded_at=T0,
    )
    position = ledger.PositionPnl(
        symbol="AGG",
        quantity=D("20"),
        average_cost=D("97.50"),
        market_price=D("98.00"),
        price_as_of=T0,
        market_value=D("1960.00"),
        unrealized_pnl=D("10.00"),
        unrealized_source="price",
        realized_pnl=D("12.34"),
        realized_today=D("12.34"),
        daily_pnl=D("15.00"),
        daily_source="computed",
        total_pnl=D("22.34"),
        commissions=D("1.00"),
        trades=1,
    )
    return [
        ledger.GetTrades(
            **ENV, valid_until=UNTIL, account_id="DU111111", since=T0, limit=50, cursor="abc"
        ),
        ledger.GetPnl(**ENV, valid_until=UNTIL, account_id="DU111111"),
        ledger.TradesPage(
            **ENV, trades=(trade, trade.model_copy(update={"external": True})), next_cursor="n1"
        ),
        ledger.PnlView(
            **ENV,
            day_start=T0,
            accounts=(
                ledger.AccountPnl(
                    account_id="DU111111",
                    realized_pnl=D("12.34"),
                    unrealized_pnl=D("10.00"),
                    total_pnl=D("22.34"),
                    daily_pnl=D("15.00"),
                    daily_source="positions",
                    complete=True,
                    net_liquidation=D("10000"),
                    positions=(position,),
                    positions_as_of=T0,
                ),
            ),
        ),
        ledger.LedgerQueryRefused(
            **ENV, code="invalid_request", reason="limit must be 1 to 1000", field="limit"
        ),
    ]


def sample_of(type_name: str, **overrides: object) -> Message:
    """The sample message of one type, with ``overrides`` applied (tests' building block)."""
    for message in all_samples():
        if getattr(message, "type", None) == type_name:
            return message.model_copy(update=overrides)
    raise KeyError(f"no sample of {type_name}")
