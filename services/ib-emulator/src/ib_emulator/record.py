"""``ib-emulator record``: a proxy between any TWS API client and TWS / IB Gateway that
writes the decoded traffic both ways, one JSON line per message (see recording.py).

Bytes pass through unchanged but for one thing: the client's version range is capped
(176 by default) so a real gateway answers in the text protocol the emulator speaks, not
in the protobuf messages of server versions 201 and up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from . import encoders as enc
from .recording import Direction, Redactor, header, message
from .wire import HANDSHAKE_PREFIX, FrameDecoder, FrameError, frame

log = logging.getLogger("ib_emulator.record")


def cap_versions(text: str, cap: int) -> str:
    """'v100..226 opts' -> 'v100..176 opts' (unchanged when already within the cap)."""
    versions, sep, rest = text.partition(" ")
    try:
        low, high = (int(v) for v in versions.lstrip("v").split(".."))
    except ValueError:
        return text
    if high <= cap or low > cap:
        return text
    return f"v{low}..{cap}{sep}{rest}"


class _Handshake:
    """Holds the client's first bytes until its version frame is whole, then caps it."""

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self.done = cap is None
        self._pending = bytearray()

    def forward(self, data: bytes) -> bytes:
        if self.done:
            return data
        self._pending += data
        buf = self._pending
        if len(buf) < 8 and HANDSHAKE_PREFIX.startswith(bytes(buf[:4])):
            return b""
        if not buf.startswith(HANDSHAKE_PREFIX):
            self.done = True  # not the TWS protocol: pass it on, the server will close it
            return bytes(buf)
        (size,) = struct.unpack(">I", buf[4:8])
        if len(buf) < 8 + size:
            return b""
        text = buf[8 : 8 + size].decode("utf-8", errors="replace")
        rest = bytes(buf[8 + size :])
        self.done = True
        assert self.cap is not None
        return HANDSHAKE_PREFIX + frame(cap_versions(text, self.cap).encode()) + rest


class Recorder:
    """The recording proxy: listen, connect each client upstream, write what passes."""

    def __init__(
        self,
        upstream: tuple[str, int],
        out: str | Path,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        redactor: Redactor | None = None,
        cap_version: int | None = enc.SERVER_VERSION,
    ) -> None:
        self.upstream = upstream
        self.out = Path(out)
        self.listen_host = listen_host
        self._listen_port = listen_port
        self.redactor = redactor or Redactor()
        self.cap_version = cap_version
        self.port = 0
        self.messages = 0
        self._file: TextIO | None = None
        self._server: asyncio.base_events.Server | None = None
        self._conns = 0
        self._t0 = time.monotonic()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Open the output file and listen."""
        self._file = self.out.open("w", encoding="utf-8")
        self._file.write(
            header(
                self.redactor,
                started=datetime.now(UTC).isoformat(timespec="seconds"),
                upstream=f"{self.upstream[0]}:{self.upstream[1]}",
                version_cap=self.cap_version,
            )
            + "\n"
        )
        self._server = await asyncio.start_server(
            self._on_client, self.listen_host, self._listen_port
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._t0 = time.monotonic()
        log.info("recording %s:%s via port %s to %s", *self.upstream, self.port, self.out)

    async def stop(self) -> None:
        """Stop listening, end every relayed connection, close the file."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            await self._server.wait_closed()
        if self._file is not None:
            self._file.close()
            self._file = None
        log.info("recorded %s messages to %s", self.messages, self.out)

    async def __aenter__(self) -> Recorder:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _write(self, conn: int, direction: Direction, fields: list[str], first: bool) -> None:
        if self._file is None:
            return
        m = self.redactor(message(time.monotonic() - self._t0, conn, direction, fields, first))
        self._file.write(m.to_json() + "\n")
        self._file.flush()
        self.messages += 1

    async def _on_client(
        self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._conns += 1
        conn = self._conns
        try:
            u_reader, u_writer = await asyncio.open_connection(*self.upstream)
        except OSError as exc:
            log.warning("connection %s: upstream %s:%s refused: %s", conn, *self.upstream, exc)
            c_writer.close()
            return
        log.info("connection %s relayed to %s:%s", conn, *self.upstream)
        pumps = [
            asyncio.create_task(self._pump(conn, "to_server", c_reader, u_writer)),
            asyncio.create_task(self._pump(conn, "to_client", u_reader, c_writer)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for p in pumps:
                p.cancel()
            for w in (c_writer, u_writer):
                w.close()
            for p in pumps:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await p
            log.info("connection %s closed", conn)

    async def _pump(
        self,
        conn: int,
        direction: Direction,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        to_server = direction == "to_server"
        handshake = _Handshake(self.cap_version if to_server else None)
        decoder = FrameDecoder(expect_handshake=to_server)
        first = True
        while True:
            data = await reader.read(65536)
            if not data:
                return
            out = handshake.forward(data)
            if not out:
                continue
            writer.write(out)
            await writer.drain()
            try:
                for fields in decoder.feed(out):
                    self._write(conn, direction, fields, first)
                    first = False
            except FrameError as exc:
                log.warning(
                    "connection %s %s: not TWS framing (%s); relaying only", conn, direction, exc
                )
                decoder = _NullDecoder()


class _NullDecoder(FrameDecoder):
    def feed(self, data: bytes) -> list[list[str]]:
        return []


def parse_host_port(text: str) -> tuple[str, int]:
    """'HOST:PORT' (or just PORT, on 127.0.0.1) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    try:
        return (host if sep else "127.0.0.1") or "127.0.0.1", int(port)
    except ValueError:
        raise ValueError(f"expected HOST:PORT, got {text!r}") from None
