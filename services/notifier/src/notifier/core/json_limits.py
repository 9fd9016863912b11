"""Read a JSON body within limits: a depth checked before parsing, so no RecursionError.

Python's ``json`` recurses once per nesting level: a body of 5,000 ``[`` raised
RecursionError deep inside the parser (an HTTP 500). :func:`depth_of` scans the bytes once,
skipping strings, and :func:`load_json` refuses a body deeper than the limit before parsing.
"""

from __future__ import annotations

import json
from typing import Any

from notifier.core.errors import Refusal

_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")
_QUOTE = ord('"')
_ESCAPE = ord("\\")


def depth_of(body: bytes, limit: int) -> int:
    """Return the nesting depth of ``body`` (stops counting once past ``limit``)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _ESCAPE:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
        elif byte in _CLOSE:
            depth -= 1
    return deepest


def load_json(body: bytes, max_depth: int) -> Any:
    """Parse ``body`` (None when blank), or raise Refusal: too deep, or not JSON."""
    if not body.strip():
        return None
    if depth_of(body, max_depth) > max_depth:
        raise Refusal(
            "too_deep",
            f"the JSON body is nested more than {max_depth} levels deep; send a flat "
            "list or object (see docs/notifier.md, 'Limits')",
        )
    try:
        return json.loads(body)
    except ValueError as error:
        raise Refusal("malformed_json", f"the body is not valid JSON: {error}") from None
