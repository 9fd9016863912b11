"""Generate the provisioned Grafana dashboards (deploy/grafana/dashboards/*.json).

The dashboards are code: edit the tables below and run ``python deploy/grafana/dashboards.py``;
a test fails when the JSON files are not what this script writes, and another runs every
panel's query against a real Prometheus scraping the local stack.

Each panel is ``Panel(title, [exprs], kind, unit)``. Queries may use ``$account`` (a dashboard
variable), ``$__rate_interval`` and ``$__range`` (Grafana's own).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
SERVICE_JOBS = "gateway-bridge|planner|executor|notifier|ledger"
ACCOUNT = 'account=~"$account"'
RATE = "$__rate_interval"

# Consumer-group lag as time: the newest entry's id time minus the last delivered one's (ms).
GROUP_LAG_SECONDS = (
    "max by (stream, group) ("
    "(redis_stream_last_generated_id - on (db, stream) group_right "
    "redis_stream_group_last_delivered_id) "
    "and on (db, stream, group) redis_stream_group_last_delivered_id > 0) / 1000"
)


@dataclass(frozen=True)
class Panel:
    """One panel: a title, its PromQL queries (one per series group), how to draw it."""

    title: str
    exprs: tuple[str, ...]
    kind: str = "timeseries"  # timeseries | stat | table | bargauge
    unit: str = "short"
    description: str = ""
    legend: tuple[str, ...] = ()
    width: int = 12


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    account_variable: bool = False
    tags: tuple[str, ...] = field(default=("rebalancer",))


PIPELINE = Dashboard(
    uid="rebalancer-pipeline",
    title="Rebalancer: pipeline",
    description="Triggers to plans to approvals to orders to fills, with latency, lag and dead letters.",
    panels=(
        Panel(
            "Triggers received",
            (f"sum by (source, outcome) (increase(rebalancer_triggers_total[{RATE}]))",),
            legend=("{{source}} {{outcome}}",),
        ),
        Panel(
            "Rebalance requests resolved",
            (
                f"sum by (outcome) (increase(rebalancer_rebalance_requests_total[{RATE}]))",
                f"sum by (source_kind, outcome) (increase(rebalancer_allocations_total[{RATE}]))",
            ),
            legend=("request {{outcome}}", "allocation {{source_kind}} {{outcome}}"),
        ),
        Panel(
            "Plans (planner)",
            (f"sum by (account, outcome) (increase(rebalancer_plans_total[{RATE}]))",),
            legend=("{{account}} {{outcome}}",),
        ),
        Panel(
            "Plan lifecycle and approvals (executor)",
            (
                f"sum by (account, outcome) (increase(rebalancer_plan_outcomes_total[{RATE}]))",
                f"sum by (account, mode) (increase(rebalancer_approvals_total[{RATE}]))",
            ),
            legend=("{{account}} {{outcome}}", "approved {{account}} ({{mode}})"),
        ),
        Panel(
            "Orders",
            (f"sum by (account, outcome) (increase(rebalancer_orders_total[{RATE}]))",),
            legend=("{{account}} {{outcome}}",),
        ),
        Panel(
            "Fills",
            (f"sum by (account) (increase(rebalancer_fills_total[{RATE}]))",),
            legend=("{{account}}",),
        ),
        Panel(
            "Latency: trigger to fill, allocation to plan, submit to placeOrder",
            (
                f"histogram_quantile(0.95, sum by (le) (rate(rebalancer_trigger_to_fill_seconds_bucket[{RATE}])))",
                f"histogram_quantile(0.95, sum by (le) (rate(rebalancer_plan_latency_seconds_bucket[{RATE}])))",
                f"histogram_quantile(0.95, sum by (le) (rate(rebalancer_submit_to_place_seconds_bucket[{RATE}])))",
            ),
            unit="s",
            legend=("p95 trigger to fill", "p95 allocation to plan", "p95 submit to place"),
        ),
        Panel(
            "Consumer-group lag",
            (GROUP_LAG_SECONDS,),
            unit="s",
            legend=("{{stream}} / {{group}}",),
            description="How far each group's last delivered entry is behind the stream's newest.",
        ),
        Panel(
            "Pending (delivered, not acknowledged) per consumer group",
            ("max by (stream, group) (redis_stream_group_messages_pending)",),
            legend=("{{stream}} / {{group}}",),
        ),
        Panel(
            "Dead letters",
            (
                f"sum by (job, stream, reason) (increase(rebalancer_dead_letters_total[{RATE}]))",
                'max by (stream) (redis_stream_length{stream=~"dlq\\\\..*"})',
            ),
            legend=("{{job}} {{stream}} {{reason}}", "{{stream}} length"),
        ),
        Panel(
            "Firing alerts",
            ('sum by (alertname, severity) (ALERTS{alertstate="firing"})',),
            kind="table",
            width=24,
            description="Alerts from deploy/prometheus/rules; docs/operations.md says what each means.",
        ),
    ),
)

PORTFOLIO = Dashboard(
    uid="rebalancer-portfolio",
    title="Rebalancer: portfolio",
    description="Per account: net liquidation, cash, positions and weights against targets, drift, PnL.",
    account_variable=True,
    panels=(
        Panel(
            "Net liquidation",
            (f"sum by (account, currency) (rebalancer_account_net_liquidation{{{ACCOUNT}}})",),
            kind="stat",
            legend=("{{account}} ({{currency}})",),
            width=6,
        ),
        Panel(
            "Cash",
            (f"sum by (account, currency) (rebalancer_account_cash{{{ACCOUNT}}})",),
            kind="stat",
            legend=("{{account}} ({{currency}})",),
            width=6,
        ),
        Panel(
            "Daily PnL",
            (f"sum by (account, currency) (rebalancer_account_daily_pnl{{{ACCOUNT}}})",),
            kind="stat",
            legend=("{{account}} ({{currency}})",),
            width=6,
        ),
        Panel(
            "Unrealized PnL",
            (f"sum by (account, currency) (rebalancer_account_unrealized_pnl{{{ACCOUNT}}})",),
            kind="stat",
            legend=("{{account}} ({{currency}})",),
            width=6,
        ),
        Panel(
            "Net liquidation and cash over time",
            (
                f"rebalancer_account_net_liquidation{{{ACCOUNT}}}",
                f"rebalancer_account_cash{{{ACCOUNT}}}",
            ),
            legend=(
                "{{account}} net liquidation ({{currency}})",
                "{{account}} cash ({{currency}})",
            ),
        ),
        Panel(
            "Positions (market value)",
            (f"rebalancer_position_value{{{ACCOUNT}}}",),
            kind="bargauge",
            legend=("{{account}} {{symbol}} ({{currency}})",),
        ),
        Panel(
            "Weights against targets",
            (
                f"rebalancer_position_weight_ratio{{{ACCOUNT}}}",
                f"rebalancer_target_weight_ratio{{{ACCOUNT}}}",
            ),
            kind="table",
            unit="percentunit",
            legend=("{{symbol}} actual", "{{symbol}} target"),
        ),
        Panel(
            "Drift from target at the last plan",
            (f"rebalancer_portfolio_drift_ratio{{{ACCOUNT}}}",),
            unit="percentunit",
            legend=("{{account}}",),
        ),
        Panel(
            "Total PnL (ledger: realized + unrealized)",
            (f"sum by (account) (rebalancer_ledger_total_pnl_usd{{{ACCOUNT}}})",),
            kind="stat",
            unit="currencyUSD",
            width=6,
            description="The ledger's account total: realized (IB's, over every recorded trade) "
            "plus unrealized, exactly the sum of its positions'.",
        ),
        Panel(
            "Realized PnL (ledger)",
            (f"sum by (account) (rebalancer_ledger_realized_pnl_usd{{{ACCOUNT}}})",),
            kind="stat",
            unit="currencyUSD",
            width=6,
        ),
        Panel(
            "Unrealized PnL (ledger)",
            (f"sum by (account) (rebalancer_ledger_unrealized_pnl_usd{{{ACCOUNT}}})",),
            kind="stat",
            unit="currencyUSD",
            width=6,
        ),
        Panel(
            "Daily PnL (ledger)",
            (f"sum by (account) (rebalancer_ledger_daily_pnl_usd{{{ACCOUNT}}})",),
            kind="stat",
            unit="currencyUSD",
            width=6,
        ),
        Panel(
            "PnL per account over time",
            (
                f"rebalancer_ledger_realized_pnl_usd{{{ACCOUNT}}}",
                f"rebalancer_ledger_unrealized_pnl_usd{{{ACCOUNT}}}",
                f"rebalancer_ledger_daily_pnl_usd{{{ACCOUNT}}}",
                f"rebalancer_ledger_total_pnl_usd{{{ACCOUNT}}}",
            ),
            unit="currencyUSD",
            legend=(
                "{{account}} realized",
                "{{account}} unrealized",
                "{{account}} daily",
                "{{account}} total",
            ),
        ),
        Panel(
            "PnL per position",
            (
                f"rebalancer_ledger_position_unrealized_pnl_usd{{{ACCOUNT}}}",
                f"rebalancer_ledger_position_realized_pnl_usd{{{ACCOUNT}}}",
                f"rebalancer_ledger_position_daily_pnl_usd{{{ACCOUNT}}}",
            ),
            kind="table",
            unit="currencyUSD",
            legend=(
                "{{account}} {{symbol}} unrealized",
                "{{account}} {{symbol}} realized",
                "{{account}} {{symbol}} daily",
            ),
        ),
        Panel(
            "Orders by outcome",
            (
                f"sum by (account, outcome) (increase(rebalancer_orders_total{{{ACCOUNT}}}[$__range]))",
            ),
            kind="table",
            width=24,
        ),
    ),
)

GATEWAY = Dashboard(
    uid="rebalancer-gateway",
    title="Rebalancer: IB Gateway",
    description="The bridge's connection to IB Gateway: state, heartbeat, reconciliation, errors, pacing.",
    panels=(
        Panel("Connected", ("rebalancer_gateway_connected",), kind="stat", width=6),
        Panel(
            "Heartbeat age",
            ("rebalancer_gateway_heartbeat_age_seconds",),
            kind="stat",
            unit="s",
            width=6,
        ),
        Panel(
            "Reconciliation (0 none, 1 running, 2 done)",
            ("rebalancer_reconciliation_state",),
            kind="stat",
            width=6,
        ),
        Panel(
            "Connect attempts",
            ("sum by (outcome) (increase(rebalancer_gateway_connect_attempts_total[$__range]))",),
            kind="stat",
            width=6,
            legend=("{{outcome}}",),
        ),
        Panel(
            "Connection over time",
            ("rebalancer_gateway_connected", "rebalancer_gateway_heartbeat_age_seconds"),
            legend=("connected", "heartbeat age (s)"),
        ),
        Panel(
            "IB errors and warnings by code",
            (f"sum by (code) (increase(rebalancer_gateway_errors_total[{RATE}]))",),
            legend=("{{code}}",),
            description="1100 lost, 1101/1102 restored, 100 pacing, 326 client id in use, 10197 competing session.",
        ),
        Panel(
            "Pacing: API messages per second (IB's limit is 50)",
            (
                "rebalancer_ib_messages_per_second",
                "rebalancer_ib_messages_per_second_max",
                f"rate(rebalancer_ib_messages_sent_total[{RATE}])",
            ),
            legend=("last second", "max since start", "average"),
        ),
        Panel(
            "Prices published", (f"rate(rebalancer_prices_published_total[{RATE}])",), unit="ops"
        ),
    ),
)

SERVICES = Dashboard(
    uid="rebalancer-services",
    title="Rebalancer: services",
    description="Each service: up, ready, throughput, handler latency, errors, memory; Redis.",
    panels=(
        Panel("Up", (f'up{{job=~"{SERVICE_JOBS}|redis"}}',), kind="stat", legend=("{{job}}",)),
        Panel("Ready", ("rebalancer_service_ready",), kind="stat", legend=("{{job}}",)),
        Panel(
            "Messages handled",
            (f"sum by (job, stream) (rate(rebalancer_messages_handled_total[{RATE}]))",),
            unit="ops",
            legend=("{{job}} {{stream}}",),
        ),
        Panel(
            "Messages published",
            (f"sum by (job, stream) (rate(rebalancer_messages_published_total[{RATE}]))",),
            unit="ops",
            legend=("{{job}} {{stream}}",),
        ),
        Panel(
            "Handler latency p95",
            (
                f"histogram_quantile(0.95, sum by (job, stream, le) (rate(rebalancer_handler_duration_seconds_bucket[{RATE}])))",
            ),
            unit="s",
            legend=("{{job}} {{stream}}",),
        ),
        Panel(
            "Handler outcomes (errors are retried, then dead-lettered)",
            (
                "sum by (job, outcome) (increase(rebalancer_messages_handled_total[$__range]))",
                "sum by (job, stream) (increase(rebalancer_malformed_messages_total[$__range]))",
            ),
            kind="table",
            legend=("{{job}} {{outcome}}", "{{job}} malformed"),
        ),
        Panel(
            "Memory (resident)",
            (f'process_resident_memory_bytes{{job=~"{SERVICE_JOBS}"}}',),
            unit="bytes",
            legend=("{{job}}",),
        ),
        Panel(
            "CPU",
            (f'rate(process_cpu_seconds_total{{job=~"{SERVICE_JOBS}"}}[{RATE}])',),
            unit="percentunit",
            legend=("{{job}}",),
        ),
        Panel(
            "Redis memory and clients",
            ("redis_memory_used_bytes", "redis_connected_clients"),
            legend=("memory (bytes)", "clients"),
        ),
        Panel("Stream lengths", ("max by (stream) (redis_stream_length)",), legend=("{{stream}}",)),
    ),
)

DASHBOARDS = {
    "pipeline": PIPELINE,
    "portfolio": PORTFOLIO,
    "gateway": GATEWAY,
    "services": SERVICES,
}


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, object]:
    height = 4 if panel.kind == "stat" else 8
    targets = [
        {
            "refId": chr(ord("A") + i),
            "datasource": DATASOURCE,
            "expr": expr,
            "legendFormat": panel.legend[i] if i < len(panel.legend) else "",
            **({"format": "table", "instant": True} if panel.kind == "table" else {}),
        }
        for i, expr in enumerate(panel.exprs)
    ]
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {},
        "targets": targets,
    }


def render(dashboard: Dashboard) -> dict[str, object]:
    """Return the Grafana JSON model of ``dashboard``."""
    panels, x, y, row_height = [], 0, 0, 0
    for index, panel in enumerate(dashboard.panels, start=1):
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        item = _panel_json(panel, index, x, y)
        panels.append(item)
        x += panel.width
        row_height = max(row_height, item["gridPos"]["h"])  # type: ignore[index]
    variables = []
    if dashboard.account_variable:
        variables.append({
            "name": "account",
            "label": "Account",
            "type": "query",
            "datasource": DATASOURCE,
            "query": {"query": "label_values(rebalancer_orders_total, account)", "refId": "A"},
            "definition": "label_values(rebalancer_orders_total, account)",
            "includeAll": True,
            "allValue": ".*",
            "multi": True,
            "refresh": 2,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        })  # fmt: skip
    links = [
        {"title": d.title, "type": "link", "url": f"/d/{d.uid}"}
        for d in DASHBOARDS.values()
        if d.uid != dashboard.uid
    ]
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": list(dashboard.tags),
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": variables},
        "links": links,
        "panels": panels,
    }


def main(argv: list[str]) -> int:
    """Write every dashboard's JSON (``--check``: only report whether the files are current)."""
    stale = []
    for name, dashboard in DASHBOARDS.items():
        text = json.dumps(render(dashboard), indent=2) + "\n"
        path = OUT / f"{name}.json"
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print(
            f"stale: {', '.join(stale)}; run python deploy/grafana/dashboards.py", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
