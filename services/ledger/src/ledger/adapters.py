"""The ledger's Redis-side helpers: reading stream tails and moving its consumer groups.

Prices and account values are state, not history: the ledger keeps the newest of each in
memory and, at start, reads them back from the newest entries of their streams. Its group on
``data.prices.v1`` then starts at that point (old quotes are worthless, and the stream holds
up to 100,000 of them). Orders and positions are history: after a new database their groups
go back to ``0`` so the whole stream is read again (every write is idempotent).
"""

from __future__ import annotations

import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from shared.contracts.base import Message
from shared.contracts.catalogue import StreamSpec
from shared.kit.consumer import MalformedMessage, decode_entry, entry_body

log = logging.getLogger(__name__)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def stream_tail(
    client: aioredis.Redis, spec: StreamSpec, count: int
) -> tuple[list[Message], str | None]:
    """Return up to ``count`` newest readable messages (oldest first) and the newest entry id."""
    if count <= 0:
        return [], None
    entries: Any = await client.xrevrange(spec.name, count=count)
    messages: list[Message] = []
    for _entry_id, fields in entries or []:
        try:
            body, _ = entry_body(fields)
            messages.append(decode_entry(spec, body))
        except (MalformedMessage, ValueError):
            continue
    newest = _text(entries[0][0]) if entries else None
    messages.reverse()
    return messages, newest


async def move_group(client: aioredis.Redis, stream: str, group: str, entry_id: str) -> None:
    """Point ``group`` on ``stream`` at ``entry_id`` (``0`` reads the stream again)."""
    try:
        await client.xgroup_setid(stream, group, entry_id)
    except ResponseError as error:
        if "NOGROUP" not in str(error):
            raise
        await client.xgroup_create(stream, group, id=entry_id, mkstream=True)
    log.info("group %s on %s now reads after %s", group, stream, entry_id)


async def group_position(client: aioredis.Redis, stream: str, group: str) -> str | None:
    """The last entry id ``group`` read on ``stream`` (None if it has no group)."""
    try:
        groups: Any = await client.xinfo_groups(stream)
    except ResponseError:
        return None
    for info in groups:
        if _text(info["name"]) == group:
            return _text(info["last-delivered-id"])
    return None


def entry_after(a: str, b: str) -> bool:
    """Whether stream entry id ``a`` is later than ``b``."""
    ams, _, aseq = a.partition("-")
    bms, _, bseq = b.partition("-")
    return (int(ams), int(aseq or 0)) > (int(bms), int(bseq or 0))
