"""Authenticate signed triggers: HMAC check (pure) plus a replay set shared in Redis."""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from pydantic import SecretStr

from notifier.core.errors import Refusal
from notifier.core.signing import verify

REPLAY_PREFIX = "notifier:trigger-signature:"


class TriggerAuthenticator:
    """Refuse unsigned, badly signed, stale and replayed triggers when a secret is set."""

    def __init__(self, client: aioredis.Redis, secret: SecretStr | None, max_age_s: int) -> None:
        self._client = client
        self._secret = secret.get_secret_value().encode() if secret else None
        self._max_age_s = max_age_s

    @property
    def enabled(self) -> bool:
        """Whether triggers must be signed."""
        return self._secret is not None

    async def check(self, timestamp: object, signature: object, body: bytes) -> None:
        """Raise Refusal unless the signature is valid, fresh and seen for the first time."""
        if self._secret is None:
            return
        digest = verify(
            self._secret, timestamp, signature, body, now_s=time.time(), max_age_s=self._max_age_s
        )
        # SET NX: replicas share the seen-set; the key outlives the acceptance window on
        # both sides of the clock, so a replay is refused for as long as it could be valid.
        fresh = await self._client.set(
            REPLAY_PREFIX + digest, b"1", nx=True, ex=2 * self._max_age_s
        )
        if not fresh:
            raise Refusal(
                "replayed",
                "this signed trigger was already received; sign each trigger anew",
                status=409,
            )
