"""Settings of the gateway-bridge service (environment variables prefixed `BRIDGE_`).

Every default is the safe one: the paper port (4002), read-only on (every order refused),
no order for an account the accounts file does not let trade, hard size limits per order,
and a data folder under the working directory for the order journal.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.kit.settings import ServiceSettings
from shared.topology import check_name

IB_MESSAGES_PER_S = 50
"""IB's limit of API messages per second and connection (error 100 beyond)."""


class GatewayBridgeSettings(ServiceSettings):
    """Connection to IB Gateway, order journal and ops port. Paper port and read-only by default."""

    SERVICE: ClassVar[str] = "gateway-bridge"
    model_config = SettingsConfigDict(env_prefix="BRIDGE_", extra="ignore")

    ops_port: int = Field(default=9101, ge=0, le=65535, description="/health and /metrics.")

    ib_host: str = Field(default="127.0.0.1", description="IB Gateway (or emulator) host.")
    ib_port: int = Field(default=4002, ge=1, le=65535, description="4002 paper, 4001 live.")
    ib_client_id: int = Field(
        default=17,
        ge=0,
        description="API client id. Orders are bound to it: keep it stable across restarts.",
    )
    accounts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Accounts this bridge serves (comma separated); empty = every managed account.",
    )
    login: str = Field(
        default="",
        description="Name of the IB login this bridge holds (one bridge per login); empty: the "
        "default login. It reads commands.orders.v1.<login> and rpc.portfolio.v1.<login> and "
        "refuses orders for accounts the accounts file gives to another login.",
    )
    read_only: bool = Field(
        default=True, description="Refuse every order (with a reason). Set false to trade."
    )
    allow_live: bool = Field(
        default=False,
        description="Also trade accounts IB reports as live (ids not starting with D); without "
        "it only paper accounts trade, even with READ_ONLY off.",
    )
    data_dir: Path = Field(
        default=Path("data/gateway-bridge"), description="Holds the order journal (SQLite)."
    )
    status_interval_s: float = Field(
        default=15.0, gt=0, description="A GatewayStatus at least this often (and on changes)."
    )
    gateway_window: str = Field(
        default="",
        validation_alias=AliasChoices(
            "gateway_window", "BRIDGE_GATEWAY_WINDOW", "REBALANCER_GATEWAY_WINDOW"
        ),
        description="The gateway's weekly window ('Sun 12:00-Fri 18:00'); outside it the "
        "outage is expected and alerts stay quiet. Empty: always up.",
    )
    gateway_window_tz: str = Field(
        default="America/New_York",
        validation_alias=AliasChoices(
            "gateway_window_tz", "BRIDGE_GATEWAY_WINDOW_TZ", "REBALANCER_GATEWAY_WINDOW_TZ"
        ),
    )
    gateway_status_file: Path | None = Field(
        default=None,
        description="The JSON status file the compose gateway's wrapper writes "
        "(deploy/ib-gateway/window.sh): 2FA prompts and the window become events.",
    )

    connect_timeout_s: float = Field(default=10.0, gt=0, description="API handshake and sync.")
    request_timeout_s: float = Field(default=10.0, gt=0, description="Reconciliation requests.")
    backoff_initial_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=60.0, gt=0)
    heartbeat_interval_s: float = Field(default=10.0, gt=0)
    heartbeat_timeout_s: float = Field(default=5.0, gt=0)
    restart_window_start: time = Field(
        default=time(23, 40), description="Start of the gateway's daily restart (local time)."
    )
    restart_window_end: time = Field(default=time(0, 10))
    restart_window_tz: str = Field(default="America/New_York")
    restart_window_retry_s: float = Field(
        default=30.0, gt=0, description="Reconnect interval inside the restart window."
    )

    command_wait_s: float = Field(
        default=5.0,
        gt=0,
        description="How long an order command waits for reconciliation before it is left "
        "pending (and retried after reclaim_idle_ms).",
    )
    ack_timeout_s: float = Field(
        default=10.0, gt=0, description="No acknowledgement this long: OrderStatusUnknown."
    )
    quote_timeout_s: float = Field(
        default=2.0, gt=0, description="GetPortfolio waits this long for missing quotes."
    )
    portfolio_concurrency: int = Field(
        default=16,
        ge=1,
        le=256,
        description="GetPortfolio requests answered at once: a request waiting for a slow "
        "quote does not hold up the others (a fleet's planning asks for every account).",
    )
    market_data_type: int = Field(
        default=1, ge=1, le=4, description="1 live, 2 frozen, 3 delayed, 4 delayed frozen."
    )
    price_throttle_ms: int = Field(
        default=250, ge=0, description="At most one PriceUpdated per symbol this often."
    )
    account_throttle_ms: int = Field(default=1000, ge=0)
    subscriptions_per_s: float = Field(
        default=10.0,
        gt=0,
        description="Market data subscriptions started per second (2 API messages each), so "
        "that subscribing 200 symbols after a reconnect leaves room for orders within IB's "
        "50 messages/s; also the most PnL subscriptions (background messages) sent per second.",
    )

    accounts_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "accounts_file", "BRIDGE_ACCOUNTS_FILE", "REBALANCER_ACCOUNTS_FILE"
        ),
        description="The accounts file; only accounts in it with approval manual or auto trade "
        "(read from REBALANCER_ACCOUNTS_FILE like every service; none: no order is placed).",
    )
    max_order_quantity: Decimal = Field(
        default=Decimal(100_000),
        gt=0,
        description="Hard limit: an order for more shares than this is refused.",
    )
    max_order_notional: Decimal = Field(
        default=Decimal(1_000_000),
        gt=0,
        description="Hard limit: an order worth more than this (quantity x limit or live price, "
        "in the order's currency) is refused.",
    )

    max_market_data_lines: int = Field(
        default=100,
        ge=1,
        description="Market data lines of the login (IB's default is 100): at the limit the "
        "least recently used symbol nobody holds is unsubscribed.",
    )
    max_open_orders_per_contract_side: int = Field(
        default=20,
        ge=1,
        description="IB allows about 20 open orders per contract and side in an account: a "
        "further order waits up to command_wait_s for one to end, then is refused.",
    )

    pacing_rate_per_s: float = Field(
        default=45.0,
        gt=0,
        le=50,
        description="API messages written to IB per second, evenly (IB allows 50 per second).",
    )
    pacing_burst: int = Field(
        default=2,
        ge=1,
        le=10,
        description="Messages that may go at once; any second holds at most rate + burst. "
        "Small, to leave IB's count room when the gateway reads in bursts; above 1 so that "
        "one slow order does not lose its successor's slot.",
    )

    @model_validator(mode="after")
    def _pacing_under_ibs_limit(self) -> GatewayBridgeSettings:
        if self.pacing_rate_per_s + self.pacing_burst > IB_MESSAGES_PER_S:
            raise ValueError(
                f"BRIDGE_PACING_RATE_PER_S ({self.pacing_rate_per_s:g}) + BRIDGE_PACING_BURST "
                f"({self.pacing_burst}) may reach {self.pacing_rate_per_s + self.pacing_burst:g}"
                f" messages in one second, above IB's {IB_MESSAGES_PER_S}; lower one of them"
            )
        return self

    @field_validator("accounts", mode="before")
    @classmethod
    def _split_accounts(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(a.strip() for a in value.split(",") if a.strip())
        return value

    @field_validator("login")
    @classmethod
    def _login_name(cls, value: str) -> str:
        return check_name(value, "BRIDGE_LOGIN") if value else value

    @property
    def source(self) -> str:
        """``source`` of what this bridge publishes: the service, with its login if named."""
        return f"{self.SERVICE}.{self.login}" if self.login else self.SERVICE

    @property
    def journal_path(self) -> Path:
        """The SQLite order journal's file."""
        return self.data_dir / "orders.sqlite3"
