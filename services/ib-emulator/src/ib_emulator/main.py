"""Command line: ``ib-emulator --host H --port 4002 [--scenario FILE] [--admin-port 4003]``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from .scenario import ScenarioError, default_scenario, load_scenario
from .server import Emulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse command line arguments."""
    p = argparse.ArgumentParser(prog="ib-emulator", description="A paper IB Gateway (TWS API 176).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=4002, help="TWS API port (default 4002, paper)")
    p.add_argument("--scenario", help="YAML scenario file (default: the built-in scenario)")
    p.add_argument(
        "--admin-port", type=int, default=4003, help="admin HTTP port (default 4003; -1 disables)"
    )
    p.add_argument(
        "--admin-host",
        default="127.0.0.1",
        help="address of the admin API (default 127.0.0.1: loopback only, whatever --host is)",
    )
    p.add_argument("--seed", type=int, help="seed for the random walk (overrides the scenario)")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    return p.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Run until SIGINT or SIGTERM."""
    scenario = load_scenario(args.scenario) if args.scenario else default_scenario()
    emulator = Emulator(
        scenario,
        host=args.host,
        port=args.port,
        admin_port=None if args.admin_port < 0 else args.admin_port,
        admin_host=args.admin_host,
        seed=args.seed,
    )
    await emulator.start()
    admin = f"{args.admin_host}:{emulator.admin_port}" if emulator.admin_port else "off"
    print(f"ib-emulator ready: api={args.host}:{emulator.port} admin={admin}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logging.getLogger("ib_emulator").info("shutting down")
    await emulator.stop()


def run(argv: list[str] | None = None) -> None:
    """Console script entry point."""
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(serve(args))
    except ScenarioError as exc:
        print(f"ib-emulator: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as exc:
        print(f"ib-emulator: cannot listen: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
