"""Settings of the notifier service (environment variables prefixed `NOTIFIER_`).

Every default is the safe one: the HTTP API listens on loopback and refuses everything but
``/health`` until a token is set; Ably is off until a key is set; no alert destination is
configured, so alerts are only logged.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.ib_gateway import WeeklyWindow
from shared.kit.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    """Trigger channels, HTTP API, allocation fetching, alert destinations and ops port."""

    SERVICE: ClassVar[str] = "notifier"
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    ops_port: int = Field(default=9104, ge=0, le=65535, description="/health and /metrics.")

    # --- triggers -------------------------------------------------------------------------
    trigger_channel: str = Field(
        default="rebalance", description="Redis pub/sub channel that carries JSON triggers."
    )
    trigger_ttl_s: int = Field(
        default=600, gt=0, description="valid_until of a RequestRebalance = now + this."
    )
    redis_dedupe_window_s: int = Field(
        default=5,
        ge=1,
        description="Identical unsigned Redis triggers within this window count once "
        "(replicas all receive every pub/sub message).",
    )
    trigger_secret: SecretStr | None = Field(
        default=None,
        description="HMAC-SHA256 secret; when set, Redis and HTTP triggers must be signed.",
    )
    signature_max_age_s: int = Field(
        default=300, gt=0, description="Signed triggers older (or newer) than this are refused."
    )

    # --- HTTP API --------------------------------------------------------------------------
    api_enabled: bool = True
    api_host: str = Field(default="127.0.0.1", description="Bind address of the HTTP API.")
    api_port: int = Field(default=8000, ge=0, le=65535)
    api_token: SecretStr | None = Field(
        default=None, description="Bearer token for every endpoint but /health."
    )
    api_max_body_bytes: int = Field(default=65_536, gt=0)
    api_wait_max_s: float = Field(default=30.0, gt=0, description="Upper bound of ?wait=true.")
    api_decision_wait_s: float = Field(
        default=3.0,
        ge=0,
        description="With ?wait=true, how long to wait (within the bound) for the executor's "
        "decision once the plan is proposed.",
    )
    api_max_json_depth: int = Field(
        default=32, gt=0, description="Deeper JSON bodies are refused (400 too_deep)."
    )
    api_rate_per_minute: int = Field(
        default=600, gt=0, description="Requests per minute per client address under /api/."
    )
    api_rate_burst: int = Field(default=60, gt=0, description="Requests allowed at once.")
    api_idempotency_ttl_s: int = Field(
        default=7 * 24 * 3600, gt=0, description="How long an order's Idempotency-Key is kept."
    )
    positions_timeout_s: float = Field(default=10.0, gt=0)
    ledger_timeout_s: float = Field(
        default=5.0, gt=0, description="How long GET /pnl and /trades wait for the ledger."
    )

    # --- allocation sources ------------------------------------------------------------------
    allocation_backoff_s: float = Field(
        default=0.5, ge=0, description="First retry delay; doubles at each retry."
    )
    allocation_max_bytes: int = Field(default=1_048_576, gt=0)

    # --- schedules -------------------------------------------------------------------------
    schedules_enabled: bool = True
    schedule_misfire_grace_s: int = Field(
        default=300,
        ge=0,
        description="After a restart, a fire time missed by at most this much still fires.",
    )

    # --- Ably ----------------------------------------------------------------------------
    ably_api_key: SecretStr | None = Field(
        default=None, description="Ably key; the Ably edge and destination run only when set."
    )
    ably_endpoint: str | None = Field(
        default=None, description="Ably endpoint / host override (tests, dedicated clusters)."
    )
    ably_port: int | None = None
    ably_tls: bool = True
    ably_catchup_max_age_s: int = Field(
        default=600,
        ge=0,
        description="History messages older than this are not replayed after a restart.",
    )
    ably_disconnected_retry_s: float = Field(default=15.0, gt=0)
    ably_request_timeout_s: float = Field(default=10.0, gt=0)

    # --- alerts ----------------------------------------------------------------------------
    # Webhook and topic URLs are secrets: they carry tokens (Slack's path, ntfy's topic, a
    # ?token= query). SecretStr keeps them out of reprs, dumps and (secret_values) the logs.
    alert_webhook_urls: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Generic JSON webhooks (JSON list or comma list)."
    )
    alert_slack_webhook_url: SecretStr | None = None
    alert_telegram_bot_token: SecretStr | None = None
    alert_telegram_chat_id: str | None = None
    alert_telegram_api_url: str = "https://api.telegram.org"
    alert_ntfy_url: SecretStr | None = Field(
        default=None, description="e.g. https://ntfy.sh/mytopic (the topic is the secret)."
    )
    alert_ntfy_token: SecretStr | None = None
    alert_ably_channel: str | None = Field(
        default=None, description="Global Ably channel for alerts (needs the Ably key)."
    )
    alert_ably_account_channel: str | None = Field(
        default=None,
        description="Per-account Ably alert channel template, e.g. 'rebalancer-alerts:{account_id}'.",
    )
    alert_min_severity: str = Field(default="info", pattern="^(info|warning|critical)$")
    alert_rate_per_minute: int = Field(
        default=20, gt=0, description="Per destination: at most this many sends a minute."
    )
    alert_batch_window_s: float = Field(
        default=2.0, ge=0, description="Alerts arriving within this window go out as one."
    )
    alert_repeat_window_s: float = Field(
        default=300.0,
        ge=0,
        description="The same alert again within this window is held and told once, with its "
        "count, when the window closes (0: every repeat is told).",
    )
    alert_retries: int = Field(default=3, ge=0)
    alert_retry_backoff_s: float = Field(default=1.0, ge=0)
    alert_timeout_s: float = Field(default=10.0, gt=0)
    alert_queue_size: int = Field(default=1000, gt=0)
    gateway_down_alert_after_s: int = Field(
        default=120, gt=0, description="Alert when the gateway stays disconnected this long."
    )
    gateway_window: str = Field(
        default="",
        validation_alias=AliasChoices(
            "gateway_window", "NOTIFIER_GATEWAY_WINDOW", "REBALANCER_GATEWAY_WINDOW"
        ),
        description="The gateway's weekly window ('Sun 12:00-Fri 18:00'): outside it triggers "
        "are refused with the next opening time. Empty: always open.",
    )
    gateway_window_tz: str = Field(
        default="America/New_York",
        validation_alias=AliasChoices(
            "gateway_window_tz", "NOTIFIER_GATEWAY_WINDOW_TZ", "REBALANCER_GATEWAY_WINDOW_TZ"
        ),
    )

    @field_validator("gateway_window")
    @classmethod
    def _window_readable(cls, value: str) -> str:
        WeeklyWindow.parse(value)  # raises a sentence saying what to write
        return value

    @field_validator("alert_webhook_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        """Accept a JSON list or a comma-separated list of URLs from the environment."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value
