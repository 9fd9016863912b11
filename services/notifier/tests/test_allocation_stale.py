"""The stale check of an allocation answer's as_of, on the event-driven tool's own sample."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from notifier.core.allocation_api import parse_allocation_response, parse_portfolio_csv
from notifier.core.errors import Refusal


def test_the_event_driven_tools_sample_answer_says_which_max_age_to_set() -> None:
    """Their README's answer (as_of 2025-06-24) is refused as stale, naming
    allocation.max_age_hours and the value that accepts it; that value does."""
    sample = Path(__file__).parents[3] / "tests/seeds/event/allocation_answer.json"
    body = json.loads(sample.read_text())
    now = datetime(2026, 12, 2, 3, 30, tzinfo=UTC)
    with pytest.raises(Refusal) as refused:
        parse_allocation_response(body, url="u", now=now, max_age=timedelta(hours=72))
    said = str(refused.value)
    assert refused.value.code == "stale_allocation"
    assert "as of 2025-06-24, 525 days old, older than allocation.max_age_hours (72 h)" in said
    assert "set `max_age_hours: 12605` (or more)" in said
    accepted = parse_allocation_response(body, url="u", now=now, max_age=timedelta(hours=12605))
    assert [t.symbol for t in accepted.targets] == ["EDC", "QLD", "QQQ", "BTAL", "SPXL", "TQQQ"]
    assert accepted.strategy_name == "ETF Blend 301-20"


def test_a_portfolio_csv_keeping_cash_needs_the_account_to_keep_it_too() -> None:
    text = "symbol,weight\nSPY,0.5\nAGG,0.4\nCASH,0.1\n"
    with pytest.raises(Refusal, match=r"set `planning.target_cash_weight: 0.1` for the account"):
        parse_portfolio_csv(text, "p.csv")
    targets, notes = parse_portfolio_csv(text, "p.csv", cash_weight=Decimal("0.1"))
    assert sum(t.weight for t in targets) == 1  # shares of the invested 90 %
    assert notes == ("p.csv: CASH row 10 %: the cash the model keeps",)
    models = "ETF,CORE,INCOME\nSPY,60%,20%\nAGG,40%,80%\n"
    targets, notes = parse_portfolio_csv(models, "p.csv", "income")
    assert [(t.symbol, t.weight) for t in targets] == [
        ("SPY", Decimal("0.2")),
        ("AGG", Decimal("0.8")),
    ]
    assert notes == ("p.csv (column INCOME): weights read as percent (25 means 25 %)",)
