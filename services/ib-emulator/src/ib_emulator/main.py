"""Command line.

ib-emulator [--host H] [--port 4002] [--scenario FILE] [--admin-port 4003] ...
ib-emulator record --upstream HOST:PORT --listen PORT --out FILE [--no-redact ...]
ib-emulator compare FILE [--scenario FILE] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from . import compare as cmp
from .record import Recorder, parse_host_port
from .recording import REDACTIONS, Redactor, read_recording
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
    p.add_argument(
        "--master-client-id",
        type=int,
        help="IB's 'Master API client ID': this client also hears every other client's order "
        "events (overrides the scenario)",
    )
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    return p.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Run until SIGINT or SIGTERM."""
    scenario = load_scenario(args.scenario) if args.scenario else default_scenario()
    if args.master_client_id is not None:
        scenario = scenario.model_copy(update={"master_client_id": args.master_client_id})
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
    await _until_signal()
    logging.getLogger("ib_emulator").info("shutting down")
    await emulator.stop()


def parse_record_args(argv: list[str]) -> argparse.Namespace:
    """Arguments of ``ib-emulator record``."""
    p = argparse.ArgumentParser(
        prog="ib-emulator record",
        description="Relay a TWS API client to TWS / IB Gateway and record the traffic both "
        "ways, one JSON line per message. Account codes and amounts are redacted unless told.",
    )
    p.add_argument("--upstream", required=True, help="TWS or IB Gateway, HOST:PORT (paper: 4002)")
    p.add_argument("--listen", type=int, required=True, help="port the client connects to")
    p.add_argument("--listen-host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--out", required=True, help="recording file to write (JSON lines)")
    p.add_argument(
        "--no-redact",
        action="append",
        choices=[*REDACTIONS, "all"],
        default=[],
        help="keep account codes or amounts as they are (repeatable; default: redact both)",
    )
    p.add_argument(
        "--version-cap",
        type=int,
        default=176,
        help="highest API version offered upstream (default 176, the emulator's; 0: no cap)",
    )
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


def parse_compare_args(argv: list[str]) -> argparse.Namespace:
    """Arguments of ``ib-emulator compare``."""
    p = argparse.ArgumentParser(
        prog="ib-emulator compare",
        description="Replay a recording's requests against a fresh emulator and report how "
        "its replies differ, per reply message.",
    )
    p.add_argument("recording", help="a file written by `ib-emulator record`")
    p.add_argument("--scenario", help="YAML scenario to replay against (default: built-in)")
    p.add_argument(
        "--max-gap", type=float, default=3.0, help="cap on the wait between two requests (s)"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--log-level", default="WARNING")
    return p.parse_args(argv)


async def record(args: argparse.Namespace) -> None:
    """Relay and record until SIGINT or SIGTERM."""
    keep = set(args.no_redact)
    redactor = Redactor(
        accounts=not keep & {"accounts", "all"}, amounts=not keep & {"amounts", "all"}
    )
    recorder = Recorder(
        parse_host_port(args.upstream),
        args.out,
        listen_host=args.listen_host,
        listen_port=args.listen,
        redactor=redactor,
        cap_version=args.version_cap or None,
    )
    await recorder.start()
    print(
        f"ib-emulator record: {args.listen_host}:{recorder.port} -> {args.upstream}, "
        f"writing {args.out} (redacted: {', '.join(redactor.applied) or 'nothing'})",
        flush=True,
    )
    await _until_signal()
    await recorder.stop()
    print(f"ib-emulator record: {recorder.messages} messages written to {args.out}", flush=True)


async def compare(args: argparse.Namespace) -> int:
    """Replay and report; 0 when nothing differs that counts, 1 otherwise."""
    _head, recorded = read_recording(args.recording)
    scenario = load_scenario(args.scenario) if args.scenario else None
    replies = await cmp.replay(recorded, scenario, max_gap=args.max_gap)
    reports = cmp.compare(recorded, replies)
    print(cmp.as_json(reports) if args.json else cmp.render(reports))
    return 0 if all(r.ok for r in reports) else 1


async def _until_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def run(argv: list[str] | None = None) -> None:
    """Console script entry point."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["record"]:
        rec = parse_record_args(argv[1:])
        _logging(rec.log_level)
        try:
            asyncio.run(record(rec))
        except (OSError, ValueError) as exc:
            print(f"ib-emulator record: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        return
    if argv[:1] == ["compare"]:
        cmp_args = parse_compare_args(argv[1:])
        _logging(cmp_args.log_level)
        try:
            code = asyncio.run(compare(cmp_args))
        except (OSError, ValueError, ScenarioError) as exc:
            print(f"ib-emulator compare: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        raise SystemExit(code)
    args = parse_args(argv)
    _logging(args.log_level)
    try:
        asyncio.run(serve(args))
    except ScenarioError as exc:
        print(f"ib-emulator: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as exc:
        print(f"ib-emulator: cannot listen: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
