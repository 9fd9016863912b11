"""Scenario files: the default one is complete, a bad one names file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from ib_emulator.scenario import ScenarioError, default_scenario, load_scenario

REQUIRED = (
    "SPY QQQ VTI VXUS BND AGG TLT IEF GLD IWM EFA EEM VNQ SGOV VIXY TQQQ QLD SPXL EDC BTAL "
    "AAPL MSFT"
)


def test_default_scenario_has_two_accounts_and_the_required_instruments() -> None:
    s = default_scenario()
    assert len(s.accounts) == 2
    assert set(REQUIRED.split()) <= {i.symbol for i in s.instruments}
    assert all(a.positions for a in s.accounts)


def test_bad_scenario_fails_with_file_field_and_expectation(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "accounts:\n  - id: DU1\n    cash: lots\ninstruments:\n"
        "  - {symbol: SPY, con_id: 1, primary_exchange: ARCA}\n"
        "prices: {start: {SPY: 10}}\n"
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    text = str(err.value)
    assert str(path) in text
    assert "accounts.0.cash" in text
    assert "decimal" in text.lower()


def test_scenario_with_a_position_in_an_unknown_symbol_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "accounts:\n  - id: DU1\n    cash: 1000\n    positions: [{symbol: XYZ, quantity: 1, "
        "average_cost: 1}]\ninstruments:\n  - {symbol: SPY, con_id: 1, primary_exchange: ARCA}\n"
        "prices: {start: {SPY: 10}}\n"
    )
    with pytest.raises(ScenarioError, match=r"positions\.XYZ"):
        load_scenario(path)


def test_missing_scenario_file_is_reported_by_path(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "nope.yaml")


def test_market_hours_with_own_holidays_load_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "hours.yaml"
    path.write_text(
        "accounts: [{id: DU1, cash: 1000}]\n"
        "instruments: [{symbol: SPY, con_id: 1, primary_exchange: ARCA}]\n"
        "prices: {start: {SPY: 10}, trade_print_seconds: null}\n"
        "market_hours: {holidays: [2026-12-24], early_closes: []}\n"
        "account_updates: {period_seconds: 5}\n"
        "limits: {market_data_lines: null}\n"
    )
    s = load_scenario(path)
    assert s.market_hours is not None
    assert [str(d) for d in s.market_hours.holidays or []] == ["2026-12-24"]
    assert s.prices.trade_print_seconds is None
    assert (s.account_updates.period_seconds, s.limits.market_data_lines) == (5, None)


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        ("{timezone: Mars/Olympus}", "unknown timezone"),
        ("{open: '17:00'}", "extended_open <= open < close"),
        ("{close: '25:00'}", "market_hours.close"),
    ],
)
def test_bad_market_hours_are_refused_with_the_field_named(
    tmp_path: Path, hours: str, expected: str
) -> None:
    path = tmp_path / "bad-hours.yaml"
    path.write_text(
        "accounts: [{id: DU1, cash: 1000}]\n"
        "instruments: [{symbol: SPY, con_id: 1, primary_exchange: ARCA}]\n"
        f"prices: {{start: {{SPY: 10}}}}\nmarket_hours: {hours}\n"
    )
    with pytest.raises(ScenarioError, match=expected):
        load_scenario(path)
