"""Login sessions in Redis: a random id in the cookie, its hash as the key, a CSRF token in it.

Only the SHA-256 of the session id is stored, so a read of Redis gives no usable cookie. The
API token itself is never stored in a session nor sent to the browser: the console calls the
notifier with its own copy.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass

import redis.asyncio as aioredis

PREFIX = "console:session:"
FAILURES_KEY = "console:login_failures"


@dataclass(frozen=True)
class Session:
    session_id: str
    csrf: str


def _key(session_id: str) -> str:
    return PREFIX + hashlib.sha256(session_id.encode()).hexdigest()


class RedisSessions:
    """Create, find and end sessions; count failed logins (shared by replicas)."""

    def __init__(self, redis: aioredis.Redis, ttl_s: int) -> None:
        self._redis = redis
        self._ttl_s = ttl_s

    async def create(self) -> Session:
        """A new session (after a good login)."""
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        await self._redis.set(
            _key(session.session_id), json.dumps({"csrf": session.csrf}), ex=self._ttl_s
        )
        return session

    async def find(self, session_id: str | None) -> Session | None:
        """The session of a cookie, or None (unknown, expired or malformed)."""
        if not session_id or len(session_id) > 128:
            return None
        raw = await self._redis.get(_key(session_id))
        if raw is None:
            return None
        return Session(session_id, str(json.loads(raw)["csrf"]))

    async def end(self, session_id: str) -> None:
        """Forget a session (logout)."""
        await self._redis.delete(_key(session_id))

    async def failed_login(self) -> int:
        """Count a failed login; return the failures in the current minute."""
        async with self._redis.pipeline(transaction=True) as pipe:
            # SET NX EX then INCR (which keeps the expiry): EXPIRE NX needs Redis 7.
            pipe.set(FAILURES_KEY, 0, ex=60, nx=True)
            pipe.incr(FAILURES_KEY)
            _, count = await pipe.execute()
        return int(count)

    async def failures(self) -> int:
        """Failed logins in the current minute."""
        return int(await self._redis.get(FAILURES_KEY) or 0)
