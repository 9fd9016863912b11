"""ib_async's client with the bridge's pacer in place of ib_async's own throttle.

ib_async (2.1.0, ``Client.sendMsg``) sends up to ``MaxRequests`` (45) messages per sliding
second and keeps every further one in a single FIFO queue in memory, whatever it is: under a
burst of orders the heartbeat waited behind ~1,000 of them (22 s against a 5 s timeout), and
a disconnect empties that queue (``Client.reset``), losing orders already journaled as sent.

:class:`PacedClient` overrides ``sendMsg``, the one method every request goes through
(``Client.send`` encodes the fields and calls it), and writes each message to the socket when
the bridge's :class:`~gateway_bridge.pacing.TokenBucket` has a token, by priority: urgent
(heartbeat, cancels), then requests, then orders, then background subscriptions (PnL), which
also wait until the orders' burst is over. Orders never wait in memory: the order desk
awaits :meth:`PacedClient.order_turn` first, and ``placeOrder`` then writes at once, so the
desk knows the bytes were handed to the socket before it journals the order as sent. The
behaviour relied on is pinned by ``tests/test_pacing.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from ib_async import IB, AccountValue
from ib_async.client import Client

from gateway_bridge.pacing import BACKGROUND_AFTER_ORDERS_S, Priority, TokenBucket, priority_of

log = logging.getLogger(__name__)


class PacedClient(Client):  # type: ignore[misc]
    """An ib_async Client whose every message waits for a token of the bridge's bucket."""

    def __init__(
        self, wrapper: Any, bucket: TokenBucket, background: TokenBucket | None = None
    ) -> None:
        # Client.__init__ calls reset(), which uses these.
        self._bucket = bucket
        self._background = background
        self._queues: dict[Priority, deque[str]] = {
            Priority.URGENT: deque(),
            Priority.REQUEST: deque(),
            Priority.BACKGROUND: deque(),
        }
        self._order_waiters: deque[asyncio.Future[None]] = deque()
        self._reserved = False
        self._last_order_asked = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self.written: Counter[Priority] = Counter()
        self.orders_written = 0
        self.messages_dropped = 0
        self.on_dropped: Callable[[int], None] = lambda _n: None
        super().__init__(wrapper)
        self.MaxRequests = 0  # ib_async's own throttle stays out of the way

    # ------------------------------------------------------------------ ib_async hooks

    def reset(self) -> None:
        """Connection gone (or new): what was queued for the old socket is dropped."""
        super().reset()
        dropped = sum(len(q) for q in self._queues.values())
        for queue in self._queues.values():
            queue.clear()
        if dropped:
            self.messages_dropped += dropped
            self.on_dropped(dropped)

    def sendMsg(self, msg: str | None) -> None:
        """Write ``msg`` now if a token is free and nothing more urgent waits; else queue it."""
        if not msg:
            return
        priority = priority_of(msg)
        if priority == Priority.ORDER and self._reserved:
            self._reserved = False  # the token was taken when the turn was granted
            self._write(msg, priority)
            self._pump()  # the next order's turn, or the background once the orders stop
            return
        queue = Priority.REQUEST if priority == Priority.ORDER else priority
        self._queues[queue].append(msg)
        self._pump()

    # ------------------------------------------------------------------ the order desk

    @asynccontextmanager
    async def order_turn(self) -> AsyncIterator[None]:
        """Wait until one order may be written right now; send it inside the block.

        The token is held for the block: ``placeOrder`` inside it writes at once. A block
        that sends nothing gives the token back.
        """
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[None] = loop.create_future()
        self._last_order_asked = loop.time()
        self._order_waiters.append(turn)
        self._pump()
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self._release()  # granted, but our task was cancelled before using it
            raise
        try:
            yield
        finally:
            if self._reserved:
                self._release()

    def queued(self) -> int:
        """Messages waiting for a token (orders never wait here)."""
        return sum(len(q) for q in self._queues.values())

    # ------------------------------------------------------------------ internals

    def _release(self) -> None:
        self._reserved = False
        self._bucket.give_back(asyncio.get_running_loop().time())
        self._pump()

    def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        for priority in (Priority.URGENT, Priority.REQUEST):
            queue = self._queues[priority]
            while queue:
                if not self._bucket.take(now):
                    self._wake_at(loop, now)
                    return
                self._write(queue.popleft(), priority)
        while self._order_waiters and not self._reserved:
            turn = self._order_waiters[0]
            if turn.done():  # its waiter was cancelled
                self._order_waiters.popleft()
                continue
            if not self._bucket.take(now):
                self._wake_at(loop, now)
                return
            self._order_waiters.popleft()
            self._reserved = True
            turn.set_result(None)
        self._pump_background(loop, now)

    def _pump_background(self, loop: asyncio.AbstractEventLoop, now: float) -> None:
        queue = self._queues[Priority.BACKGROUND]
        if not queue or self._order_waiters or self._reserved:
            return  # an order waiting or being written wakes the pump again when done
        quiet_at = self._last_order_asked + BACKGROUND_AFTER_ORDERS_S
        if now < quiet_at:
            self._wake_in(loop, quiet_at - now)
            return
        while queue:
            # Background messages also keep to their own, lower rate: the backlog a burst of
            # orders left (a PnL subscription per new position) must not then go out at the
            # full 45/s, which kept a busy gateway at its limit for a minute (error 100).
            if self._background is not None and (wait := self._background.wait_s(now)) > 0:
                self._wake_in(loop, wait)
                return
            if not self._bucket.take(now):
                self._wake_at(loop, now)
                return
            if self._background is not None:
                self._background.take(now)
            self._write(queue.popleft(), Priority.BACKGROUND)

    def _wake_at(self, loop: asyncio.AbstractEventLoop, now: float) -> None:
        self._wake_in(loop, self._bucket.wait_s(now))

    def _wake_in(self, loop: asyncio.AbstractEventLoop, delay_s: float) -> None:
        """Pump again in ``delay_s``, or earlier if a pump is already due earlier."""
        at = loop.time() + delay_s
        if self._timer is not None:
            if self._timer.when() <= at:
                return
            self._timer.cancel()
        self._timer = loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._pump()

    def _write(self, msg: str, priority: Priority) -> None:
        if self.conn.transport is None:
            # The socket is gone; ib_async's own bookkeeping fails the requests waiting.
            self.messages_dropped += 1
            self.on_dropped(1)
            return
        self.conn.sendMsg(self._prefix(msg.encode()))
        self.written[priority] += 1
        if priority == Priority.ORDER:
            self.orders_written += 1
        if log.isEnabledFor(logging.DEBUG):
            log.debug(">>> %s", msg[:-1].replace("\0", ","))


class FleetIB(IB):  # type: ignore[misc]
    """ib_async's IB whose ``accountValues(account)`` reads an index by account.

    ib_async (2.1.0, ``IB.accountValues``) filters every value of every account for the one
    asked: ~60 values x 250 accounts on a fleet's login, for each account snapshot, gauge and
    GetPortfolio, so the bridge's work grew with the square of the accounts (10 % of its CPU
    at 100 accounts). The index is kept from ``accountValueEvent`` (connected first, so it is
    current before any other handler runs) and rebuilt when ib_async replaces its dict (a new
    connection, ``Wrapper.reset``).
    """

    def __init__(self) -> None:
        super().__init__()
        self._indexed: dict[Any, AccountValue] | None = None
        self._by_account: dict[str, dict[tuple[str, str, str], AccountValue]] = {}
        self.accountValueEvent += self._index

    def accountValues(self, account: str = "") -> list[AccountValue]:
        if not account:
            return list(self.wrapper.accountValues.values())
        self._current()
        return list(self._by_account.get(account, {}).values())

    def _current(self) -> None:
        values = self.wrapper.accountValues
        if values is self._indexed:
            return
        self._indexed, self._by_account = values, {}
        for value in values.values():
            self._put(value)

    def _index(self, value: AccountValue) -> None:
        if self.wrapper.accountValues is not self._indexed:
            self._current()  # rebuilt from the dict, which already holds ``value``
            return
        self._put(value)

    def _put(self, value: AccountValue) -> None:
        key = (value.tag, value.currency, value.modelCode)
        self._by_account.setdefault(value.account, {})[key] = value


def paced_ib(rate: float, burst: int, background_rate: float | None = None) -> IB:
    """Return a :class:`FleetIB` whose client is a :class:`PacedClient` (``rate`` msg/s;
    background messages at most ``background_rate`` msg/s of it, when given)."""
    ib = FleetIB()
    background = TokenBucket(background_rate, 1) if background_rate else None
    client = PacedClient(ib.wrapper, TokenBucket(rate, burst), background)
    # IB.__init__ wires one event of its client: apiEnd (the connection ended).
    ib.client = client
    client.apiEnd += ib.disconnectedEvent
    return ib
