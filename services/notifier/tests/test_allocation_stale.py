"""The stale check of an allocation answer's as_of, on the event-driven tool's own sample."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.core.allocation_api import parse_allocation_response
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
