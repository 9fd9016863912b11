"""Exchange rates: how one currency converts to another through the quoted FX pairs.

A pair ``EUR.USD`` quoted at 1.085 means one EUR costs 1.085 USD. A currency converts to
another through a direct pair, its inverse, or a chain of pairs (GBP -> USD -> CAD); the
shortest chain is found once and the rate is the product of the pairs' mid prices.
Pure: the caller supplies the mids.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from decimal import Decimal

# One step of a conversion: (pair, True if the pair is used base->quote, False inverted).
Step = tuple[str, bool]


def conversion_path(pairs: Iterable[str], source: str, target: str) -> list[Step] | None:
    """The shortest chain of pairs converting ``source`` into ``target`` (None: none)."""
    if source == target:
        return []
    edges: dict[str, list[tuple[str, Step]]] = {}
    for pair in pairs:
        base, quote = pair.split(".")
        edges.setdefault(base, []).append((quote, (pair, True)))
        edges.setdefault(quote, []).append((base, (pair, False)))
    seen = {source}
    queue: deque[tuple[str, list[Step]]] = deque([(source, [])])
    while queue:
        ccy, path = queue.popleft()
        for nxt, step in edges.get(ccy, []):
            if nxt in seen:
                continue
            if nxt == target:
                return [*path, step]
            seen.add(nxt)
            queue.append((nxt, [*path, step]))
    return None


class Rates:
    """Converts amounts between currencies at the current mids of the quoted pairs."""

    def __init__(self, pairs: Iterable[str], mid: Callable[[str], Decimal]) -> None:
        self._pairs = list(pairs)
        self._mid = mid
        self._paths: dict[tuple[str, str], list[Step]] = {}

    def rate(self, source: str, target: str) -> Decimal:
        """How many ``target`` one ``source`` is worth now (KeyError: no pair converts)."""
        if source == target:
            return Decimal(1)
        key = (source, target)
        path = self._paths.get(key)
        if path is None:
            found = conversion_path(self._pairs, source, target)
            if found is None:
                raise KeyError(f"no FX pair converts {source} to {target}")
            path = self._paths[key] = found
        value = Decimal(1)
        for pair, forward in path:
            mid = self._mid(pair)
            value = value * mid if forward else value / mid
        return value

    def convert(self, amount: Decimal, source: str, target: str) -> Decimal:
        """``amount`` of ``source`` in ``target``."""
        return amount if source == target else amount * self.rate(source, target)
