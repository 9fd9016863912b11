"""One client connection: handshake, framing, pacing, and the subscriptions it holds."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import encoders as enc
from .requests import MalformedRequest
from .wire import Field, FrameDecoder, FrameError, encode_fields

if TYPE_CHECKING:
    from .server import Emulator

log = logging.getLogger("ib_emulator.session")

MIN_CLIENT_VERSION = 157


@dataclass
class Subscriptions:
    """What a client asked to keep receiving."""

    market_data: dict[int, str] = field(default_factory=dict)  # reqId -> symbol
    positions: bool = False
    account_updates: str | None = None  # account id
    account_multi: dict[int, tuple[list[str], str]] = field(default_factory=dict)
    pnl: dict[int, tuple[str, str]] = field(default_factory=dict)  # reqId -> (account, model)
    pnl_single: dict[int, tuple[str, str, int]] = field(default_factory=dict)


class Session:
    """A client connection and its state."""

    def __init__(
        self,
        emulator: Emulator,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.emulator = emulator
        self.reader = reader
        self.writer = writer
        self.client_id: int | None = None
        self.market_data_type = 1
        self.auto_open_orders = False
        self.subs = Subscriptions()
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
        """Send an IB error/warning message (counted in ``Emulator.errors_sent``)."""
        counts = self.emulator.errors_sent
        counts[code] = counts.get(code, 0) + 1
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
        """Read and handle messages until the peer goes away."""
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
            self.emulator.session_closed(self)

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
            msg_id = int(fields[0])
        except ValueError:
            log.warning("%s: message id %r is not a number; ignored", self.peer, fields[0])
            self.error(
                -1, 321, f"Error validating request:-'' : cause - bad message id {fields[0]!r}"
            )
            return
        from .handlers import dispatch_request

        try:
            dispatch_request(self, msg_id, fields)
        except MalformedRequest as exc:
            log.warning("%s: malformed request %s: %s (%s)", self.peer, msg_id, exc, fields)
            self.error(
                _guess_req_id(fields), 321, f"Error validating request:-'{msg_id}' : cause - {exc}"
            )
        except Exception:  # the emulator must never crash on a client's input
            log.exception("%s: failed to handle %s", self.peer, fields)
            self.error(
                _guess_req_id(fields),
                321,
                f"Error validating request:-'{msg_id}' : cause - internal error",
            )

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
        now = self.emulator.clock()
        self.send([min(enc.SERVER_VERSION, high), now.strftime("%Y%m%d %H:%M:%S") + " UTC"])

    def _paced_out(self) -> bool:
        """Count the message; True if it must be refused for pacing."""
        state = self.emulator.fault_state
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


def _guess_req_id(fields: list[str]) -> int:
    """Best effort: most requests carry their id in field 2 (after a version) or 1."""
    from .handlers import REQ_ID_POSITION

    try:
        pos = REQ_ID_POSITION.get(int(fields[0]))
        if pos is not None and len(fields) > pos:
            return int(fields[pos])
    except ValueError:
        pass
    return -1


def _invalid(msg_id: int, cause: str) -> str:
    """IB's wording for a request it could not validate."""
    return f"Error validating request:-'{msg_id}' : cause - {cause}"
