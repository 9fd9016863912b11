"""Pure parts: state table, backoff, restart window, settings and the IB translation tables."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time
from decimal import Decimal

import pytest
from gateway_bridge.backoff import Backoff, in_restart_window
from gateway_bridge.lifecycle import TRANSITIONS, IllegalTransition, OrderState, apply
from gateway_bridge.parsing import orders as parse
from gateway_bridge.parsing.numbers import price_or_none, quantity
from gateway_bridge.settings import GatewayBridgeSettings
from ib_async import Order, OrderStatus, Trade
from ib_async.objects import TradeLogEntry
from ib_async.util import UNSET_DOUBLE


def test_no_state_leads_back_to_intent_or_sent_after_an_outcome():
    for state in (OrderState.UNKNOWN, OrderState.ACKED, *TRANSITIONS):
        if state in (OrderState.INTENT,):
            continue
        assert OrderState.INTENT not in TRANSITIONS[state]
        if state != OrderState.INTENT:
            assert OrderState.SENT not in TRANSITIONS[state]


def test_apply_refuses_an_unlisted_transition():
    with pytest.raises(IllegalTransition):
        apply(OrderState.FILLED, OrderState.ACKED)


def test_backoff_grows_to_its_ceiling_with_jitter():
    backoff = Backoff(1.0, 8.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [1, 2, 4, 8, 8, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    backoff.reset()
    assert backoff.next_delay() <= 1


@pytest.mark.parametrize(
    ("utc", "inside"),
    [
        (datetime(2026, 1, 15, 4, 45, tzinfo=UTC), True),  # 23:45 New York
        (datetime(2026, 1, 15, 5, 5, tzinfo=UTC), True),  # 00:05 New York
        (datetime(2026, 1, 15, 5, 15, tzinfo=UTC), False),  # 00:15
        (datetime(2026, 1, 15, 15, 0, tzinfo=UTC), False),
    ],
)
def test_restart_window_wraps_midnight_in_the_gateway_time_zone(utc, inside):
    assert in_restart_window(utc, time(23, 40), time(0, 10), "America/New_York") is inside


def test_settings_default_to_paper_and_read_only(monkeypatch):
    monkeypatch.delenv("BRIDGE_READ_ONLY", raising=False)
    settings = GatewayBridgeSettings()
    assert (settings.ib_port, settings.read_only) == (4002, True)


def test_accounts_are_read_as_a_comma_separated_list(monkeypatch):
    monkeypatch.setenv("BRIDGE_ACCOUNTS", "DU1, DU2")
    assert GatewayBridgeSettings().accounts == ("DU1", "DU2")


@pytest.mark.parametrize("value", [float("nan"), 0.0, -1.0, UNSET_DOUBLE, None])
def test_nan_zero_negative_and_unset_prices_are_missing(value):
    assert price_or_none(value) is None


def test_float_quantities_become_exact_decimals():
    assert quantity(100.0) == Decimal(100)
    assert str(quantity(0.1)) == "0.1"


def trade(status: str, *log: tuple[int, str], filled: float = 0.0) -> Trade:
    entries = [TradeLogEntry(datetime.now(UTC), status, msg, code) for code, msg in log]
    return Trade(
        order=Order(orderRef="p.0.0", action="BUY", totalQuantity=10),
        orderStatus=OrderStatus(status=status, filled=filled),
        log=entries,
    )


@pytest.mark.parametrize("code", [399, 404, 2104, 2106, 2158, 10167])
def test_warnings_never_end_an_order(code):
    assert parse.ends_as(trade("ValidationError", (code, "warning"))) is None
    assert parse.classify("ValidationError") == parse.IbStatus.WARNING
    assert parse.is_warning(code)


@pytest.mark.parametrize(
    ("status", "log", "filled", "ending"),
    [
        ("Cancelled", [(201, "Order rejected")], 0.0, "rejected"),
        ("Inactive", [], 0.0, "rejected"),
        ("Cancelled", [(202, "Order cancelled")], 0.0, "cancelled"),
        ("Cancelled", [(201, "rejected")], 4.0, "cancelled"),
        ("ApiCancelled", [], 0.0, "cancelled"),
        ("Filled", [], 10.0, "filled"),
        ("Submitted", [(399, "warning")], 0.0, None),
        ("PreSubmitted", [], 0.0, None),
    ],
)
def test_how_an_ib_order_ends(status, log, filled, ending):
    assert parse.ends_as(trade(status, *log, filled=filled)) == ending


def test_rejection_carries_ibs_code_and_text_not_a_warning():
    t = trade("Cancelled", (399, "warning first"), (201, "Order rejected - reason: margin"))
    rejected = parse.rejected(t, parse.refs_of(t, source_account="DU1"), "bridge")
    assert (rejected.code, rejected.reason) == (201, "Order rejected - reason: margin")


def test_plan_id_is_the_client_order_id_before_the_first_dot():
    assert parse.plan_id_of("plan7.3.1") == "plan7"
    assert parse.plan_id_of("nodots") is None
