"""The ledger's pure core: trade rows, queries, positions and the PnL math."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core.day import day_start
from ledger.core.pnl import LatestPrice, account_pnl, latest_price, newer_price
from ledger.core.positions import HeldPosition, update_of
from ledger.core.query import Cursor, Refusal, check_trades_request, encode_cursor
from ledger.core.trades import (
    RealizedTotal,
    TradeRecord,
    exec_revision,
    fill_part,
    leg_of,
)
from rebalancer_testkit.ledger_events import (
    ACCOUNT,
    T0,
    account_values,
    at,
    changed,
    filled,
    position,
    quote,
    snapshot,
)
from shared.contracts.base import Side
from shared.contracts.ledger import GetTrades

D = Decimal
NY = ZoneInfo("America/New_York")


# ---------------------------------------------------------------- trades


@pytest.mark.parametrize(
    ("exec_id", "base", "revision"),
    [
        ("0000e0d5.6555a1b2.01.01", "0000e0d5.6555a1b2.01", 1),
        ("0000e0d5.6555a1b2.01.02", "0000e0d5.6555a1b2.01", 2),
        ("plain", "plain", 0),
        ("ends.with.letters", "ends.with.letters", 0),
    ],
)
def test_exec_ids_split_into_execution_and_correction(
    exec_id: str, base: str, revision: int
) -> None:
    found = exec_revision(exec_id)
    assert (found.base, found.revision) == (base, revision)


@pytest.mark.parametrize(
    ("coid", "expected"),
    [("pl-abc.3.1", ("pl-abc", 3)), ("external:555", None), ("x.y", None), ("", None)],
)
def test_leg_comes_from_our_client_order_ids_only(coid: str, expected: object) -> None:
    assert leg_of(coid) == expected


def test_an_external_execution_has_no_plan_even_if_the_bridge_did_not_flag_it() -> None:
    part = fill_part(filled("e1", client_order_id="external:555", plan_id="external"), T0)
    assert part.external is True
    assert (part.plan_id, part.leg) == (None, None)


# ---------------------------------------------------------------- query


def request(**kw: object) -> GetTrades:
    return GetTrades(source="t", valid_until=at(5), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"since": at(5), "until": at(5)}, "since"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": encode_cursor(Cursor(T0, "e1"), "oldest_first")}, "cursor"),
    ],
    ids=["limit-0", "limit-too-big", "empty-range", "garbage-cursor", "cursor-of-other-order"],
)
def test_bad_trade_requests_are_refused_naming_the_field(kw: dict[str, object], field: str) -> None:
    refused = check_trades_request(request(**kw))
    assert isinstance(refused, Refusal)
    assert refused.field == field
    assert refused.code == "invalid_request"


def test_a_cursor_round_trips_and_symbols_are_normalised() -> None:
    cursor = Cursor(T0, "0001.a.01.01")
    query = check_trades_request(
        request(cursor=encode_cursor(cursor, "newest_first"), symbol=" spy ")
    )
    assert not isinstance(query, Refusal)
    assert query.after == cursor
    assert query.symbol == "SPY"


# ---------------------------------------------------------------- day


def test_the_trading_day_starts_at_midnight_in_new_york_across_dst() -> None:
    assert day_start(datetime(2026, 3, 2, 3, 0, tzinfo=UTC), NY) == datetime(
        2026, 3, 1, 5, tzinfo=UTC
    )
    assert day_start(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), NY) == datetime(
        2026, 3, 2, 5, tzinfo=UTC
    )
    assert day_start(datetime(2026, 7, 1, 15, 0, tzinfo=UTC), NY) == datetime(
        2026, 7, 1, 4, tzinfo=UTC
    )


# ---------------------------------------------------------------- positions


def test_a_snapshot_closes_what_it_no_longer_lists_and_writes_a_zero_row() -> None:
    held = [HeldPosition(ACCOUNT, position("AGG", "5", "98"), T0, "m0")]
    update = update_of(snapshot(position("SPY", "1", "500"), when=at(1)), held, {})
    assert update.closed == ("AGG",)
    assert [(r.symbol, r.quantity) for r in update.history] == [("SPY", 1), ("AGG", 0)]


def test_an_older_change_is_ignored() -> None:
    held = [HeldPosition(ACCOUNT, position("SPY", "10", "500"), at(5), "m0")]
    update = update_of(changed(position("SPY", "3", "500"), when=at(1)), held, {})
    assert (update.hold, update.closed, update.history) == ((), (), ())


# ---------------------------------------------------------------- PnL


def trade(
    exec_id: str, side: Side, quantity: str, price: str, fee: str = "0", realized: str | None = None
) -> TradeRecord:
    return TradeRecord(
        fill_part(filled(exec_id, side=side, quantity=quantity, price=price), T0),
        commission=D(fee),
        commission_currency="USD",
        realized_pnl=None if realized is None else D(realized),
    )


def held(symbol: str, quantity: str, cost: str, when: datetime = T0, **kw: object) -> HeldPosition:
    return HeldPosition(ACCOUNT, position(symbol, quantity, cost, **kw), when, "m")


def price(symbol: str, p: str | None, close: str | None = None, when: datetime = T0) -> LatestPrice:
    return LatestPrice(
        symbol, None if p is None else D(p), None if close is None else D(close), when
    )


def test_unrealized_from_the_live_price_when_it_is_newer_than_ibs_figure() -> None:
    pnl = account_pnl(
        ACCOUNT,
        [held("SPY", "10", "500.1", unrealized_pnl=D("12"), market_price=D("501.3"))],
        {"SPY": price("SPY", "505", when=at(1))},
        [],
        [],
        None,
    )
    (spy,) = pnl.positions
    assert (spy.unrealized_pnl, spy.unrealized_source, spy.market_price) == (
        D("49.00"),
        "price",
        505,
    )
    assert spy.market_value == D("5050.00")


def test_ibs_unrealized_when_it_is_the_newest_word() -> None:
    pnl = account_pnl(
        ACCOUNT,
        [
            held(
                "SPY",
                "10",
                "500.1",
                when=at(2),
                unrealized_pnl=D("12.345"),
                market_price=D("501.3"),
            )
        ],
        {"SPY": price("SPY", "505", when=at(1))},
        [],
        [],
        None,
    )
    (spy,) = pnl.positions
    assert (spy.unrealized_pnl, spy.unrealized_source) == (D("12.34"), "ib")
    assert spy.market_price == D("501.3")


def test_daily_pnl_is_the_change_since_the_close_including_todays_trades() -> None:
    # Held 10 overnight (close 495), bought 5 today at 502 with 1.00 commission, now 505.
    pnl = account_pnl(
        ACCOUNT,
        [held("SPY", "15", "499")],
        {"SPY": price("SPY", "505", close="495")},
        [RealizedTotal(ACCOUNT, "SPY", D(0), D(1), 1)],
        [trade("b", Side.BUY, "5", "502", fee="1")],
        None,
    )
    (spy,) = pnl.positions
    assert (spy.daily_pnl, spy.daily_source) == (D("114.00"), "computed")  # 100 + 15 - 1


def test_a_position_sold_out_today_keeps_its_realized_and_daily_pnl() -> None:
    pnl = account_pnl(
        ACCOUNT,
        [],
        {"SPY": price("SPY", "500", close="495")},
        [RealizedTotal(ACCOUNT, "SPY", D("48"), D("1"), 2)],
        [trade("s", Side.SELL, "10", "500", fee="1", realized="48")],
        None,
    )
    (spy,) = pnl.positions
    assert spy.quantity == 0
    assert (spy.realized_pnl, spy.realized_today, spy.unrealized_pnl) == (48, 48, 0)
    assert spy.daily_pnl == D("49.00")  # 10 x (500 - 495) - 1
    assert (pnl.realized_pnl, pnl.unrealized_pnl, pnl.total_pnl) == (48, 0, 48)


def test_an_unpriced_position_is_named_and_the_account_daily_falls_back_to_ib() -> None:
    pnl = account_pnl(
        ACCOUNT,
        [held("SPY", "10", "500"), held("XYZ", "3", "20")],
        {"SPY": price("SPY", "505", close="500")},
        [],
        [],
        account_values(daily="77.5"),
    )
    assert pnl.unpriced == ("XYZ",)
    assert pnl.complete is False
    assert (pnl.unrealized_pnl, pnl.total_pnl) == (D("50.00"), D("50.00"))
    assert (pnl.daily_pnl, pnl.daily_source, pnl.ib_daily_pnl) == (D("77.50"), "ib", D("77.50"))


def test_positions_in_another_currency_are_listed_but_not_summed() -> None:
    pnl = account_pnl(
        ACCOUNT,
        [held("SPY", "10", "500"), held("SAP", "10", "100", currency="EUR")],
        {"SPY": price("SPY", "501"), "SAP": price("SAP", "110")},
        [],
        [],
        None,
    )
    assert pnl.other_currencies == ("EUR",)
    assert pnl.unrealized_pnl == D("10.00")


def test_the_best_price_is_the_mid_then_the_last_then_the_close() -> None:
    assert latest_price(quote("SPY", bid="500", ask="502", last="400")).price == D("501")
    assert latest_price(quote("SPY", bid="500", last="499.5", close="1")).price == D("499.5")
    assert latest_price(quote("SPY", close="498")).price == D("498")


def test_a_quote_without_any_price_keeps_the_last_price() -> None:
    first = latest_price(quote("SPY", bid="500", ask="502", close="499"))
    empty = latest_price(quote("SPY", when=at(1)))
    kept = newer_price(first, empty)
    assert (kept.price, kept.close, kept.as_of) == (D("501"), D("499"), at(1))
    assert newer_price(kept, first) is kept  # older news


amounts = st.decimals(min_value=-10_000, max_value=10_000, places=4)
positive = st.decimals(min_value=1, max_value=1_000, places=4)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "C", "D", "E"]),
            st.integers(min_value=-50, max_value=50),
            positive,
            st.one_of(st.none(), positive),
            st.one_of(st.none(), positive),
            amounts,
        ),
        max_size=5,
        unique_by=lambda row: row[0],
    )
)
def test_positions_add_up_to_the_account_and_realized_plus_unrealized_is_total(
    rows: list[tuple[str, int, Decimal, Decimal | None, Decimal | None, Decimal]],
) -> None:
    positions, prices, totals = [], {}, []
    for symbol, quantity, cost, p, close, realized in rows:
        if quantity:
            positions.append(held(symbol, str(quantity), str(cost)))
        prices[symbol] = price(
            symbol, None if p is None else str(p), None if close is None else str(close)
        )
        totals.append(RealizedTotal(ACCOUNT, symbol, realized, D(0), 1))
    pnl = account_pnl(ACCOUNT, positions, prices, totals, [], None)
    assert pnl.realized_pnl == sum(p.realized_pnl for p in pnl.positions)
    assert pnl.unrealized_pnl == sum(p.unrealized_pnl or 0 for p in pnl.positions)
    assert pnl.total_pnl == pnl.realized_pnl + pnl.unrealized_pnl
    for p in pnl.positions:
        if p.unrealized_pnl is not None:
            assert p.total_pnl == p.realized_pnl + p.unrealized_pnl
    assert pnl.complete == all(p.unrealized_pnl is not None for p in pnl.positions)
    if pnl.daily_source == "positions":
        assert pnl.daily_pnl == sum(p.daily_pnl or 0 for p in pnl.positions)
