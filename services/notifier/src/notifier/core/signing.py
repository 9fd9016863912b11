"""HMAC-SHA256 signatures on triggers: ``sha256=<hex>`` over ``<timestamp>.<message>``.

HTTP: the message is the request itself, :func:`http_message`: the method, the path, the
canonical query string and the raw body, one per line (``POST\n/api/v1/rebalance\n
account=DU1&execute=true\n<body>``), so a signature made for a dry run cannot be replayed
with ``?execute=true`` added, nor on another route. The timestamp (Unix seconds) travels in
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
from urllib.parse import parse_qsl, quote, urlencode

from notifier.core.errors import Refusal

PREFIX = "sha256="
SIGNATURE_FIELDS = ("timestamp", "signature")


def canonical_body(payload: dict[str, Any]) -> bytes:
    """Return the bytes a Redis-channel trigger's signature covers."""
    unsigned = {k: v for k, v in payload.items() if k not in SIGNATURE_FIELDS}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_query(query: str) -> str:
    """The query string as signed: pairs sorted by name then value, percent-encoded (RFC 3986)."""
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return urlencode(pairs, quote_via=quote)


def http_message(method: str, path: str, query: str, body: bytes) -> bytes:
    """Return the bytes an HTTP request's signature covers: method, path, query and body."""
    head = f"{method.upper()}\n{path}\n{canonical_query(query)}\n"
    return head.encode() + body


def sign_http(
    secret: bytes, timestamp: int, method: str, path: str, query: str, body: bytes
) -> str:
    """Return the ``X-Rebalancer-Signature`` of one HTTP request."""
    return sign(secret, timestamp, http_message(method, path, query, body))


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
            "signature does not match; sign '<timestamp>.<message>' with the shared secret, "
            "where an HTTP request's message is its method, path, sorted query and body "
            "(see docs/notifier.md, 'Signing triggers')",
            status=401,
        )
    return text[len(PREFIX) :].lower()
