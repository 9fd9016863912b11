"""The bridge's own message pacing (pure): a token bucket and the priority of each API message.

IB allows 50 API messages per second per connection (error 100 beyond, a disconnect when
repeated). The bucket refills ``rate`` tokens per second up to ``burst``: any window of ``t``
seconds holds at most ``burst + rate * t`` messages, so 45/s with a burst of 2 (the
defaults) stays at or below 47 in any second, and the messages go out evenly (one per 22 ms)
instead of 45 at once; the burst of 2 lets an order that was a little late (the bridge busy
with fills) not cost its successor's slot. The margin matters because IB counts messages when it *reads* them: a
gateway (or emulator) that stalls 100 ms and then reads what queued up sees them closer
together than they were sent. On a host that busy, lower the rate.

Priorities decide who gets the next token (see ``client.PacedClient``):

* URGENT: the heartbeat (``reqCurrentTime``) and cancels. A heartbeat never waits behind
  orders, so a busy connection is never mistaken for a dead one.
* REQUEST: everything ib_async sends on its own or for a request someone awaits (contract
  details, market data, account updates, reconciliation). Their volume is bounded by the
  bridge itself (subscriptions are paced, reconciliation runs once per connect).
* ORDER: ``placeOrder``. An order never queues in memory: the order desk waits for a token
  *before* it journals and sends, so the backlog of orders stays in the Redis stream.
* BACKGROUND: the PnL subscriptions the bridge starts on its own (``reqPnL``,
  ``reqPnLSingle``, one per held position) and their cancels. Nobody waits for them, and a
  fleet's burst creates one per new position (2,000 for 100 accounts x 20 legs): taken ahead
  of orders they cost a fifth of the budget while the orders waited (33 orders/s at IB instead
  of 45). They go out once no order has asked for a turn for ``BACKGROUND_AFTER_ORDERS_S``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class Priority(IntEnum):
    """Who gets the next token: lower first."""

    URGENT = 0
    REQUEST = 1
    ORDER = 2
    BACKGROUND = 3


PLACE_ORDER = 3
URGENT_MESSAGES = frozenset({4, 49, 58})
"""cancelOrder (4), reqCurrentTime (49, the heartbeat), reqGlobalCancel (58)."""
BACKGROUND_MESSAGES = frozenset({92, 93, 94, 95})
"""reqPnL (92), cancelPnL (93), reqPnLSingle (94), cancelPnLSingle (95)."""
BACKGROUND_AFTER_ORDERS_S = 0.25
"""A background message waits until no order asked for a turn for this long."""


def priority_of(message: str) -> Priority:
    """Return the priority of an encoded API message (its first field is the message id)."""
    head, _, _ = message.partition("\0")
    try:
        msg_id = int(head)
    except ValueError:
        return Priority.REQUEST
    if msg_id == PLACE_ORDER:
        return Priority.ORDER
    if msg_id in URGENT_MESSAGES:
        return Priority.URGENT
    if msg_id in BACKGROUND_MESSAGES:
        return Priority.BACKGROUND
    return Priority.REQUEST


@dataclass
class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` held; time is given, never read."""

    rate: float
    burst: int
    _tokens: float = field(init=False)
    _at: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self._tokens = float(self.burst)

    def _refill(self, now: float) -> None:
        if self._at is not None and now > self._at:
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        if self._at is None or now > self._at:
            self._at = now

    def take(self, now: float) -> bool:
        """Take one token if there is one at ``now``."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def give_back(self, now: float) -> None:
        """Return a token taken for a message that was not sent after all."""
        self._refill(now)
        self._tokens = min(float(self.burst), self._tokens + 1.0)

    def wait_s(self, now: float) -> float:
        """Seconds from ``now`` until a token is available (0 if one is)."""
        self._refill(now)
        missing = 1.0 - self._tokens
        return max(0.0, missing / self.rate)
