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
