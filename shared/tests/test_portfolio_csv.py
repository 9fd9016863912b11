"""The portfolio CSVs users write today: the ETF rebalancer's models, percent, CASH rows."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.rebalancing.portfolio_csv import invested, parse_portfolio_csv

D = Decimal
MODELS = "# models\nETF,CORE,INCOME\nSPY,60%,20%\nAGG,40%,50%\nTLT,,30%\nCASH,0%,0%\n"


def weights(text: str, column: str | None = None) -> dict[str, Decimal]:
    parsed = parse_portfolio_csv(text, "p.csv", column)
    assert parsed.ok, parsed.reasons
    return {t.symbol: t.weight for t in parsed.targets}


def test_a_model_column_is_chosen_by_name_any_case_and_blank_is_zero() -> None:
    assert weights(MODELS, "income") == {"SPY": D("0.2"), "AGG": D("0.5"), "TLT": D("0.3")}
    assert weights(MODELS, "CORE") == {"SPY": D("0.6"), "AGG": D("0.4"), "TLT": D(0)}
    parsed = parse_portfolio_csv(MODELS, "p.csv", "CORE")
    assert parsed.cash_weight == 0
    assert "p.csv (column CORE): weights read as percent (25 means 25 %)" in parsed.notes


@pytest.mark.parametrize(
    ("text", "column", "says"),
    [
        (MODELS, None, "p.csv: one column per model (CORE, INCOME); choose one"),
        (MODELS, "GROWTH", "p.csv: no column 'GROWTH'; the columns are CORE, INCOME"),
        ("SPY,0.5\n", "CORE", "no header row, so no column 'CORE'"),
        ("ETF,CORE\nSPY,60%\nAGG,0.4\n", None, "line 3 (AGG): 0.4 has no % sign while other"),
    ],
)
def test_what_cannot_be_read_one_way_is_refused_saying_what_to_do(
    text: str, column: str | None, says: str
) -> None:
    parsed = parse_portfolio_csv(text, "p.csv", column)
    assert not parsed.ok
    assert says in parsed.reasons[0].message


@pytest.mark.parametrize(
    ("text", "expected", "percent"),
    [
        ("ETF,CORE\nSPY,60\nAGG,40\n", {"SPY": D("0.6"), "AGG": D("0.4")}, True),  # sums to 100
        ("SPY,25%\nAGG,75%\n", {"SPY": D("0.25"), "AGG": D("0.75")}, True),
        ("SPY,0.6\nAGG,0.4\n", {"SPY": D("0.6"), "AGG": D("0.4")}, False),
        ("SPY,1.2\nAGG,0.3\n", {"SPY": D("1.2"), "AGG": D("0.3")}, False),  # leverage, not %
        ("SPY,60\nAGG,30\n", {"SPY": D(60), "AGG": D(30)}, False),  # 90: left to the checks
    ],
)
def test_percent_only_when_the_file_makes_it_unambiguous(
    text: str, expected: dict[str, Decimal], percent: bool
) -> None:
    parsed = parse_portfolio_csv(text, "p.csv")
    assert {t.symbol: t.weight for t in parsed.targets} == expected
    assert any("read as percent" in n for n in parsed.notes) == percent


def test_a_cash_row_is_the_cash_the_model_keeps_or_borrows() -> None:
    kept = parse_portfolio_csv("symbol,weight\nSPY,0.5\nAGG,0.4\nCASH,0.1\n", "p.csv")
    assert kept.cash_weight == D("0.1")
    assert [t.symbol for t in kept.targets] == ["SPY", "AGG"]
    assert {t.symbol: t.weight for t in invested(kept)} == {
        "SPY": D("0.5") / D("0.9"),
        "AGG": D("0.4") / D("0.9"),
    }
    borrowed = parse_portfolio_csv("ETF,M\nSPY,80%\nAGG,40%\nCASH,-20%\n", "p.csv")
    assert borrowed.cash_weight == D("-0.2")
    assert invested(borrowed) == borrowed.targets
    assert "borrowed (margin)" in borrowed.notes[-1]
