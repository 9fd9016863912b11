"""``rebalancer status``: health of each service, Redis, stream lengths and group lag."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import redis
from rich.table import Table

from shared.contracts import catalogue
from shared.contracts.base import utc_now
from shared.contracts.catalogue import CATALOGUE
from shared.contracts.gateway import GatewayStatus
from shared.ib_gateway import status_view
from shared.kit.consumer import dlq_name
from shared.kit.streams import decode_fields


@dataclass(frozen=True)
class GroupRow:
    stream: str
    length: int
    group: str | None
    pending: int | None
    lag: int | None


def service_health(
    ops_ports: dict[str, int], timeout_s: float = 2.0
) -> dict[str, tuple[bool, str]]:
    """Return each service's readiness and a short detail, from its /health."""
    result: dict[str, tuple[bool, str]] = {}
    with httpx.Client(timeout=timeout_s) as client:
        for name, port in ops_ports.items():
            url = f"http://127.0.0.1:{port}/health"
            try:
                response = client.get(url)
                body = response.json()
                checks = body.get("checks", {})
                failing = {k: v for k, v in checks.items() if v != "ok"}
                detail = "; ".join(f"{k}: {v}" for k, v in failing.items()) or ", ".join(checks)
                result[name] = (response.status_code == 200, detail)
            except (httpx.HTTPError, ValueError) as error:
                result[name] = (False, f"no answer at {url} ({type(error).__name__})")
    return result


def _lag(client: redis.Redis, stream: str, info: dict[str, object]) -> int | None:
    """Entries not yet delivered to the group (Redis 7 reports it; 6.2 is counted here)."""
    lag = info.get("lag")
    if isinstance(lag, int):
        return lag
    last = info.get("last-delivered-id", b"0-0")
    last_id = last.decode() if isinstance(last, bytes) else str(last)
    undelivered = client.xrange(stream, min=f"({last_id}", max="+", count=100_000)
    return len(undelivered or [])


def stream_rows(client: redis.Redis) -> list[GroupRow]:
    """Return one row per (stream, group) of the catalogue and of any dead-letter stream."""
    rows: list[GroupRow] = []
    names = list(CATALOGUE) + sorted(
        k.decode() for k in client.scan_iter(match=f"{dlq_name('*')}", count=1000)
    )
    for stream in names:
        if not client.exists(stream):
            rows.append(GroupRow(stream, 0, None, None, None))
            continue
        length = int(client.xlen(stream))
        groups = client.xinfo_groups(stream)
        if not groups:
            rows.append(GroupRow(stream, length, None, None, None))
        for info in groups:
            name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
            rows.append(
                GroupRow(stream, length, name, int(info["pending"]), _lag(client, stream, info))
            )
    return rows


def ib_status(client: redis.Redis, scan: int = 200) -> dict[str, Any]:
    """The IB connection as the bridge last reported it (``GatewayStatus``), as a view."""
    entries: Any = client.xrevrange(catalogue.GATEWAY.name, count=scan)
    for _, fields in entries or []:
        message = decode_fields(catalogue.GATEWAY, fields)
        if isinstance(message, GatewayStatus):
            return status_view(message, utc_now(), public=False)
    return status_view(None, utc_now(), public=False)


IB_ROWS = (
    ("state", "state"),
    ("gateway", "gateway"),
    ("client_id", "client id"),
    ("since", "since"),
    ("server_version", "server version"),
    ("accounts", "accounts"),
    ("live_accounts", "live accounts"),
    ("last_connectivity_code", "last connectivity code"),
    ("heartbeat_age_s", "heartbeat age (s)"),
    ("reported_s_ago", "reported (s ago)"),
    ("read_only", "read-only"),
    ("allow_live", "live accounts allowed"),
    ("expected_until", "down on purpose until"),
    ("last_error", "last error"),
    ("detail", "detail"),
)


def render_ib(view: dict[str, Any]) -> Table:
    """The IB connection table of ``status``."""
    table = Table(title="IB connection (as the gateway-bridge reports it)", title_justify="left")
    table.add_column("what")
    table.add_column("value")
    colour = {"ready": "green", "reconciling": "yellow"}.get(str(view.get("state")), "red")
    for key, label in IB_ROWS:
        if key not in view or view[key] in (None, [], ""):
            continue
        value = view[key]
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        if key == "state":
            shown = f"[{colour}]{shown}[/]"
        table.add_row(label, shown)
    return table


def render_status(
    redis_url: str,
    health: dict[str, tuple[bool, str]],
    rows: list[GroupRow] | None,
    redis_error: str | None,
) -> list[Table]:
    """Build the tables ``status`` prints."""
    services = Table(title="Services", title_justify="left")
    services.add_column("service")
    services.add_column("health")
    services.add_column("detail")
    for name, (ok, detail) in health.items():
        services.add_row(name, "[green]ready[/]" if ok else "[red]NOT READY[/]", detail)
    services.add_row(
        "redis",
        "[green]ready[/]" if redis_error is None else "[red]DOWN[/]",
        redis_error or redis_url,
    )
    tables = [services]
    if rows is not None:
        streams = Table(title="Streams and consumer groups", title_justify="left")
        for column in ("stream", "length", "group", "pending", "lag"):
            streams.add_column(
                column, justify="right" if column in {"length", "pending", "lag"} else "left"
            )
        for row in rows:
            streams.add_row(
                row.stream,
                str(row.length),
                row.group or "-",
                "-" if row.pending is None else str(row.pending),
                "-" if row.lag is None else str(row.lag),
            )
        tables.append(streams)
    return tables
