"""Moving over from the tools our users run today (docs/migrating.md), as a user would: their own
sample files (``tests/seeds/``, transcribed from their READMEs) go through the real
``rebalancer import``, load with the loader every service uses (``shared.accounts``), and
dry-run (then trade, after the prompt) through the real CLI against the real stack: Redis, the
IB emulator over TCP, the gateway-bridge, notifier, planner and executor.

On main these files were refused: ``accounts.yaml`` ("expected a mapping with an `accounts:`
list"), ``settings.ini`` (not read at all), the multi-model CSV ("write the weight as 0.25, not
60%") and the flags (``--dry-run``, ``--read-only``, ``--confirm-mode``, ``--config``,
``--csv``: "No such option").
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from rebalancer_cli.app import app
from rebalancer_testkit.e2e import E2EStack
from rebalancer_testkit.http import LocalHttpServer, Route
from shared.accounts import load_accounts
from shared.contracts import catalogue
from shared.contracts.plans import PlanRejected

SEEDS = Path(__file__).parent / "seeds"
REBALANCER = str(Path(sys.executable).parent / "rebalancer")
EMULATOR_SCENARIO = (
    Path(__file__).parents[1] / "services/ib-emulator/src/ib_emulator/default_scenario.yaml"
)
ETF_ACCOUNTS = ("DU111111", "DU222222")
EVENT_ACCOUNTS = ("DU123456", "DU789012")


def scenario() -> dict[str, Any]:
    """The emulator's built-in instruments and prices, with the seed READMEs' accounts."""
    data: dict[str, Any] = yaml.safe_load(EMULATOR_SCENARIO.read_text())

    def account(account_id: str, cash: int, positions: list[dict[str, Any]]) -> dict[str, Any]:
        return {"id": account_id, "base_currency": "USD", "cash": cash,
                "account_type": "margin", "positions": positions}  # fmt: skip

    data["accounts"] = [
        account("DU111111", 20000, [{"symbol": "SPY", "quantity": 20, "average_cost": 500}]),
        account("DU222222", 30000, [{"symbol": "AGG", "quantity": 100, "average_cost": 98}]),
        account("DU123456", 50000, []),
        account("DU789012", 50000, []),
    ]
    return data


def run(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [REBALANCER, *args], capture_output=True, text=True, timeout=120, input=stdin,
        cwd=cwd,
    )  # fmt: skip


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def imports(*args: str) -> Ran:
    """``rebalancer import`` in this process (the same command; a process start costs seconds
    on a loaded machine, and the end-to-end tests below run the real process)."""
    result = CliRunner().invoke(app, ["import", *args])
    return Ran(result.exit_code, result.stdout, result.stderr)


def validates(path: Path) -> bool:
    """``rebalancer validate`` (offline: no stack to ask IB) accepts the file."""
    result = CliRunner().invoke(app, ["validate", "--accounts-file", str(path), "--offline"])
    assert result.exit_code == 0, result.stdout + result.stderr
    return True


async def cli(stack: E2EStack, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    argv = (*args, "--redis-url", stack.redis.url, "--timeout", "45")
    return await asyncio.to_thread(run, *argv, stdin=stdin)


def flat(text: str) -> str:
    return " ".join(text.split())


async def orders_of(stack: E2EStack, account: str) -> list[dict[str, Any]]:
    return [o for o in await stack.ib_orders() if o.get("account") == account]


# ----------------------------------------------------------------- the ETF rebalancer


@pytest.fixture
async def etf_stack(tmp_path: Path) -> AsyncIterator[E2EStack]:
    stack = E2EStack(tmp_path, {"accounts": []}, scenario=scenario(), notifier=True)
    imported = run(
        "import", str(SEEDS / "etf/settings.ini"), "--column", "CORE",
        "--output", str(stack.accounts_file), "--force",
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    await stack.start(healthy_within_s=90)
    yield stack
    await stack.stop()


def test_the_etf_settings_import_with_every_option_accounted_for(tmp_path: Path) -> None:
    out = tmp_path / "accounts.yaml"
    done = imports(str(SEEDS / "etf/settings.ini"), "--column", "CORE", "-o", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    # every translated option says where it came from
    assert "min_order_value: 10  # [account:DU111111] min_order_usd = 10" in text
    assert "fractional: true  # [account:DU111111] allow_fractional = true" in text
    assert 'order_type: "adaptive"  # [execution] algo_preference = adaptive' in text
    assert "[accounts] pacing_sec = 1: not needed; the gateway-bridge paces" in text
    # a known option without an equivalent says what we do instead, in the file and on stderr
    warning = "[execution] commission_report_timeout: no equivalent: commissions are recorded"
    assert warning in text
    assert warning in flat(done.stderr)

    accounts = load_accounts(out)  # the services' loader
    assert [a.id for a in accounts] == list(ETF_ACCOUNTS)
    first, second = accounts.get("DU111111"), accounts.get("DU222222")
    assert first is not None
    assert second is not None
    assert (first.planning.min_order_value, first.planning.fractional) == (10, True)
    assert (second.planning.min_order_value, second.planning.fractional) == (50, False)
    assert first.execution.order_type.value == "adaptive"
    assert first.execution.approval.value == "manual"
    assert first.config.allocation is not None
    assert first.config.allocation.column == "CORE"
    assert first.config.allocation.csv.resolve() == (SEEDS / "etf/portfolios.csv").resolve()
    assert first.config.groups == ("settings",)

    assert validates(out)

    again = imports(str(SEEDS / "etf/settings.ini"), "--column", "CORE", "-o", str(out))
    assert again.returncode == 2
    assert "exists; give --force" in flat(again.stderr)
    assert out.read_text() == text


def test_per_account_portfolio_files_and_their_cash_and_percent(tmp_path: Path) -> None:
    out = tmp_path / "deep/accounts.yaml"
    done = imports(str(SEEDS / "etf/settings_per_account.ini"), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert validates(out)
    accounts = load_accounts(out)
    first, second = accounts.get("DU111111"), accounts.get("DU222222")
    assert first is not None
    assert second is not None
    assert first.config.allocation is not None
    assert second.config.allocation is not None
    assert (
        first.config.allocation.csv.resolve() == (SEEDS / "etf/portfolios_DU111111.csv").resolve()
    )
    assert (
        second.config.allocation.csv.resolve() == (SEEDS / "etf/portfolios_DU222222.csv").resolve()
    )
    assert second.planning.target_cash_weight == Decimal("0.1")  # its CASH row
    assert first.planning.target_cash_weight == 0


def test_a_multi_model_csv_needs_a_column_and_an_unknown_option_is_a_warning(
    tmp_path: Path,
) -> None:
    refused = imports(str(SEEDS / "etf/settings.ini"), "-o", str(tmp_path / "a.yaml"))
    assert refused.returncode == 2
    assert "one column per model (CORE, INCOME); choose one" in flat(refused.stderr)
    assert not (tmp_path / "a.yaml").exists()

    ini = tmp_path / "settings.ini"
    ini.write_text(
        (SEEDS / "etf/settings.ini").read_text()
        + "\n[models]\ncore = 0.5\nincome = 0.5\n\n[rebalance_extra]\nspeed = fast\n"
    )
    (tmp_path / "portfolios.csv").write_text((SEEDS / "etf/portfolios.csv").read_text())
    done = imports(str(ini), "-o", str(tmp_path / "b.yaml"))
    assert done.returncode == 0, done.stderr
    assert "[rebalance_extra] speed: unknown section, not translated" in flat(done.stderr)
    account = load_accounts(tmp_path / "b.yaml").get("DU222222")
    assert account is not None
    assert account.config.allocation is not None
    blended = {t.symbol: float(t.weight) for t in account.config.allocation.targets or ()}
    assert blended == pytest.approx({"SPY": 0.4, "AGG": 0.45, "TLT": 0.15})


async def test_the_etf_readme_commands_dry_run_refuse_to_send_and_prompt_once(
    etf_stack: E2EStack,
) -> None:
    # python src/rebalance.py --dry-run --confirm-mode global --config ... --csv config/portfolios.csv
    dry = await cli(
        etf_stack, "rebalance", "--dry-run", "--confirm-mode", "global",
        "--config", str(etf_stack.accounts_file), "--csv", str(SEEDS / "etf/portfolios.csv"),
        "--column", "CORE", "--group", "settings", "--parallel-accounts",
    )  # fmt: skip
    assert dry.returncode == 0, dry.stdout + dry.stderr
    for account in ETF_ACCOUNTS:
        assert f"{account}: dry run, nothing sent" in dry.stdout
    assert "weights read as percent" in flat(dry.stderr)

    # --read-only forces a preview even with --yes (and --execute)
    guarded = await cli(
        etf_stack, "rebalance", "--read-only", "--yes", "--execute", "--group", "settings"
    )
    assert guarded.returncode == 0, guarded.stdout + guarded.stderr
    assert "--read-only: planning only; nothing will be sent" in guarded.stdout
    assert await etf_stack.ib_orders() == []

    # interactive, global: every preview, then one prompt for the batch; "y" trades both
    traded = await cli(
        etf_stack, "rebalance", "--execute", "--confirm-mode", "global", "--group", "settings",
        stdin="y\n",
    )  # fmt: skip
    assert traded.returncode == 0, traded.stdout + traded.stderr
    assert traded.stdout.count("Execute ") == 1
    assert "for 2 accounts" in traded.stdout
    for account in ETF_ACCOUNTS:
        assert f"{account}: completed" in flat(traded.stdout)
        assert await orders_of(etf_stack, account)


# ----------------------------------------------------------------- the event-driven rebalancer


@pytest.fixture
def allocation_api() -> Iterator[LocalHttpServer]:
    answer = json.loads((SEEDS / "event/allocation_answer.json").read_text())
    server = LocalHttpServer(
        routes={
            "/allocations/primary": Route([(200, answer)]),
            "/allocations/secondary": Route([(200, answer)]),
        }
    ).start()
    yield server
    server.stop()


@pytest.fixture
async def event_stack(tmp_path: Path, allocation_api: LocalHttpServer) -> AsyncIterator[E2EStack]:
    # their accounts.yaml, with their API's address replaced by the local one
    theirs = tmp_path / "theirs/accounts.yaml"
    theirs.parent.mkdir()
    text = (SEEDS / "event/accounts.yaml").read_text()
    theirs.write_text(text.replace("https://your-api.com", allocation_api.url))
    stack = E2EStack(
        tmp_path, {"accounts": []}, scenario=scenario(), notifier=True,
        notifier_env={"ALLOCATIONS_API_KEY": "their-allocation-key"},
    )  # fmt: skip
    imported = imports(str(theirs), "--approval", "auto", "-o", str(stack.accounts_file), "--force")
    assert imported.returncode == 0, imported.stderr
    # docs/migrating.md: the sample answer is dated 2025-06-24; to use it, raise max_age_hours
    # as the refusal says (done here for the first account only, the second keeps 72 h)
    data = yaml.safe_load(stack.accounts_file.read_text())
    data["accounts"][0]["allocation"]["max_age_hours"] = 1_000_000
    stack.accounts_file.write_text(yaml.safe_dump(data, sort_keys=False))
    await stack.start(healthy_within_s=90)
    yield stack
    await stack.stop()


def test_the_event_driven_accounts_yaml_imports(tmp_path: Path) -> None:
    out = tmp_path / "accounts.yaml"
    done = imports(str(SEEDS / "event/accounts.yaml"), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert validates(out)
    accounts = load_accounts(out)
    assert [a.id for a in accounts] == list(EVENT_ACCOUNTS)
    assert accounts.default_account() == "DU123456"  # their dry-run took the first account
    first = accounts.get("DU123456")
    assert first is not None
    assert first.config.allocation is not None
    assert first.config.triggers.ably_channel == "rebalance-primary"
    assert first.config.allocation.url == "https://your-api.com/allocations/primary"
    assert first.config.allocation.api_key_env == "ALLOCATIONS_API_KEY"
    assert first.execution.approval.value == "dry_run"
    assert "REALTIME_API_KEY (their Ably key) -> NOTIFIER_ABLY_API_KEY" in out.read_text()
    mine = imports(str(out), "-o", str(out), "--force")
    assert mine.returncode == 2
    assert "is the file being imported" in flat(mine.stderr)


async def test_their_sample_answer_dry_runs_the_default_account_and_auto_waits_for_the_prompt(
    event_stack: E2EStack, allocation_api: LocalHttpServer
) -> None:
    # python -m app.cli dry-run: the first configured account
    dry = await cli(event_stack, "rebalance", "--config", str(event_stack.accounts_file))
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "DU123456: dry run, nothing sent" in dry.stdout
    assert "BTAL" in dry.stdout
    [request, *_] = allocation_api.requests
    assert request["headers"]["x-api-key"] == "their-allocation-key"

    # the second account keeps the 72 h guard: refused, saying what to change
    stale = await cli(event_stack, "rebalance", "--account", "DU789012")
    assert stale.returncode == 1
    assert "Plan rejected for DU789012" in stale.stdout
    [rejected] = [
        m
        for m in await event_stack.messages(catalogue.PLANS)
        if isinstance(m, PlanRejected) and m.account_id == "DU789012"
    ]
    said = rejected.reasons[0].message
    assert "allocations are as of 2025-06-24" in said
    assert "older than allocation.max_age_hours (72 h)" in said
    assert "set `max_age_hours: " in said
    assert "under the account's `allocation:`" in said

    # an auto account waits for the prompt when asked from the CLI: "n" sends nothing
    declined = await cli(
        event_stack, "rebalance", "--execute", "--config", str(event_stack.accounts_file),
        stdin="n\n",
    )  # fmt: skip
    assert declined.returncode == 0, declined.stdout + declined.stderr
    assert "Execute " in declined.stdout
    assert "DU123456: not approved; the plan was cancelled" in declined.stdout
    assert await event_stack.ib_orders() == []

    traded = await cli(
        event_stack, "rebalance", "--execute", "--config", str(event_stack.accounts_file),
        stdin="y\n",
    )  # fmt: skip
    assert traded.returncode == 0, traded.stdout + traded.stderr
    assert "DU123456: completed" in flat(traded.stdout)
    assert await orders_of(event_stack, "DU123456")
