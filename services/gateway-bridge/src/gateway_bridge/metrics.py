"""The bridge's Prometheus metrics (on the service's registry; bounded labels, never ids)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


@dataclass(frozen=True)
class AccountFigures:
    """What the portfolio gauges show of one account, in its base currency ``currency``."""

    account: str
    net_liquidation: Decimal
    cash: Decimal
    daily_pnl: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    position_values: dict[str, Decimal] = field(default_factory=dict)
    """Symbol -> market value in the base currency."""
    currency: str = "USD"
    cash_by_currency: dict[str, Decimal] = field(default_factory=dict)
    """Currency -> cash in that currency."""
    exchange_rates: dict[str, Decimal] = field(default_factory=dict)


ACCOUNT_GAUGES = (
    ("rebalancer_account_net_liquidation_usd", "Net liquidation value (AccountSnapshot)."),
    ("rebalancer_account_cash_usd", "Total cash value in the base currency (AccountSnapshot)."),
    ("rebalancer_account_daily_pnl_usd", "Today's PnL (IB reqPnL)."),
    ("rebalancer_account_unrealized_pnl_usd", "Unrealized PnL (AccountSnapshot)."),
)
BASE_GAUGES = (
    ("rebalancer_account_net_liquidation", "Net liquidation, in the base currency (label)."),
    ("rebalancer_account_cash", "Total cash, in the base currency (label)."),
    ("rebalancer_account_daily_pnl", "Today's PnL (IB reqPnL), in the base currency (label)."),
    ("rebalancer_account_unrealized_pnl", "Unrealized PnL, in the base currency (label)."),
)
"""Every account, whatever its base currency; the ``currency`` label names it."""
CURRENCY_GAUGES = (
    ("rebalancer_account_cash_by_currency", "Cash held in each currency, in that currency."),
    ("rebalancer_account_exchange_rate", "IB's ExchangeRate: one unit in the base currency."),
)
POSITION_GAUGES = (
    ("rebalancer_position_value_usd", "Market value of each held position."),
    ("rebalancer_position_weight_ratio", "Position market value / net liquidation."),
)

BASE_POSITION = (
    "rebalancer_position_value",
    "Market value of each held position, in the account's base currency (label).",
)


class PortfolioCollector(Collector):
    """Account and position gauges, read from the bridge's live view at each scrape.

    Computed on scrape rather than set on events: a closed position, an account no longer
    served or a dropped connection simply has no series, never a stale one. The scrape runs on
    the event loop (prometheus_client's ASGI app is synchronous), so reading ib_async's state
    is safe.
    """

    def __init__(self, figures: Callable[[], Iterable[AccountFigures]]) -> None:
        self._figures = figures

    def describe(self) -> Iterator[Metric]:
        """The families, without reading any state (registration must not touch IB)."""
        for name, doc in ACCOUNT_GAUGES:
            yield GaugeMetricFamily(name, doc, labels=["account"])
        for name, doc in POSITION_GAUGES:
            yield GaugeMetricFamily(name, doc, labels=["account", "symbol"])
        for name, doc in BASE_GAUGES:
            yield GaugeMetricFamily(name, doc, labels=["account", "currency"])
        for name, doc in CURRENCY_GAUGES:
            yield GaugeMetricFamily(name, doc, labels=["account", "currency"])
        yield GaugeMetricFamily(
            BASE_POSITION[0], BASE_POSITION[1], labels=["account", "symbol", "currency"]
        )

    def collect(self) -> Iterator[Metric]:
        """One sample per served account (and per held position) IB sent values for."""
        families = {
            name: GaugeMetricFamily(name, doc, labels=["account"]) for name, doc in ACCOUNT_GAUGES
        }
        value, weight = (
            GaugeMetricFamily(name, doc, labels=["account", "symbol"])
            for name, doc in POSITION_GAUGES
        )
        base = {
            name: GaugeMetricFamily(name, doc, labels=["account", "currency"])
            for name, doc in (*BASE_GAUGES, *CURRENCY_GAUGES)
        }
        base_value = GaugeMetricFamily(
            BASE_POSITION[0], BASE_POSITION[1], labels=["account", "symbol", "currency"]
        )
        for f in self._figures():
            account_values = (f.net_liquidation, f.cash, f.daily_pnl, f.unrealized_pnl)
            in_usd = f.currency == "USD"  # the _usd families keep their meaning
            for (name, _doc), (base_name, _), amount in zip(
                ACCOUNT_GAUGES, BASE_GAUGES, account_values, strict=True
            ):
                if amount is not None:
                    base[base_name].add_metric([f.account, f.currency], float(amount))
                    if in_usd:
                        families[name].add_metric([f.account], float(amount))
            for currency, amount in sorted(f.cash_by_currency.items()):
                base[CURRENCY_GAUGES[0][0]].add_metric([f.account, currency], float(amount))
            for currency, rate in sorted(f.exchange_rates.items()):
                base[CURRENCY_GAUGES[1][0]].add_metric([f.account, currency], float(rate))
            for symbol, market_value in sorted(f.position_values.items()):
                base_value.add_metric([f.account, symbol, f.currency], float(market_value))
                if in_usd:
                    value.add_metric([f.account, symbol], float(market_value))
                if f.net_liquidation > 0:
                    weight.add_metric([f.account, symbol], float(market_value / f.net_liquidation))
        yield from families.values()
        yield value
        yield weight
        yield from base.values()
        yield base_value


class BridgeMetrics:
    """Connection, pacing, order, fill and portfolio metrics of the gateway-bridge."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        r = registry
        self.connected = Gauge(
            "rebalancer_gateway_connected", "1 while the IB API connection is up.", registry=r
        )
        self.heartbeat_age = Gauge(
            "rebalancer_gateway_heartbeat_age_seconds",
            "Seconds since IB last answered a heartbeat (reqCurrentTime).",
            registry=r,
        )
        self.errors = Counter(
            "rebalancer_gateway_errors_total",
            "Errors and warnings IB sent, by code.",
            ["code"],
            registry=r,
        )
        self.connect_attempts = Counter(
            "rebalancer_gateway_connect_attempts_total",
            "Connection attempts, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.reconciliation_state = Gauge(
            "rebalancer_reconciliation_state",
            "0 not reconciled, 1 reconciling, 2 reconciled (order commands flow).",
            registry=r,
        )
        self.messages_sent = Counter(
            "rebalancer_ib_messages_sent_total", "API messages written to IB.", registry=r
        )
        self.messages_rate = Gauge(
            "rebalancer_ib_messages_per_second",
            "API messages written to IB in the last second (IB's limit is 50).",
            registry=r,
        )
        self.messages_rate_max = Gauge(
            "rebalancer_ib_messages_per_second_max",
            "Highest messages/s seen since start (sampled each second).",
            registry=r,
        )
        self.messages_queued = Gauge(
            "rebalancer_ib_messages_queued",
            "API requests waiting in the bridge's pacer for a token (orders never wait there).",
            registry=r,
        )
        self.messages_dropped = Counter(
            "rebalancer_ib_messages_dropped_total",
            "Queued API requests dropped because the connection ended.",
            registry=r,
        )
        self.market_data_refused = Counter(
            "rebalancer_market_data_refused_total",
            "Subscriptions not made: every market data line streamed a held symbol.",
            registry=r,
        )
        self.market_data_lines = Gauge(
            "rebalancer_market_data_lines",
            "Market data lines in use (BRIDGE_MAX_MARKET_DATA_LINES is the limit).",
            registry=r,
        )
        self.orders = Counter(
            "rebalancer_orders_total",
            "Order commands and outcomes, by account and outcome.",
            ["account", "outcome"],
            registry=r,
        )
        self.fills = Counter(
            "rebalancer_fills_total", "Executions published, by account.", ["account"], registry=r
        )
        self.external_fills = Counter(
            "rebalancer_external_fills_total",
            "Executions of orders this bridge did not place (TWS, the phone, another API "
            "client), published marked external, by account.",
            ["account"],
            registry=r,
        )
        self.prices = Counter(
            "rebalancer_prices_published_total", "PriceUpdated messages published.", registry=r
        )
        self.submit_seconds = Histogram(
            "rebalancer_submit_to_place_seconds",
            "Time from SubmitOrder received to its bytes written to IB (pacer wait included).",
            registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
        )

    def watch_portfolio(self, figures: Callable[[], Iterable[AccountFigures]]) -> None:
        """Export the account and position gauges from ``figures`` (called at each scrape)."""
        self._registry.register(PortfolioCollector(figures))
