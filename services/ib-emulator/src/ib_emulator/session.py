"""One client connection: handshake, framing, pacing, and the subscriptions it holds.

A session knows nothing of requests: it hands every message after the handshake to the
``dispatch`` callable it was given, so this module imports no handler and no server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from . import encoders as enc
from .faults import FaultState
from .wire import Field, FrameDecoder, FrameError, encode_fields

log = logging.getLogger("ib_emulator.session")

MIN_CLIENT_VERSION = 157


@dataclass
class SummarySubscription:
    """A reqAccountSummary subscription and the values it was last sent."""

    tags: frozenset[str]
    sent: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (acct, tag, ccy)


@dataclass
class Subscriptions:
    """What a client asked to keep receiving."""

    market_data: dict[int, str] = field(default_factory=dict)  # reqId -> symbol
    positions: bool = False
    account_updates: str | None = None  # account id
    account_values_sent: dict[tuple[str, str], str] = field(default_factory=dict)
    portfolio_sent: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    account_multi: dict[int, tuple[list[str], str]] = field(default_factory=dict)
    account_multi_sent: dict[int, dict[tuple[str, str, str], str]] = field(default_factory=dict)
    account_summary: dict[int, SummarySubscription] = field(default_factory=dict)
    pnl: dict[int, tuple[str, str]] = field(default_factory=dict)  # reqId -> (account, model)
    pnl_single: dict[int, tuple[str, str, int]] = field(default_factory=dict)


Dispatch = Callable[["Session", list[str]], None]


class Session:
    """A client connection and its state."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        dispatch: Dispatch,
        clock: Callable[[], datetime],
        pacing: FaultState,
        on_closed: Callable[[Session], None],
        errors_sent: dict[int, int] | None = None,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.client_id: int | None = None
        self.server_version = enc.SERVER_VERSION
        self.market_data_type = 1
        self.auto_open_orders = False
        self.subs = Subscriptions()
        self._dispatch = dispatch
        self._clock = clock
        self._pacing = pacing
        self._on_closed = on_closed
        self._errors_sent = errors_sent if errors_sent is not None else {}
        self._decoder = FrameDecoder()
        self._handshaken = False
        self._times: deque[float] = deque()
        self._violation_windows: set[int] = set()
        self._closed = False
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"

    # ---------------------------------------------------------------- output
    def send(self, fields: list[Field]) -> None:
        """Frame and queue one message (dropped silently once the socket is closed)."""
        if self._closed or self.writer.is_closing():
            return
        self.writer.write(encode_fields(fields))

    def error(self, req_id: int, code: int, text: str) -> None:
        """Send an IB error/warning message (counted in the emulator's ``errors_sent``)."""
        self._errors_sent[code] = self._errors_sent.get(code, 0) + 1
        self.send(enc.error(req_id, code, text))

    def close(self) -> None:
        """Close the connection now."""
        if not self._closed:
            self._closed = True
            self.writer.close()

    @property
    def is_api_ready(self) -> bool:
        """Whether startApi has been accepted."""
        return self.client_id is not None

    # ----------------------------------------------------------------- input
    async def run(self) -> None:
        """Read and handle messages until the peer goes away or the session is closed."""
        try:
            while not self._closed:
                data = await self.reader.read(65536)
                if not data:
                    break
                try:
                    messages = self._decoder.feed(data)
                except FrameError as exc:
                    log.warning("%s: closing: %s", self.peer, exc)
                    break
                for fields in messages:
                    self._on_message(fields)
                    if self._closed:
                        break
                if not self._closed:
                    await self.writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.close()
            self._on_closed(self)

    def _on_message(self, fields: list[str]) -> None:
        if not self._handshaken:
            self._handshake(fields)
            return
        if not fields:
            log.warning("%s: empty message ignored", self.peer)
            return
        if self._paced_out():
            return
        try:
            self._dispatch(self, fields)
        except Exception:  # the emulator must never crash on a client's input
            log.exception("%s: failed to handle %s", self.peer, fields[:3])
            self.error(-1, 321, f"Error validating request:-'{fields[0]}' : cause - internal error")

    def _handshake(self, fields: list[str]) -> None:
        text = fields[0] if fields else ""
        versions = text.split(" ", 1)[0]
        try:
            low, high = (int(v) for v in versions.lstrip("v").split(".."))
        except ValueError:
            log.warning("%s: bad version range %r; closing", self.peer, text)
            self.close()
            return
        if high < MIN_CLIENT_VERSION or low > enc.SERVER_VERSION:
            log.warning("%s: unsupported client versions %s; closing", self.peer, versions)
            self.close()
            return
        self._handshaken = True
        self.server_version = min(enc.SERVER_VERSION, high)
        now = self._clock()
        self.send([self.server_version, now.strftime("%Y%m%d %H:%M:%S") + " UTC"])

    def _paced_out(self) -> bool:
        """Count the message; True if it must be refused for pacing."""
        state = self._pacing
        if not state.pacing_enforced:
            return False
        now = time.monotonic()
        self._times.append(now)
        while self._times and now - self._times[0] > 1.0:
            self._times.popleft()
        if len(self._times) <= state.pacing_limit:
            return False
        window = int(now)
        if window not in self._violation_windows:
            self._violation_windows.add(window)
            self.error(
                -1,
                100,
                f"Max rate of messages per second has been exceeded:max={state.pacing_limit} "
                f"rec={len(self._times)} (1)",
            )
            if len(self._violation_windows) > state.pacing_max_violations:
                log.warning("%s: pacing abused repeatedly; disconnecting", self.peer)
                self.close()
        return True
