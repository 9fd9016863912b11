"""Consumer-group subscriptions with the reclaimer and dead-letter stream FastStream lacks.

For each stream a service consumes, two FastStream subscribers share the service's group:

* the reader takes new entries (``>``) and acks each one after its handler succeeded;
* the reclaimer (``min_idle_time``) claims entries left pending by a handler that failed or
  a consumer that died (XAUTOCLAIM), runs the handler again, and after ``max_deliveries``
  moves the entry to ``dlq.<stream>`` and acks it.

An entry that cannot be decoded (not JSON, unknown ``type``, missing or mistyped field) is
logged with its stream and entry id, counted, moved to ``dlq.<stream>`` and acked at once:
it never crashes the consumer, never blocks the entries behind it, and is never lost.
Groups are created from ``0`` before consumers start, so nothing published earlier is
skipped (FastStream would create them at ``$``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import redis.asyncio as aioredis
from faststream import AckPolicy
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisBatchStreamMessage as BatchMessageArg
from faststream.redis.annotations import RedisStreamMessage as StreamMessageArg
from faststream.redis.parser import BinaryMessageFormatV1
from pydantic import ValidationError
from redis.exceptions import ResponseError

from shared.contracts.base import Message, utc_now
from shared.contracts.catalogue import StreamSpec
from shared.kit.alerts import send_alert
from shared.kit.broker import Publisher
from shared.kit.logging import log_context
from shared.kit.metrics import KitMetrics

log = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[None]]

DLQ_PREFIX = "dlq."


def dlq_name(stream: str) -> str:
    """Return the dead-letter stream of ``stream``."""
    return f"{DLQ_PREFIX}{stream}"


async def ensure_groups(client: aioredis.Redis, streams: Iterable[str], group: str) -> None:
    """Create ``group`` on every stream from its start (``0``), creating streams as needed."""
    for stream in streams:
        try:
            await client.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise


class MalformedMessage(Exception):
    """An entry that cannot become a contract message; ``reason`` is a metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def decode_entry(spec: StreamSpec, body: bytes | str) -> Message:
    """Decode one entry's body into the stream's message, or raise MalformedMessage."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedMessage("not_json", "the entry is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedMessage("not_json", "the entry is JSON but not an object")
    kind = data.get("type")
    known = {cls.model_fields["type"].default for cls in spec.messages}
    if kind not in known:
        raise MalformedMessage(
            "unknown_type",
            f"type {kind!r} is not a message of {spec.name} (expected one of {sorted(known)})",
        )
    try:
        return spec.decode(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}"
            for e in error.errors()
        )
        raise MalformedMessage("invalid_fields", f"{kind}: {problems}") from None


def entry_body(fields: Mapping[bytes, bytes]) -> tuple[bytes, str | None]:
    """Return the payload and correlation id of a raw stream entry.

    FastStream publishers put a framed payload in ``__data__``; a foreign producer
    (``redis-cli XADD``) writes plain fields, which are read as one JSON object.
    """
    data = fields.get(b"__data__")
    if data is None:
        plain = {
            key.decode(errors="replace"): value.decode(errors="replace")
            for key, value in fields.items()
        }
        return json.dumps(plain).encode(), None
    body, headers = BinaryMessageFormatV1.parse(data)
    return body, headers.get("correlation_id")


async def _keep_raw_entries(message: dict[str, Any], original: Any) -> Any:
    """Parser that cannot fail: FastStream gets placeholders, the handler the raw entries.

    FastStream's own batch parser raises on an entry it cannot decode (bytes that are not
    UTF-8, an entry without ``__data__``) and then never calls the handler, which would
    strand the good entries of that batch until the reclaimer. Decoding is ours instead.
    """
    data = message["data"]
    entries = data if isinstance(data, list) else [data]
    placeholders: Any = [{b"__data__": b"null"}] * len(entries)
    safe = {**message, "data": placeholders if isinstance(data, list) else placeholders[0]}
    safe["raw_entries"] = entries
    return await original(safe)


class StreamConsumer:
    """Register handlers for streams, in one consumer group, with reclaim and dead-letters."""

    def __init__(
        self,
        broker: RedisBroker,
        client: aioredis.Redis,
        publisher: Publisher,
        metrics: KitMetrics,
        *,
        service: str,
        group: str,
        consumer: str,
        reclaim_idle_ms: int,
        max_deliveries: int,
        batch_size: int = 100,
    ) -> None:
        self._broker = broker
        self._client = client
        self._publisher = publisher
        self._metrics = metrics
        self._service = service
        self._group = group
        self._consumer = consumer
        self._reclaim_idle_ms = reclaim_idle_ms
        self._max_deliveries = max_deliveries
        self._batch_size = batch_size
        self.streams: list[str] = []

    def subscribe(
        self,
        spec: StreamSpec,
        handler: Handler,
        *,
        polling_interval_ms: int = 100,
        concurrency: int = 1,
    ) -> None:
        """Call ``handler(message)`` for every message of ``spec``'s stream, at least once.

        Entries are read in batches (one XREADGROUP, one XACK per batch) and handled one by
        one, in stream order. The handler must be idempotent: a message whose handler raised
        is delivered again after ``reclaim_idle_ms``, up to ``max_deliveries`` times.

        ``concurrency`` > 1 handles up to that many entries of a batch at once, for streams
        whose messages are independent of each other's order (RPC requests): one slow request
        (a quote that takes its whole timeout) then no longer holds up every request behind it.
        """
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self.streams.append(spec.name)
        slots = asyncio.Semaphore(concurrency)

        async def handle(entry_id: str, fields: Mapping[bytes, bytes]) -> str | None:
            async with slots:
                ok = await self._handle_entry(spec, handler, entry_id, fields, deliveries=1)
            return entry_id if ok else None

        async def on_batch(msg: BatchMessageArg) -> None:
            ids = [_decode_id(raw) for raw in msg.raw_message["message_ids"]]
            entries = zip(ids, _raw_entries(msg.raw_message), strict=True)
            if concurrency == 1:
                done = [entry_id for entry_id, fields in entries if await handle(entry_id, fields)]
            else:
                handled = await asyncio.gather(*(handle(e, f) for e, f in entries))
                done = [entry_id for entry_id in handled if entry_id is not None]
            if done:
                await self._client.xack(spec.name, self._group, *done)

        async def on_reclaimed(msg: StreamMessageArg) -> None:
            self._metrics.reclaimed.labels(spec.name, self._group).inc()
            entry_id = _decode_id(msg.raw_message["message_ids"][0])
            deliveries = await msg.get_delivery_count() or 1
            [fields] = _raw_entries(msg.raw_message)
            if await self._handle_entry(spec, handler, entry_id, fields, deliveries=deliveries):
                await self._client.xack(spec.name, self._group, entry_id)

        self._broker.subscriber(
            stream=StreamSub(
                spec.name,
                group=self._group,
                consumer=self._consumer,
                polling_interval=polling_interval_ms,
                batch=True,
                max_records=self._batch_size,
            ),
            ack_policy=AckPolicy.MANUAL,
            parser=_keep_raw_entries,
        )(on_batch)
        self._broker.subscriber(
            stream=StreamSub(
                spec.name,
                group=self._group,
                consumer=self._consumer,
                min_idle_time=self._reclaim_idle_ms,
                polling_interval=max(polling_interval_ms, self._reclaim_idle_ms // 4),
            ),
            ack_policy=AckPolicy.MANUAL,
            parser=_keep_raw_entries,
        )(on_reclaimed)

    async def _handle_entry(
        self,
        spec: StreamSpec,
        handler: Handler,
        entry_id: str,
        fields: Mapping[bytes, bytes],
        *,
        deliveries: int,
    ) -> bool:
        """Decode and handle one entry; return whether it may be acknowledged."""
        try:
            body, correlation_id = entry_body(fields)
        except Exception:  # a frame so broken that FastStream's format cannot read it
            body, correlation_id = fields.get(b"__data__", b""), None
        with log_context(correlation_id=correlation_id):
            try:
                message = decode_entry(spec, body)
            except MalformedMessage as bad:
                self._metrics.malformed.labels(spec.name, bad.reason).inc()
                log.error(
                    "malformed message on %s entry %s: %s; moved to %s",
                    spec.name,
                    entry_id,
                    bad.detail,
                    dlq_name(spec.name),
                    extra={"stream": spec.name, "entry_id": entry_id},
                )
                await self._dead_letter(spec.name, entry_id, body, bad.reason, bad.detail, 1)
                return True

            if deliveries > self._max_deliveries:
                detail = (
                    f"handler failed {deliveries - 1} times (delivery cap {self._max_deliveries})"
                )
                log.error(
                    "giving up on %s entry %s: %s; moved to %s",
                    spec.name,
                    entry_id,
                    detail,
                    dlq_name(spec.name),
                    extra={"stream": spec.name, "entry_id": entry_id},
                )
                await self._dead_letter(
                    spec.name, entry_id, body, "delivery_cap", detail, deliveries
                )
                return True

            trace = {
                key: getattr(message, key, None)
                for key in ("plan_id", "account_id", "client_order_id")
            }
            kind = getattr(message, "type", type(message).__name__)
            with log_context(correlation_id=message.correlation_id, **trace):
                started = time.perf_counter()
                try:
                    await handler(message)
                except Exception:
                    self._metrics.messages_handled.labels(spec.name, kind, "error").inc()
                    log.exception(
                        "handler failed for %s on %s entry %s (delivery %d); it stays pending "
                        "and will be retried after %d ms",
                        kind,
                        spec.name,
                        entry_id,
                        deliveries,
                        self._reclaim_idle_ms,
                        extra={"stream": spec.name, "entry_id": entry_id},
                    )
                    return False
                finally:
                    self._metrics.handler_seconds.labels(spec.name).observe(
                        time.perf_counter() - started
                    )
                self._metrics.messages_handled.labels(spec.name, kind, "ok").inc()
                log.debug("handled %s from %s entry %s", kind, spec.name, entry_id)
                return True

    async def _dead_letter(
        self, stream: str, entry_id: str, body: bytes, reason: str, detail: str, deliveries: int
    ) -> None:
        await self._client.xadd(
            dlq_name(stream),
            {
                "stream": stream,
                "entry_id": entry_id,
                "group": self._group,
                "consumer": self._consumer,
                "reason": reason,
                "detail": detail,
                "deliveries": str(deliveries),
                "ts": utc_now().isoformat(),
                "payload": body,
            },
        )
        self._metrics.dead_letters.labels(stream, self._group, reason).inc()
        if stream == "commands.alerts.v1":
            return  # an alert about a broken alert could loop; the metric and the log tell.
        try:
            await self._publisher.publish(
                send_alert(
                    self._service,
                    f"Message dead-lettered on {stream}",
                    f"{self._service} moved entry {entry_id} to {dlq_name(stream)}: {detail}",
                    dedupe_key=f"dlq:{stream}:{reason}",
                )
            )
        except Exception:
            log.exception("could not publish the dead-letter alert for %s %s", stream, entry_id)


def _decode_id(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _raw_entries(raw_message: Mapping[str, Any]) -> list[Mapping[bytes, bytes]]:
    """The entries ``_keep_raw_entries`` saved (FastStream's TypedDict does not declare them)."""
    entries: list[Mapping[bytes, bytes]] = raw_message["raw_entries"]
    return entries
