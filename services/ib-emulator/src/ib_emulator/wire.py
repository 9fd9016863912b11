"""TWS API framing: 4-byte big-endian length, then NUL-terminated UTF-8 fields.

The very first bytes a client sends are not framed like the rest: ``API\\0`` followed by a
framed version range (``v157..178`` plus optional connect options). ``FrameDecoder`` handles
both, and tolerates partial reads (TCP delivers bytes, not messages).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from decimal import Decimal

HANDSHAKE_PREFIX = b"API\0"
MAX_FRAME = 16 * 1024 * 1024  # IB rejects anything this large; a frame this big is garbage.

Field = str | int | float | bool | Decimal | None


class FrameError(ValueError):
    """The byte stream is not TWS API framing (bad prefix or absurd length)."""


def format_field(value: Field) -> str:
    """Format one outgoing field the way TWS does (bools as 1/0, None as empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if math.isinf(value):
            return "Infinite"
        if value == int(value) and abs(value) < 1e15:
            # TWS writes whole doubles without a trailing ".0" in most messages.
            return str(int(value))
        return repr(value)
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text
    return str(value)


def encode_fields(fields: Iterable[Field]) -> bytes:
    """Frame a list of fields into one message."""
    payload = b"".join(format_field(f).encode() + b"\0" for f in fields)
    return struct.pack(">I", len(payload)) + payload


def frame(payload: bytes) -> bytes:
    """Prefix raw bytes with their length."""
    return struct.pack(">I", len(payload)) + payload


class FrameDecoder:
    """Incremental decoder: feed bytes, get complete messages as lists of fields."""

    def __init__(self, expect_handshake: bool = True) -> None:
        self._buf = bytearray()
        self._awaiting_prefix = expect_handshake

    def feed(self, data: bytes) -> list[list[str]]:
        """Add bytes; return every message now complete (possibly none)."""
        self._buf.extend(data)
        out: list[list[str]] = []
        if self._awaiting_prefix:
            if len(self._buf) < len(HANDSHAKE_PREFIX):
                if not HANDSHAKE_PREFIX.startswith(bytes(self._buf)):
                    raise FrameError("connection did not start with the API handshake")
                return out
            if not self._buf.startswith(HANDSHAKE_PREFIX):
                raise FrameError("connection did not start with the API handshake")
            del self._buf[: len(HANDSHAKE_PREFIX)]
            self._awaiting_prefix = False
        while len(self._buf) >= 4:
            (size,) = struct.unpack(">I", self._buf[:4])
            if size > MAX_FRAME:
                raise FrameError(f"frame of {size} bytes is larger than allowed")
            if len(self._buf) < 4 + size:
                break
            payload = bytes(self._buf[4 : 4 + size])
            del self._buf[: 4 + size]
            text = payload.decode("utf-8", errors="replace")
            fields = text.split("\0")
            if fields and fields[-1] == "":
                fields.pop()
            out.append(fields)
        return out
