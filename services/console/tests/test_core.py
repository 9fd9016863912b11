"""The console's pure rules: login and origin checks, pasted targets, order progress, CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from console.core.export import trades_csv
from console.core.progress import apply
from console.core.security import CSP, csrf_matches, same_origin, token_matches
from console.core.state import ConsoleState
from console.core.targets import TargetsError, parse_targets_csv
from shared.contracts.base import Side
from shared.contracts.ledger import Trade
from shared.contracts.orders import OrderAccepted, OrderFilled
from shared.contracts.plan_commands import HaltTrading, ResumeTrading

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def test_a_login_needs_the_configured_token_and_none_is_possible_without_one() -> None:
    assert token_matches("s3cret", "s3cret")
    assert not token_matches("s3cre", "s3cret")
    assert not token_matches("", None)
    assert not token_matches("", "")


@pytest.mark.parametrize(
    ("origin", "referer", "host", "ok"),
    [
        ("http://127.0.0.1:8080", None, "127.0.0.1:8080", True),
        ("http://127.0.0.1:9", None, "127.0.0.1:8080", False),  # same site, other origin
        ("https://evil.example", None, "console.example", False),
        ("null", None, "127.0.0.1:8080", False),
        (None, "http://127.0.0.1:8080/kill-switch", "127.0.0.1:8080", True),
        (None, None, "127.0.0.1:8080", False),
        ("http://127.0.0.1:8080", None, None, False),
    ],
)
def test_only_posts_from_the_consoles_own_origin_pass(
    origin: str | None, referer: str | None, host: str | None, ok: bool
) -> None:
    assert same_origin(origin, referer, host) is ok


def test_the_csrf_token_must_be_the_sessions() -> None:
    assert csrf_matches("abc", "abc")
    assert not csrf_matches("abc", "abd")
    assert not csrf_matches("abc", None)
    assert not csrf_matches("abc", "")


def test_the_policy_allows_no_inline_script_and_nothing_from_elsewhere() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CSP


def test_pasted_targets_read_as_fractions_or_percentages_with_a_header_and_comments() -> None:
    text = "symbol,allocation\n# core\nspy, 0.6\n\nBND,40%\n"
    assert parse_targets_csv(text) == [
        {"symbol": "SPY", "allocation": "0.6"},
        {"symbol": "BND", "allocation": "0.4"},
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no targets"),
        ("SPY\n", "line 1: expected 'SYMBOL,ALLOCATION'"),
        ("SPY,0.5\nBND,half\n", "line 2: allocation 'half' is not a number"),
        ("SPY,-0.1\n", "must be 0 or more"),
    ],
)
def test_unreadable_targets_are_refused_naming_the_line(text: str, says: str) -> None:
    with pytest.raises(TargetsError, match=says):
        parse_targets_csv(text)


def _filled(exec_id: str, last: str, cumulative: str, remaining: str) -> OrderFilled:
    return OrderFilled(
        source="test", client_order_id="pl-1.1.0", plan_id="pl-1", account_id="DU1",
        symbol="SPY", exec_id=exec_id, side=Side.BUY, last_quantity=Decimal(last),
        last_price=Decimal("500"), cumulative_quantity=Decimal(cumulative),
        average_price=Decimal("500"), remaining_quantity=Decimal(remaining), ts_event=T0,
    )  # fmt: skip


def test_an_orders_progress_counts_each_fill_once_and_ends_filled() -> None:
    accepted = OrderAccepted(
        source="test", client_order_id="pl-1.1.0", plan_id="pl-1", account_id="DU1",
        symbol="SPY", side=Side.BUY, quantity=Decimal("10"), status="Submitted", ts_event=T0,
    )  # fmt: skip
    order = apply(None, accepted)
    assert order is not None
    assert (order.state, order.leg) == ("working", 1)
    order = apply(order, _filled("e1", "4", "4", "6"))
    order = apply(order, _filled("e1", "4", "4", "6"))  # redelivered
    assert order is not None
    assert (order.state, order.filled, len(order.fills)) == ("partially_filled", 4, 1)
    order = apply(order, _filled("e2", "6", "10", "0"))
    assert order is not None
    assert (order.state, order.filled, len(order.fills)) == ("filled", 10, 2)


def test_the_state_follows_the_kill_switch_and_orders_by_plan() -> None:
    state = ConsoleState()
    event = state.apply(
        "commands.plans.v1", HaltTrading(source="t", reason="test", valid_until=T0, ts_event=T0)
    )
    assert event is not None
    assert (event.kind, event.alert, state.halt.halted) == ("halt", True, True)
    assert state.alerts[0].title == "Trading halted"
    state.apply("commands.plans.v1", ResumeTrading(source="t", valid_until=T0, ts_event=T0))
    assert not state.halt.halted
    state.apply("events.orders.v1", _filled("e1", "10", "10", "0"))
    assert [o.state for o in state.orders_of("pl-1")] == ["filled"]
    assert state.apply("data.prices.v1", _filled("e9", "1", "1", "0")) is None  # not followed


def test_exported_trades_quote_what_a_spreadsheet_would_run_as_a_formula() -> None:
    trade = Trade(
        exec_id="e1", account_id="DU1", symbol="=HYPERLINK(1)", side=Side.SELL,
        quantity=Decimal("2"), price=Decimal("10.5"), value=Decimal("-21"), executed_at=T0,
        client_order_id="pl-1.0.0", plan_id="pl-1", recorded_at=T0,
    )  # fmt: skip
    header, row = trades_csv([trade]).splitlines()
    assert header.startswith("executed_at,account_id,symbol,side,quantity,price,value")
    cells = row.split(",")
    assert cells[2] == "'=HYPERLINK(1)"
    assert cells[6] == "-21"  # a negative number stays a number
