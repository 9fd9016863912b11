"""The order state machine of the journal, as data: states, allowed transitions, ``apply``.

    INTENT ──► SENT ──► ACKED ──► FILLED | CANCELLED | REJECTED
       │         │        ▲
       └────┬────┘        │ (looked up by orderRef after a reconnect)
            ▼             │
         UNKNOWN ─────────┘

INTENT is written (with the reserved IB order id) before ``placeOrder``; SENT right after
it. A crash, timeout or disconnect before IB confirmed leaves INTENT or SENT; reconciliation
adopts what IB has under the ``orderRef`` or marks it UNKNOWN. Nothing ever goes back to
INTENT or SENT: the bridge never sends one ``client_order_id`` twice.
"""

from __future__ import annotations

from enum import StrEnum


class OrderState(StrEnum):
    """Where one ``client_order_id`` stands, as far as the bridge knows."""

    INTENT = "INTENT"
    SENT = "SENT"
    ACKED = "ACKED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    UNKNOWN = "UNKNOWN"


TERMINAL = frozenset({OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED})
UNRESOLVED = frozenset({OrderState.INTENT, OrderState.SENT, OrderState.UNKNOWN})

_AFTER_SEND = frozenset(
    {
        OrderState.ACKED,
        OrderState.FILLED,
        OrderState.CANCELLED,
        OrderState.REJECTED,
        OrderState.UNKNOWN,
    }
)

TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    OrderState.INTENT: _AFTER_SEND | {OrderState.SENT},
    OrderState.SENT: _AFTER_SEND,
    # An unknown outcome is resolved by what IB reports; it never becomes "sent again".
    OrderState.UNKNOWN: _AFTER_SEND - {OrderState.UNKNOWN},
    OrderState.ACKED: frozenset({OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED}),
    # IB can report a fill after a cancel (the execution raced the cancel): the fill is
    # recorded and published, the state moves to FILLED only when IB says Filled.
    OrderState.CANCELLED: frozenset({OrderState.FILLED}),
    OrderState.FILLED: frozenset(),
    OrderState.REJECTED: frozenset(),
}


class IllegalTransition(ValueError):
    """A transition the table does not list (a broken invariant, not a business 'no')."""


def can_move(current: OrderState, new: OrderState) -> bool:
    """Return whether ``current -> new`` is listed (staying put is always allowed)."""
    return new == current or new in TRANSITIONS[current]


def apply(current: OrderState, new: OrderState) -> OrderState:
    """Return the new state, or raise IllegalTransition for an unlisted transition."""
    if not can_move(current, new):
        raise IllegalTransition(f"order state {current} cannot become {new}")
    return new
