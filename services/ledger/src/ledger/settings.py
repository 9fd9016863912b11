"""Settings of the ledger service (environment variables prefixed ``LEDGER_``).

The database is embedded SQLite under ``data_dir`` unless ``database_url`` names a
PostgreSQL server (``postgresql://user@host:5432/ledger``). The URL is a secret (it may hold a
password): it is never logged, and can come from ``LEDGER_DATABASE_URL_FILE`` or
``/run/secrets/ledger_database_url``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from shared.kit.settings import ServiceSettings

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class LedgerSettings(ServiceSettings):
    """Database, trading day, history retention, replay rule and ops port."""

    SERVICE: ClassVar[str] = "ledger"
    # hide_input_in_errors: a refused database URL must not print its password at start.
    model_config = SettingsConfigDict(
        env_prefix="LEDGER_", extra="ignore", hide_input_in_errors=True
    )

    ops_port: int = Field(default=9105, ge=0, le=65535, description="/health and /metrics.")
    data_dir: Path = Field(
        default=Path("data/ledger"),
        description="Holds ledger.sqlite3 when no database_url is given. Back it up.",
    )
    database_url: SecretStr = Field(
        default=SecretStr(""),
        description="Empty: embedded SQLite in data_dir. postgresql://...: that PostgreSQL.",
    )
    database_connect_timeout_s: float = Field(default=5.0, gt=0, le=60)
    trading_day_tz: str = Field(
        default="America/New_York",
        description="Daily PnL and realized-today count from midnight in this time zone.",
    )
    history_full_days: int = Field(
        default=30,
        ge=1,
        description="Position history is kept at full resolution this many days; older rows "
        "are thinned to the last one per account, symbol and UTC day.",
    )
    maintenance_interval_s: float = Field(
        default=3600.0, gt=0, description="How often the history is thinned."
    )
    metrics_interval_s: float = Field(
        default=15.0, gt=0, description="How often the PnL gauges are recomputed."
    )
    replay_on_start: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Read events.orders.v1 and events.positions.v1 again from their start: "
        "`auto` when the database is new, `always` (after restoring an older backup), `never`.",
    )
    state_seed_entries: int = Field(
        default=20_000,
        ge=0,
        description="Newest entries of data.prices.v1 and events.account.v1 read at start to "
        "know each symbol's last quote and each account's last values.",
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value().strip()
        if url and not url.startswith(POSTGRES_SCHEMES):
            # Never echo the value: it may hold a password.
            raise ValueError(
                "LEDGER_DATABASE_URL must be empty (embedded SQLite in LEDGER_DATA_DIR) or a "
                "URL starting with postgresql://; the value given is neither"
            )
        return SecretStr(url)

    @field_validator("trading_day_tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"LEDGER_TRADING_DAY_TZ {value!r} is not a time zone name; use one like "
                "America/New_York or Europe/London"
            ) from None
        return value

    @property
    def uses_postgres(self) -> bool:
        """Whether the ledger lives in PostgreSQL rather than the embedded SQLite file."""
        return bool(self.database_url.get_secret_value())

    @property
    def sqlite_path(self) -> Path:
        """The embedded database file."""
        return self.data_dir / "ledger.sqlite3"

    @property
    def zone(self) -> ZoneInfo:
        """The trading day's time zone."""
        return ZoneInfo(self.trading_day_tz)
