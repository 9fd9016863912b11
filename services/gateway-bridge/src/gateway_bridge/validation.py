"""Checks on a SubmitOrder before anything reaches IB (pure): each 'no' names the field."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from shared.contracts.base import Reason
from shared.contracts.order_commands import OrderType, SubmitOrder, wire_problem
from shared.ib_gateway import is_paper_account

WIRE_FIELDS = ("client_order_id", "account_id", "symbol", "currency", "exchange")
"""The SubmitOrder strings that travel to IB (orderRef, account, contract)."""


@dataclass(frozen=True)
class InstrumentRules:
    """What IB says about a qualified instrument that matters for an order's size."""

    symbol: str
    con_id: int
    min_size: Decimal
    size_increment: Decimal


def check_wire_fields(command: SubmitOrder) -> Reason | None:
    """Return why a string of the command may not reach IB's wire, or None.

    The contract refuses such strings when a message is decoded; this catches a command
    built without validation (a NUL would shift every TWS field after it).
    """
    for field in WIRE_FIELDS:
        problem = wire_problem(field, getattr(command, field))
        if problem:
            return Reason(
                code="invalid_characters",
                field=field,
                message=f"{problem}; nothing was sent to IB",
            )
    return None


def check_live(account_id: str, *, allow_live: bool) -> Reason | None:
    """Refuse a live (real-money) account unless the bridge was told to trade live ones."""
    if allow_live or is_paper_account(account_id):
        return None
    return Reason(
        code="live_account",
        field="account_id",
        message=f"account {account_id} is a live account (not DU...) and the bridge trades "
        "paper accounts only; set BRIDGE_ALLOW_LIVE=true (`rebalancer up --live`) to trade it",
    )


def check_command(command: SubmitOrder, now: datetime, *, read_only: bool) -> Reason | None:
    """Return why a command must be refused without asking IB, or None."""
    wire = check_wire_fields(command)
    if wire is not None:
        return wire
    if command.is_expired(now):
        return Reason(
            code="expired",
            field="valid_until",
            message=f"the command expired at {command.valid_until.isoformat()} and was not "
            "executed late; send a new attempt if the plan is still valid",
        )
    if read_only:
        return Reason(
            code="read_only",
            message="the gateway-bridge is read-only (BRIDGE_READ_ONLY=true) and places no "
            "orders; set BRIDGE_READ_ONLY=false to trade",
        )
    if command.quantity <= 0:
        return Reason(
            code="invalid_quantity",
            field="quantity",
            symbol=command.symbol,
            message=f"quantity must be positive, got {command.quantity}",
        )
    if command.order_type == OrderType.LIMIT and command.limit_price is None:
        return Reason(
            code="missing_limit_price",
            field="limit_price",
            symbol=command.symbol,
            message="a limit order needs limit_price",
        )
    if command.limit_price is not None and command.limit_price <= 0:
        return Reason(
            code="invalid_limit_price",
            field="limit_price",
            symbol=command.symbol,
            message=f"limit_price must be positive, got {command.limit_price}",
        )
    if not command.symbol.strip():
        return Reason(code="unknown_symbol", field="symbol", message="symbol is empty")
    return None


def check_account(command: SubmitOrder, accounts: frozenset[str]) -> Reason | None:
    """Return why the account cannot be traded by this bridge, or None."""
    if command.account_id in accounts:
        return None
    return Reason(
        code="unknown_account",
        field="account_id",
        message=f"account {command.account_id!r} is not one this bridge serves "
        f"({', '.join(sorted(accounts)) or 'none'}); check the accounts file and BRIDGE_ACCOUNTS",
    )


def check_instrument(command: SubmitOrder, rules: InstrumentRules | None) -> Reason | None:
    """Return why the instrument or the size is not tradable, or None."""
    if rules is None:
        return Reason(
            code="unknown_symbol",
            field="symbol",
            symbol=command.symbol,
            message=f"IB does not know {command.symbol!r} ({command.currency} on "
            f"{command.exchange}); check the symbol",
        )
    if rules.min_size > 0 and command.quantity < rules.min_size:
        return Reason(
            code="below_minimum_quantity",
            field="quantity",
            symbol=command.symbol,
            message=f"quantity {command.quantity} is below {command.symbol}'s minimum of "
            f"{rules.min_size}",
        )
    if rules.size_increment > 0 and command.quantity % rules.size_increment != 0:
        return Reason(
            code="invalid_quantity_increment",
            field="quantity",
            symbol=command.symbol,
            message=f"quantity {command.quantity} is not a multiple of {command.symbol}'s "
            f"size increment {rules.size_increment}",
        )
    return None


def check_quantity_limit(command: SubmitOrder, max_quantity: Decimal) -> Reason | None:
    """Return why the order is larger than the bridge's hard quantity limit, or None."""
    if command.quantity <= max_quantity:
        return None
    return Reason(
        code="above_max_quantity",
        field="quantity",
        symbol=command.symbol,
        message=f"quantity {command.quantity} is above the bridge's limit of {max_quantity} "
        "per order (BRIDGE_MAX_ORDER_QUANTITY); split the order or raise the limit",
    )


def check_notional_limit(
    command: SubmitOrder, price: Decimal | None, max_notional: Decimal
) -> Reason | None:
    """Return why the order's value (quantity x price) breaks the hard limit, or None.

    ``price`` is the limit price, else the live price; without one the limit cannot be
    checked and the order is refused (fail closed).
    """
    if price is None:
        return Reason(
            code="no_price",
            field="symbol",
            symbol=command.symbol,
            message=f"no price for {command.symbol} to check the order's value against the "
            f"bridge's limit of {max_notional} {command.currency}; send a limit price or retry "
            "once market data arrives",
        )
    notional = command.quantity * price
    if notional <= max_notional:
        return None
    return Reason(
        code="above_max_notional",
        field="quantity",
        symbol=command.symbol,
        message=f"the order is worth about {notional:.2f} {command.currency} ({command.quantity}"
        f" x {price}), above the bridge's limit of {max_notional} per order "
        "(BRIDGE_MAX_ORDER_NOTIONAL); split the order or raise the limit",
    )
