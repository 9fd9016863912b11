"""Settings of the executor service (environment variables prefixed `EXECUTOR_`).

The defaults are the safe ones: an account that is not in the accounts file gets
``default_execution`` (approval ``dry_run``: nothing is ever sent for it).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from shared.kit.settings import ServiceSettings
from shared.policy import ExecutionPolicy
from shared.topology import check_name


class ExecutorSettings(ServiceSettings):
    """Approval, execution timing, reports and ops port. Dry run by default."""

    SERVICE: ClassVar[str] = "executor"
    model_config = SettingsConfigDict(env_prefix="EXECUTOR_", extra="ignore")

    ops_port: int = Field(default=9103, ge=0, le=65535, description="/health and /metrics.")
    shard: str = Field(
        default="",
        description="Executor shard (EXECUTOR_SHARD): this executor owns the accounts whose "
        "`executor_shard` in the accounts file is this name; empty: the default shard, owning "
        "every account without one. Each shard reads in its own consumer group.",
    )
    data_dir: Path = Field(
        default=Path("data/executor"),
        description="Unused since every decision is an event (kept so old settings still load).",
    )
    reports_dir: Path = Field(default=Path("reports"), description="CSV reports per run.")
    default_execution: ExecutionPolicy = Field(
        default_factory=ExecutionPolicy,
        description="Policy of accounts missing from the accounts file (approval dry_run).",
    )
    portfolio_timeout_s: float = Field(
        default=10.0, gt=0, description="Wait this long for the bridge's GetPortfolio answer."
    )
    gateway_wait_s: float = Field(
        default=60.0, gt=0, description="Re-check interval while the gateway is not reconciled."
    )
    order_valid_s: float = Field(
        default=120.0,
        gt=0,
        description="A SubmitOrder is refused by the bridge this long after it was sent.",
    )
    cancel_wait_s: float = Field(
        default=15.0, gt=0, description="Wait this long for a cancelled order's final state."
    )
    max_data_age_s: float = Field(
        default=300.0, gt=0, description="The risk gate refuses older portfolio data."
    )
    buy_price_margin_bps: float = Field(
        default=10.0, ge=0, description="Sizing assumes buys cost this much above the quote."
    )
    window_check_s: float = Field(
        default=30.0, gt=0, description="How often a plan waiting for its window looks again."
    )
    cash_wait_s: float = Field(
        default=5.0, ge=0, description="Wait this long for the sells' proceeds to show."
    )
    cash_view_retry_s: float = Field(
        default=1.0,
        gt=0,
        description="While the bridge or Redis is away after the sells, ask for the cash again "
        "this often (until the plan's valid_until).",
    )
    commission_wait_s: float = Field(
        default=5.0, ge=0, description="Wait this long for commission reports at the end."
    )
    reprice_bps: float = Field(
        default=10.0, ge=0, description="Extra limit offset of a repriced attempt."
    )

    @field_validator("shard")
    @classmethod
    def _shard_name(cls, value: str) -> str:
        return check_name(value, "EXECUTOR_SHARD") if value else value

    @property
    def group(self) -> str:
        """Consumer group: ``executor`` for the default shard, ``executor.<shard>`` otherwise.

        Every shard reads every event (its own group), and acts only on its own accounts."""
        return f"{self.SERVICE}.{self.shard}" if self.shard else self.SERVICE
