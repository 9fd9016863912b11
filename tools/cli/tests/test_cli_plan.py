"""Plan rendering (drift table, batch summary, reasons, CSV rows) and `rebalancer plan`, which
goes through the notifier (its checks apply) to the planner, both running in this process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from notifier.main import create_app as create_notifier
from notifier.settings import NotifierSettings
from planner.core import Plan, plan_rebalance
from planner.main import create_app as create_planner
from planner.settings import PlannerSettings
from planner.translate import proposed, rejected
from rebalancer_cli.app import app
from rebalancer_cli.targets import TargetsFileError, load_targets
from rebalancer_cli.views import plan_tables
from rebalancer_testkit.fake_bridge import FakeBridge
from rebalancer_testkit.portfolios import (
    ACCOUNTS,
    NOW,
    SEED002_HOLDINGS,
    SEED002_TARGETS,
    account_view,
    policy,
    targets,
    view,
)
from shared.contracts import catalogue
from shared.contracts.allocations import TargetAllocationSet
from shared.contracts.base import Reason, utc_now
from shared.contracts.triggers import RequestRebalance
from shared.kit.streams import read
from shared.plans.rows import DRIFT_COLUMNS, drift_csv_rows, summary_csv_row

EVENT = TargetAllocationSet(
    source="test", allocation_id="al-1", account_ids=("DU111111",), targets=targets({"SPY": "1"})
)


def seed002_plan() -> Plan:
    result = plan_rebalance(view(0, SEED002_HOLDINGS), targets(SEED002_TARGETS), policy(), NOW)
    assert isinstance(result, Plan)
    return result


def text_of(tables: list) -> str:  # type: ignore[type-arg]
    console = Console(record=True, width=200)
    for table in tables:
        console.print(table)
    return console.export_text()


def test_drift_table_and_batch_summary_show_the_reference_columns() -> None:
    plan = seed002_plan()
    message = proposed(EVENT, "DU111111", plan, view(0), policy(), NOW)
    shown = text_of(plan_tables(message))
    for column in (*DRIFT_COLUMNS, "Batch Summary", "Gross Buy", "Post Leverage", "Turnover %"):
        assert column in shown
    assert "-500.00" in shown  # SPY's drift in money


def test_csv_rows_carry_the_same_numbers() -> None:
    message = proposed(EVENT, "DU111111", seed002_plan(), view(0), policy(), NOW)
    spy, agg = drift_csv_rows(message)
    assert (spy["Symbol"], spy["Target %"], spy["Current %"], spy["Drift %"]) == (
        "SPY",
        "60.00",
        "55.00",
        "-5.00",
    )
    assert (agg["Action"], agg["Qty"], agg["Est Value"]) == ("SELL", "5", "500.00")
    summary = summary_csv_row(message)
    assert (summary["gross_buy"], summary["turnover_pct"], summary["legs"]) == (
        "500.00",
        "10.00",
        "2",
    )


def test_rejection_shows_each_reason_with_what_to_fix() -> None:
    message = rejected(
        EVENT, "DU111111", (Reason(code="weights_sum", message="Fix the weights."),), NOW
    )
    shown = text_of(plan_tables(message))
    assert "weights_sum" in shown
    assert "Fix the weights." in shown


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "t.csv",
            "symbol,weight\nSPY,0.6\nAGG,0.4\nOLD,\n",
            [("SPY", "0.6"), ("AGG", "0.4"), ("OLD", "0")],
        ),
        ("t.csv", "SPY,1\n", [("SPY", "1")]),
        (
            "t.yaml",
            "- {symbol: SPY, weight: 0.6}\n- {symbol: AGG, allocation: 0.4}\n",
            [("SPY", "0.6"), ("AGG", "0.4")],
        ),
        ("t.yml", "SPY: '0.5'\nAGG: '0.5'\n", [("SPY", "0.5"), ("AGG", "0.5")]),
    ],
)
def test_targets_file_formats(
    tmp_path: Path, name: str, content: str, expected: list[tuple[str, str]]
) -> None:
    path = tmp_path / name
    path.write_text(content)
    assert [(t.symbol, str(t.weight)) for t in load_targets(path).targets] == expected


@pytest.mark.parametrize("content", ["SPY,abc\n", "SPY,nan\n"])
def test_unreadable_weight_names_the_line(tmp_path: Path, content: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(TargetsFileError, match="line 1"):
        load_targets(path)


@pytest.fixture
async def running(redis_url: str) -> AsyncIterator[str]:
    """The fake bridge, the planner and the notifier (no HTTP API, no schedules)."""
    bridge = FakeBridge(redis_url)
    bridge.views = {"DU111111": account_view("DU111111")}
    planner = create_planner(
        PlannerSettings(redis_url=redis_url, consumer_name="planner-cli", portfolio_timeout_s=1),
        accounts=ACCOUNTS,
    )
    notifier = create_notifier(
        NotifierSettings(
            redis_url=redis_url, consumer_name="notifier-cli", api_enabled=False,
            schedules_enabled=False,
        ),
        ACCOUNTS,
    )  # fmt: skip
    await bridge.start()
    await planner.start()
    await notifier.start()
    yield redis_url
    await notifier.stop()
    await planner.stop()
    await bridge.stop()


async def test_cli_plan_prints_the_plan_and_exits_0(running: str, tmp_path: Path) -> None:
    path = tmp_path / "targets.csv"
    path.write_text("symbol,weight\nSPY,0.6\nAGG,0.4\n")
    args = ["plan", "--account", "DU111111", "--targets", str(path), "--redis-url", running]
    result = await asyncio.to_thread(CliRunner().invoke, app, args)
    assert result.exit_code == 0, result.output
    assert "Batch Summary" in result.output
    assert "SELL" in result.output
    # The CLI asked the notifier, as every trigger does; it published no targets itself.
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(running)
    [request] = await read(client, catalogue.TRIGGERS)
    [allocation] = await read(client, catalogue.ALLOCATIONS)
    await client.aclose()
    assert isinstance(request, RequestRebalance)
    assert (request.source, request.execution.value) == ("cli", "dry_run")
    assert allocation.source == "notifier"


async def test_cli_plan_shows_reasons_and_exits_1_on_rejection(
    running: str, tmp_path: Path
) -> None:
    path = tmp_path / "targets.csv"
    path.write_text("SPY,0.6\nAGG,0.3\n")
    args = ["plan", "-a", "DU111111", "-t", str(path), "--redis-url", running]
    result = await asyncio.to_thread(CliRunner().invoke, app, args)
    assert result.exit_code == 1
    assert "weights_sum" in result.output
    assert "sum to 0.9" in result.output  # the sentence says what to fix


async def test_cli_plan_exits_1_when_nothing_answers(redis_url: str, tmp_path: Path) -> None:
    path = tmp_path / "targets.csv"
    path.write_text("SPY,1\n")
    args = ["plan", "-a", "DU111111", "-t", str(path), "--redis-url", redis_url, "--timeout", "0.3"]
    started = utc_now()
    result = await asyncio.to_thread(CliRunner().invoke, app, args)
    assert result.exit_code == 1
    assert (utc_now() - started).total_seconds() < 5
