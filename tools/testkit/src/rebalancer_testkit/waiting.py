"""Waiting in tests: poll with a deadline, never sleep a fixed time for a condition.

``eventually`` waits for something to become true; ``stays`` checks that something stays
true for a while (the "nothing happens" waits: no order sent, no second alert).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    within: float = 10.0,
    what: str = "the condition",
    every: float = 0.02,
) -> T:
    """Return ``probe()``'s first truthy value; fail naming ``what`` after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {within:g} s waiting for {what} (last: {value!r})"
            )
        await asyncio.sleep(every)


async def stays(
    probe: Callable[[], Awaitable[Any]],
    for_s: float,
    what: str = "the condition",
    every: float = 0.05,
) -> None:
    """Check that ``probe()`` stays truthy for ``for_s`` seconds (fail at the first false)."""
    deadline = time.monotonic() + for_s
    while True:
        value = await probe()
        if not value:
            raise AssertionError(f"{what} stopped holding (got {value!r})")
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(every)
