"""``rebalancer demo``: the whole system on the emulator, from dry run to fills to reports.

It uses the stack of a running ``rebalancer up`` (same home) or starts one in-process (with
its own home ``.rebalancer/``), with the sample accounts ``deploy/demo/accounts.yaml`` and
the model ``deploy/demo/model.csv``. The bridge runs with read-only OFF here only because it
talks to the emulator (paper and fake); a real gateway stays read-only until you change it.
A second run finds nothing left to trade.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import httpx
import redis.asyncio as aioredis
import yaml
from rich.console import Console
from rich.rule import Rule

from rebalancer_cli.flows import rebalance_flow, trade_request
from rebalancer_cli.stack import ConsoleView, Stack
from rebalancer_cli.stackconfig import StackSettings, StackState
from rebalancer_cli.targets import load_targets

ROOT = Path(__file__).resolve().parents[4]
DEMO_DIR = ROOT / "deploy" / "demo"
DEFAULT_SCENARIO = (
    ROOT / "services" / "ib-emulator" / "src" / "ib_emulator" / "default_scenario.yaml"
)
ACCOUNTS = ("DU1000001", "DU1000002")
SCENARIO_NAME = "demo-scenario.yaml"


async def save_emulator_state(admin_port: int, path: Path) -> None:
    """Keep the emulator's accounts (cash, positions) as a scenario for the next demo run.

    The emulator holds its paper accounts in memory; without this, every demo would start
    from the default portfolio again instead of finding nothing left to trade.
    """
    async with httpx.AsyncClient(timeout=5) as http:
        state = (await http.get(f"http://127.0.0.1:{admin_port}/state")).json()
    scenario = yaml.safe_load(DEFAULT_SCENARIO.read_text(encoding="utf-8"))
    kinds = {a["id"]: a.get("account_type", "margin") for a in scenario["accounts"]}
    scenario["accounts"] = [
        {
            "id": a["id"],
            "base_currency": a["base_currency"],
            "cash": a["cash"],
            "account_type": kinds.get(a["id"], "margin"),
            "positions": [
                {
                    "symbol": p["symbol"],
                    "quantity": p["quantity"],
                    "average_cost": p["average_cost"],
                }
                for p in a["positions"]
                if Decimal(p["quantity"]) != 0
            ],
        }
        for a in state["accounts"]
    ]
    await asyncio.to_thread(path.write_text, yaml.safe_dump(scenario, sort_keys=False), "utf-8")


async def _running_stack(settings: StackSettings) -> StackState | None:
    state = StackState.read(settings.home.resolve() / "stack.json")
    if state is None:
        return None
    client = aioredis.Redis.from_url(state.client_url(), socket_timeout=1)
    try:
        await client.ping()
        return state
    except (OSError, aioredis.RedisError):
        return None
    finally:
        await client.aclose()


async def demo_flow(settings: StackSettings, model: Path, console: Console) -> bool:
    """Run the demo; return whether everything went as it should."""
    weights = load_targets(model).targets
    running = await _running_stack(settings)
    stack: Stack | None = None
    if running is None:
        saved = settings.home.resolve() / SCENARIO_NAME
        if settings.scenario is None and saved.exists():
            settings = settings.model_copy(update={"scenario": saved})
        log_path = settings.home.resolve() / "logs" / "demo-stack.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        view = ConsoleView(out=open(log_path, "a"), colour=False)  # noqa: SIM115, ASYNC230
        stack = Stack(settings, view=view, echo=lambda text: console.print(f"[dim]{text}[/]"))
        stack.acquire()
        console.print(f"[dim]starting the stack (logs in {log_path.parent})[/]")
        await stack.start()
        url = stack.redis_url
    else:
        url = running.client_url()
        console.print(f"[dim]using the running stack at {running.redis_url}[/]")
    try:
        console.print(Rule("1. Dry run: what would change"))
        request = trade_request(list(ACCOUNTS), None, weights, execute=False)
        ok, views = await rebalance_flow(
            url, request, set(ACCOUNTS), execute=False, yes=True, console=console, timeout_s=60
        )
        if not ok:
            return False
        if all(view is not None and not view.legs for view in views.values()):
            console.print(Rule())
            console.print("[green]Nothing left to trade:[/] every account is within its bands.")
            return True
        console.print(Rule("2. Execute (auto approval, market orders on the emulator)"))
        request = trade_request(list(ACCOUNTS), None, weights, execute=True)
        ok, _ = await rebalance_flow(
            url, request, set(ACCOUNTS), execute=True, yes=True, console=console,
            timeout_s=60, exec_timeout_s=300,
        )  # fmt: skip
        if not ok:
            return False
        console.print(Rule("3. After: the drift left"))
        request = trade_request(list(ACCOUNTS), None, weights, execute=False)
        ok, _ = await rebalance_flow(
            url, request, set(ACCOUNTS), execute=False, yes=True, console=console, timeout_s=60
        )
        reports = settings.home.resolve() / "reports"
        console.print(Rule())
        console.print(f"Reports (pre-trade, post-trade, run summary): [bold]{reports}[/]")
        console.print("Run `rebalancer demo` again: nothing is left to trade.")
        return ok
    finally:
        if stack is not None:
            try:
                await save_emulator_state(
                    settings.ib_admin_port, settings.home.resolve() / SCENARIO_NAME
                )
            except (httpx.HTTPError, OSError, KeyError) as error:
                console.print(f"[yellow]could not keep the emulator's accounts: {error}[/]")
            console.print("[dim]stopping the stack[/]")
            await stack.stop()
            stack.release()
