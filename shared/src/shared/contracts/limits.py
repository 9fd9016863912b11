"""The input limits every service enforces, in one place (docs/operations.md lists them).

Beyond a limit the input is refused with a sentence that says which limit and what to do,
before any work is done for it: a thousand symbols used to cost 100 s of contract lookups, a
thousand gateway errors and as many alerts; JSON nested 5,000 deep broke the decoder
(``RecursionError``) instead of being refused.
"""

from __future__ import annotations

import json
from typing import Any

MAX_TARGETS_PER_PLAN = 200
"""Symbols in one target allocation (one plan per account). IB serves 100 market data lines
per login by default, and every symbol costs a contract lookup and a quote."""
MAX_SYMBOL_LENGTH = 24
"""Characters of a symbol (IB's longest local symbols are shorter)."""
MAX_JSON_DEPTH = 32
"""Levels of nesting of a JSON document read from outside (a trigger, an allocation API's
answer, an Ably message); a real one needs 4."""


class TooDeeplyNested(ValueError):
    """A JSON document nests deeper than :data:`MAX_JSON_DEPTH`."""


def json_depth(value: Any) -> int:
    """Return how deeply ``value`` (decoded JSON) nests lists and objects (a scalar is 0)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def loads_bounded(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode JSON, refusing a document nested deeper than ``max_depth``.

    Raises ``ValueError`` (``json.JSONDecodeError`` for what is not JSON,
    :class:`TooDeeplyNested` for what nests too deep), never ``RecursionError``.
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeeplyNested(too_deep_message(max_depth)) from None
    if json_depth(value) > max_depth:
        raise TooDeeplyNested(too_deep_message(max_depth))
    return value


def too_deep_message(max_depth: int = MAX_JSON_DEPTH) -> str:
    """The refusal's sentence for JSON nested too deep."""
    return (
        f"the JSON is nested more than {max_depth} levels deep; a trigger or allocation needs "
        "a few (an object with a list of targets)"
    )


def too_many_targets_message(count: int) -> str:
    """The refusal's sentence for an allocation with too many symbols."""
    return (
        f"The target allocation lists {count} symbols, more than the {MAX_TARGETS_PER_PLAN} "
        "one plan may hold; split it over several accounts or groups, or merge small positions."
    )
