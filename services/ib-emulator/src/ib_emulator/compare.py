"""``ib-emulator compare FILE``: replay a recording's requests against the emulator and
report, per reply message, how the emulator's replies differ from the recorded ones.

Replies are grouped by connection, message id and request id (order id for order
messages) and paired in order. For each pair it checks the field count, each field's
kind (number, empty, text) and the values that must match: ids, order refs, statuses,
error codes, tags. Streams (ticks, account values, PnL) are compared the same way, but a
different number of them is only reported: it depends on timing, not on fidelity.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from .messages import reply_name
from .recording import Message, Redactor, message
from .scenario import Scenario
from .server import Emulator
from .wire import HANDSHAKE_PREFIX, FrameDecoder, encode_fields, frame

# Where a reply carries the id of the request (or order) it answers.
REPLY_KEY: dict[int, int] = {
    1: 2, 2: 2, 3: 1, 4: 2, 5: 1, 10: 1, 11: 1, 45: 2, 46: 2, 52: 2, 55: 2, 57: 2, 58: 2,
    63: 2, 64: 2, 73: 2, 74: 2, 81: 1, 94: 1, 95: 1,
}  # fmt: skip
# Fields whose values must be equal, not just of the same kind.
MUST_MATCH: dict[int | None, tuple[int, ...]] = {
    None: (0,),  # serverVersion
    1: (2, 3),  # tickPrice: reqId, tickType
    2: (2, 3),  # tickSize
    3: (1, 2),  # orderStatus: orderId, status
    4: (2, 3),  # error: reqId, code
    5: (1, 13, 15, 23),  # openOrder: orderId, action, orderType, orderRef
    9: (),  # nextValidId: the server chooses
    10: (1, 2, 3),  # contractDetails: reqId, symbol, secType
    11: (1, 2, 18, 26),  # execDetails: reqId, orderId, side, orderRef
    15: (2,),  # managedAccounts
    46: (2, 3),  # tickString
    52: (2,), 55: (2,), 57: (2,), 58: (2, 3), 64: (2,), 74: (2,),
    61: (2, 4),  # position: account, symbol
    63: (2, 3, 4, 6),  # accountSummary: reqId, account, tag, currency
    73: (2, 3, 5, 7),  # accountUpdateMulti: reqId, account, tag, currency
    101: (12, 14, 22),  # completedOrder: action, orderType, orderRef
}  # fmt: skip
STREAMS = frozenset({1, 2, 6, 7, 8, 45, 46, 61, 63, 73, 94, 95})


def kind(text: str) -> str:
    """A field's kind: number, empty or text."""
    if text == "":
        return "empty"
    try:
        float(text)
    except ValueError:
        return "text"
    return "number"


@dataclass
class Difference:
    """One way the emulator's replies differ from the recording."""

    what: str  # missing, extra, count, field_count, field_kind, value
    key: str
    detail: str
    blocking: bool = True


@dataclass
class ReplyReport:
    """The comparison of one reply message kind."""

    id: int | None
    name: str
    recorded: int = 0
    replayed: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No difference that counts against fidelity."""
        return not any(d.blocking for d in self.differences)


GroupKey = tuple[int, int | None, str]


def _group(messages: Iterable[Message]) -> dict[GroupKey, list[Message]]:
    groups: dict[GroupKey, list[Message]] = defaultdict(list)
    for m in messages:
        if m.dir != "to_client":
            continue
        pos = REPLY_KEY.get(m.id) if m.id is not None else None
        req = m.fields[pos] if pos is not None and pos < len(m.fields) else ""
        groups[(m.conn, m.id, req)].append(m)
    return groups


def _pair(key: GroupKey, a: Message, b: Message) -> list[Difference]:
    where = f"conn {key[0]} req {key[2] or '-'}"
    out: list[Difference] = []
    if len(a.fields) != len(b.fields):
        out.append(
            Difference("field_count", where, f"recorded {len(a.fields)}, emulator {len(b.fields)}")
        )
    for i, (x, y) in enumerate(zip(a.fields, b.fields, strict=False)):
        if i in MUST_MATCH.get(a.id, ()):
            if x != y:
                out.append(Difference("value", where, f"field {i}: recorded {x!r}, emulator {y!r}"))
        elif kind(x) != kind(y):
            out.append(
                Difference("field_kind", where, f"field {i}: recorded {kind(x)} {x!r}, "
                           f"emulator {kind(y)} {y!r}")
            )  # fmt: skip
    return out


def compare(recorded: list[Message], replayed: list[Message]) -> list[ReplyReport]:
    """Per reply message kind: counts and differences, recorded vs replayed."""
    rec, rep = _group(recorded), _group(replayed)
    sent_ids = {k[1] for k in rep}
    reports: dict[int | None, ReplyReport] = {}
    for key in sorted(set(rec) | set(rep), key=lambda k: (k[1] or 0, k[0], k[2])):
        msg_id = key[1]
        name = reply_name(msg_id) if msg_id is not None else "serverVersion"
        report = reports.setdefault(msg_id, ReplyReport(msg_id, name))
        a, b = rec.get(key, []), rep.get(key, [])
        report.recorded += len(a)
        report.replayed += len(b)
        where = f"conn {key[0]} req {key[2] or '-'}"
        # How many messages of a stream arrive depends on timing; a stream the emulator
        # sends elsewhere but not here is a count difference, one it never sends is not.
        stream = msg_id in STREAMS and msg_id in sent_ids
        if not b:
            report.differences.append(
                Difference("missing", where, f"{len(a)} recorded, none sent", blocking=not stream)
            )
        elif not a:
            report.differences.append(
                Difference("extra", where, f"{len(b)} sent, none recorded", blocking=not stream)
            )
        elif len(a) != len(b):
            report.differences.append(
                Difference("count", where, f"recorded {len(a)}, emulator {len(b)}",
                           blocking=msg_id not in STREAMS)
            )  # fmt: skip
        for x, y in zip(a, b, strict=False):
            report.differences += _pair(key, x, y)
    return list(reports.values())


# -------------------------------------------------------------------- replay
def _account_map(recorded: list[Message], scenario: Scenario) -> dict[str, str]:
    """Recorded account (alias or real) -> scenario account, in managedAccounts order."""
    for m in recorded:
        if m.dir == "to_client" and m.id == 15 and len(m.fields) > 2:
            names = [a for a in m.fields[2].split(",") if a]
            return dict(zip(names, (a.id for a in scenario.accounts), strict=False))
    return {}


def _swap(fields: list[str], mapping: dict[str, str]) -> list[str]:
    out = []
    for f in fields:
        for old, new in mapping.items():
            if old in f:
                f = f.replace(old, new)
        out.append(f)
    return out


class _Replay:
    """The client side of a replay: one socket per recorded connection."""

    def __init__(self, emu: Emulator, to_emulator: dict[str, str]) -> None:
        self.emu = emu
        self.to_emulator = to_emulator
        self.redactor = Redactor(accounts=True, amounts=False)
        self.redactor.aliases = {v: k for k, v in to_emulator.items()}
        self.replies: list[Message] = []
        self.last_reply = time.monotonic()
        self.writers: dict[int, asyncio.StreamWriter] = {}
        self.readers: list[asyncio.Task[None]] = []
        self.t0 = time.monotonic()

    async def _read(self, conn: int, reader: asyncio.StreamReader) -> None:
        decoder, first = FrameDecoder(expect_handshake=False), True
        while data := await reader.read(65536):
            for fields in decoder.feed(data):
                m = message(time.monotonic() - self.t0, conn, "to_client", fields, first)
                self.replies.append(self.redactor(m))
                first = False
                self.last_reply = time.monotonic()

    async def send(self, m: Message) -> None:
        if m.conn not in self.writers:
            reader, self.writers[m.conn] = await asyncio.open_connection("127.0.0.1", self.emu.port)
            self.readers.append(asyncio.create_task(self._read(m.conn, reader)))
        fields = _swap(m.fields, self.to_emulator)
        if m.id is None:  # the handshake
            data = HANDSHAKE_PREFIX + frame("\0".join(fields).encode())
        else:
            data = encode_fields(fields)
        self.writers[m.conn].write(data)
        await self.writers[m.conn].drain()

    async def settle(self, quiet: float, within: float) -> None:
        """Wait until no reply came for ``quiet`` seconds (at most ``within``)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            idle = time.monotonic() - self.last_reply
            if idle >= quiet:
                return
            await asyncio.sleep(quiet - idle)

    async def close(self) -> None:
        for w in self.writers.values():
            w.close()
        for t in self.readers:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t


async def replay(
    recorded: list[Message],
    scenario: Scenario | None = None,
    *,
    max_gap: float = 3.0,
    quiet: float = 0.5,
    settle: float = 5.0,
) -> list[Message]:
    """Send the recording's requests to a fresh emulator on the recorded timeline (gaps
    capped at ``max_gap``); return its replies, accounts named as in the recording."""
    emu = Emulator(scenario)
    await emu.start()
    client = _Replay(emu, _account_map(recorded, emu.scenario))
    try:
        previous: float | None = None
        for m in (m for m in recorded if m.dir == "to_server"):
            if previous is not None:
                await asyncio.sleep(max(0.0, min(m.t - previous, max_gap)))
            previous = m.t
            await client.send(m)
        await client.settle(quiet, settle)
    finally:
        await client.close()
        await emu.stop()
    return client.replies


# -------------------------------------------------------------------- output
def render(reports: list[ReplyReport], limit: int = 5) -> str:
    """A plain-text report: one line per reply message, then its first differences."""
    lines = [f"{'reply':<28}{'id':>5}{'recorded':>10}{'emulator':>10}  result"]
    for r in reports:
        result = "ok" if r.ok else "DIFFERS"
        if r.ok and r.differences:
            result = "ok (counts differ: a stream)"
        lines.append(f"{r.name:<28}{r.id if r.id is not None else '-':>5}{r.recorded:>10}"
                     f"{r.replayed:>10}  {result}")  # fmt: skip
        for d in [d for d in r.differences if d.blocking][:limit]:
            lines.append(f"    {d.what}: {d.key}: {d.detail}")
    bad = sum(not r.ok for r in reports)
    lines.append(f"{len(reports)} reply messages compared, {bad} with differences")
    return "\n".join(lines)


def as_json(reports: list[ReplyReport]) -> str:
    """The report as JSON."""
    return json.dumps([{**asdict(r), "ok": r.ok} for r in reports], indent=1)
