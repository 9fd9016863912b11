"""HMAC-SHA256 signatures on triggers: ``sha256=<hex>`` over ``<timestamp>.<body>``.

HTTP: the body is the raw request body, the timestamp (Unix seconds) travels in
``X-Rebalancer-Timestamp`` and the signature in ``X-Rebalancer-Signature``.

Redis channel: the JSON object carries ``timestamp`` and ``signature`` fields; the signed body
is the *canonical* JSON of the object without those two fields: keys sorted, no whitespace
(``separators=(",", ":")``), non-ASCII kept as UTF-8. :func:`canonical_body` is the reference.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from notifier.core.errors import Refusal

PREFIX = "sha256="
SIGNATURE_FIELDS = ("timestamp", "signature")


def canonical_body(payload: dict[str, Any]) -> bytes:
    """Return the bytes a Redis-channel trigger's signature covers."""
    unsigned = {k: v for k, v in payload.items() if k not in SIGNATURE_FIELDS}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """Return ``sha256=<hex>`` for ``body`` sent at ``timestamp`` (Unix seconds)."""
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return PREFIX + digest


def verify(
    secret: bytes,
    timestamp: Any,
    signature: Any,
    body: bytes,
    *,
    now_s: float,
    max_age_s: int,
) -> str:
    """Check a signature and its freshness; return the signature's digest, or raise Refusal.

    The returned digest is the replay key: the caller remembers it for ``max_age_s`` and
    refuses it a second time.
    """
    if timestamp is None or signature is None:
        raise Refusal(
            "unsigned",
            "the trigger is not signed; send a timestamp and an HMAC-SHA256 signature "
            "(see docs/notifier.md, 'Signing triggers')",
            status=401,
        )
    try:
        stamp = int(str(timestamp).strip())
    except ValueError:
        raise Refusal(
            "bad_timestamp", f"timestamp {timestamp!r} is not Unix seconds", status=401
        ) from None
    if abs(now_s - stamp) > max_age_s:
        raise Refusal(
            "stale_signature",
            f"timestamp {stamp} is more than {max_age_s} s away from the server's clock; "
            "sign with the current time (and check the clock)",
            status=401,
        )
    text = str(signature).strip()
    if not text.startswith(PREFIX):
        raise Refusal("bad_signature", "signature must look like sha256=<hex>", status=401)
    expected = sign(secret, stamp, body)
    if not hmac.compare_digest(expected, text.lower()):
        raise Refusal(
            "bad_signature",
            "signature does not match the body and timestamp; sign "
            "'<timestamp>.<body>' with the shared secret",
            status=401,
        )
    return text[len(PREFIX) :].lower()
