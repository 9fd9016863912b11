"""Envelope, value types and helpers shared by every message on every stream.

Messages are frozen values (replays and audits rely on it) and tolerant readers
(``extra="ignore"``): a consumer on an older version ignores fields it does not know.
Money and quantities are :class:`~decimal.Decimal` and travel as JSON strings, so no
binary float ever touches an amount. Times are timezone-aware and normalised to UTC.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

from shared.contracts.limits import MAX_SYMBOL_LENGTH


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def new_id() -> str:
    """Return a new random identifier (32 hex characters)."""
    return uuid.uuid4().hex


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite number (not NaN or infinity)")
    return value


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""An aware datetime, converted to UTC; a naive datetime is refused."""

Money = Annotated[Decimal, AfterValidator(_finite), PlainSerializer(str, return_type=str)]
"""An amount of money: finite Decimal, serialised as a string."""

Quantity = Annotated[Decimal, AfterValidator(_finite), PlainSerializer(str, return_type=str)]
"""A number of shares or units: finite Decimal, serialised as a string."""

Price = Annotated[Decimal, AfterValidator(_finite), PlainSerializer(str, return_type=str)]
"""A price per unit: finite Decimal, serialised as a string."""

Ratio = Annotated[Decimal, AfterValidator(_finite), PlainSerializer(str, return_type=str)]
"""A fraction (0.25 is 25 %) or a percentage where the field name says ``_pct``."""


class Side(StrEnum):
    """Direction of an order or a plan leg."""

    BUY = "BUY"
    SELL = "SELL"


class ExecutionMode(StrEnum):
    """What a trigger asks for: only ``rebalance`` may ever trade."""

    REBALANCE = "rebalance"
    DRY_RUN = "dry_run"


class Contract(BaseModel):
    """Base of every contract model: frozen value, tolerant reader."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class Message(Contract):
    """Envelope fields carried by every message on every stream."""

    message_id: str = Field(default_factory=new_id, description="Unique id of this message.")
    ts_event: UtcDatetime = Field(default_factory=utc_now, description="When the fact happened.")
    ts_init: UtcDatetime = Field(default_factory=utc_now, description="When this message was made.")
    source: str = Field(description="Service (or tool) that made the message.")
    correlation_id: str | None = Field(
        default=None,
        description="Id of the trigger this message descends from, for tracing trigger to fill.",
    )


class Command(Message):
    """A message that asks one owner to act; refused once ``valid_until`` has passed."""

    valid_until: UtcDatetime = Field(description="After this instant the command must be refused.")

    def is_expired(self, now: datetime) -> bool:
        """Return whether the command may no longer be executed at ``now``."""
        return now >= self.valid_until


class Instrument(Contract):
    """A tradable instrument: ``symbol`` always, IB's ``con_id`` once known."""

    symbol: str
    con_id: int | None = None
    currency: str = "USD"
    exchange: str = "SMART"


class TargetWeight(Contract):
    """One line of a target allocation: symbol and weight (0.25 is 25 % of net liquidation)."""

    symbol: str = Field(min_length=1, max_length=MAX_SYMBOL_LENGTH)
    weight: Decimal = Field(
        validation_alias="allocation",
        description="Target fraction of net liquidation (input may say `allocation`).",
    )

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class Reason(Contract):
    """A human-readable reason with a stable machine code (for rejections and failures)."""

    code: str = Field(description="Stable identifier, e.g. `weights_sum` or `stale_quote`.")
    message: str = Field(description="A sentence saying what was wrong and what to do.")
    symbol: str | None = None
    field: str | None = None
