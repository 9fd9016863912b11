"""The ledger's Prometheus metrics (labels: accounts, symbols held or traded, bounded codes).

PnL gauges are read at each scrape from the last PnL the ledger computed (every
``LEDGER_METRICS_INTERVAL_S``), so a symbol no longer held nor traded simply has no series.
Only accounts whose base currency is USD are shown (the gauges are in USD; nothing is
converted), like the bridge's portfolio gauges.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.contracts.ledger import AccountPnl

ACCOUNT_GAUGES = (
    ("rebalancer_ledger_realized_pnl_usd", "Realized PnL of the account's trades in the ledger."),
    ("rebalancer_ledger_unrealized_pnl_usd", "Unrealized PnL of the account's open positions."),
    ("rebalancer_ledger_total_pnl_usd", "Realized + unrealized PnL."),
    ("rebalancer_ledger_daily_pnl_usd", "Today's PnL (positions' sum, else IB's reqPnL)."),
)
POSITION_GAUGES = (
    ("rebalancer_ledger_position_realized_pnl_usd", "Realized PnL per symbol."),
    ("rebalancer_ledger_position_unrealized_pnl_usd", "Unrealized PnL per open position."),
    ("rebalancer_ledger_position_daily_pnl_usd", "Today's PnL per symbol."),
)


class PnlCollector(Collector):
    """PnL gauges from the last computed PnL, plus the trades stored per account."""

    def __init__(self) -> None:
        self.accounts: tuple[AccountPnl, ...] = ()
        self.stored: dict[tuple[str, bool], int] = {}

    def describe(self) -> Iterator[Metric]:
        """The families, without reading any state."""
        for name, doc in ACCOUNT_GAUGES:
            yield GaugeMetricFamily(name, doc, labels=["account"])
        for name, doc in POSITION_GAUGES:
            yield GaugeMetricFamily(name, doc, labels=["account", "symbol"])
        yield GaugeMetricFamily(
            "rebalancer_ledger_trades", "Trades stored.", labels=["account", "origin"]
        )
        yield GaugeMetricFamily(
            "rebalancer_ledger_pnl_complete",
            "1 when every open position of the account had a price at the last computation.",
            labels=["account"],
        )

    def collect(self) -> Iterator[Metric]:
        """One sample per USD account (and symbol) of the last computation."""
        account = {n: GaugeMetricFamily(n, d, labels=["account"]) for n, d in ACCOUNT_GAUGES}
        position = {
            n: GaugeMetricFamily(n, d, labels=["account", "symbol"]) for n, d in POSITION_GAUGES
        }
        complete = GaugeMetricFamily(
            "rebalancer_ledger_pnl_complete",
            "1 when every open position of the account had a price at the last computation.",
            labels=["account"],
        )
        for a in self.accounts:
            if a.currency != "USD":
                continue
            values = (a.realized_pnl, a.unrealized_pnl, a.total_pnl, a.daily_pnl)
            for (name, _doc), amount in zip(ACCOUNT_GAUGES, values, strict=True):
                if amount is not None:
                    account[name].add_metric([a.account_id], float(amount))
            complete.add_metric([a.account_id], 1.0 if a.complete else 0.0)
            for p in a.positions:
                if p.currency != "USD":
                    continue
                # A closed symbol keeps its realized and today's PnL, not an unrealized zero.
                unrealized = p.unrealized_pnl if p.quantity != 0 else None
                figures = (p.realized_pnl, unrealized, p.daily_pnl)
                for (name, _doc), amount in zip(POSITION_GAUGES, figures, strict=True):
                    if amount is not None:
                        position[name].add_metric([a.account_id, p.symbol], float(amount))
        stored = GaugeMetricFamily(
            "rebalancer_ledger_trades", "Trades stored.", labels=["account", "origin"]
        )
        for (account_id, external), count in sorted(self.stored.items()):
            stored.add_metric([account_id, "external" if external else "system"], float(count))
        yield from account.values()
        yield from position.values()
        yield stored
        yield complete


class LedgerMetrics:
    """Events recorded, duplicates ignored, queries answered, and the PnL gauges."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.trades = Counter(
            "rebalancer_ledger_trades_recorded_total",
            "Executions recorded for the first time, by account and origin (system, external).",
            ["account", "origin"],
            registry=registry,
        )
        self.commissions = Counter(
            "rebalancer_ledger_commissions_recorded_total",
            "Commission reports recorded for the first time, by account.",
            ["account"],
            registry=registry,
        )
        self.duplicates = Counter(
            "rebalancer_ledger_duplicate_events_total",
            "Order events that changed nothing (redelivered, replayed), by type.",
            ["type"],
            registry=registry,
        )
        self.history_rows = Counter(
            "rebalancer_ledger_position_history_rows_total",
            "Position history rows written.",
            registry=registry,
        )
        self.queries = Counter(
            "rebalancer_ledger_queries_total",
            "rpc.ledger.v1 requests answered, by request type and outcome (ok or the code).",
            ["type", "outcome"],
            registry=registry,
        )
        self.query_seconds = Histogram(
            "rebalancer_ledger_query_duration_seconds",
            "Time to answer one rpc.ledger.v1 request.",
            ["type"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.pnl = PnlCollector()
        registry.register(self.pnl)
