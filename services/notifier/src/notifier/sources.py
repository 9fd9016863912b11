"""Allocation sources: an allocation API (httpx, retries with backoff), a CSV, inline targets."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx

from notifier.core.allocation_api import (
    SourcedTargets,
    parse_allocation_response,
    parse_portfolio_csv,
)
from notifier.core.errors import Refusal
from notifier.metrics import NotifierMetrics
from shared.accounts import Account, AllocationSource
from shared.contracts.base import TargetWeight

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def api_key_from_env(variable: str) -> str:
    """Read an API key from ``variable`` (or the file named by ``<variable>_FILE``)."""
    value = os.environ.get(variable)
    if value:
        return value.strip()
    path = os.environ.get(f"{variable}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise Refusal(
                "missing_api_key", f"{variable}_FILE names {path!r}, unreadable ({error.strerror})"
            ) from None
    raise Refusal(
        "missing_api_key",
        f"the allocation API key variable {variable} (or {variable}_FILE) is not set",
    )


class AllocationSources:
    """Resolve an account's configured allocation source into validated-shape targets."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        metrics: NotifierMetrics,
        *,
        backoff_s: float = 0.5,
        max_bytes: int = 1_048_576,
    ) -> None:
        self._client = client
        self._metrics = metrics
        self._backoff_s = backoff_s
        self._max_bytes = max_bytes

    async def resolve(self, account: Account, now: datetime) -> tuple[str, SourcedTargets]:
        """Return ``(source_kind, targets)`` for ``account``, or raise Refusal."""
        source = account.config.allocation
        if source is None:
            raise Refusal(
                "no_allocation_source",
                f"account {account.id} has no allocation source in the accounts file and the "
                "trigger carried no targets; add allocation.url, .csv or .targets",
            )
        if source.targets is not None:
            targets = tuple(TargetWeight(symbol=t.symbol, weight=t.weight) for t in source.targets)
            return "config", SourcedTargets(targets=targets)
        if source.csv is not None:
            cash = account.planning.target_cash_weight
            targets = await asyncio.to_thread(self._read_csv, source, cash)
            return "csv", SourcedTargets(targets=targets)
        return "url", await self.fetch(source, now)

    @staticmethod
    def _read_csv(source: AllocationSource, cash: Decimal) -> tuple[TargetWeight, ...]:
        assert source.csv is not None
        try:
            text = Path(source.csv).read_text(encoding="utf-8")
        except OSError as error:
            raise Refusal(
                "csv_unreadable", f"portfolio CSV {source.csv} cannot be read ({error.strerror})"
            ) from None
        targets, notes = parse_portfolio_csv(
            text, f"portfolio CSV {source.csv}", source.column, cash
        )
        for note in notes:
            log.info("%s", note)
        return targets

    async def fetch(self, source: AllocationSource, now: datetime) -> SourcedTargets:
        """GET the allocation URL with retries and backoff; validate the answer."""
        assert source.url is not None
        url = source.url
        headers = {"Accept": "application/json"}
        if source.api_key_env:
            key = api_key_from_env(source.api_key_env)
            headers["Authorization"] = f"Bearer {key}"
            headers["X-API-Key"] = key
        started = time.perf_counter()
        last_problem = "no attempt made"
        try:
            for attempt in range(source.retries + 1):
                if attempt:
                    await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
                try:
                    body, status = await self._get(url, headers, source.timeout_s)
                except httpx.TimeoutException:
                    last_problem = f"no answer within {source.timeout_s:g} s"
                    continue
                except httpx.TransportError as error:
                    last_problem = f"cannot connect ({type(error).__name__}: {error})"
                    continue
                if status in RETRY_STATUSES:
                    last_problem = f"HTTP {status}"
                    continue
                if status >= 400:
                    raise Refusal(
                        "source_http_error",
                        f"allocation API {url} answered HTTP {status}"
                        + ("; check the API key" if status in (401, 403) else ""),
                    )
                try:
                    data = json.loads(body)
                except ValueError:
                    raise Refusal(
                        "invalid_response", f"allocation API {url} did not answer JSON"
                    ) from None
                result = parse_allocation_response(
                    data, url=url, now=now, max_age=timedelta(hours=source.max_age_hours)
                )
                log.info(
                    "allocation API %s: strategy %s as of %s, %d targets",
                    url,
                    result.strategy_name or "(unnamed)",
                    result.as_of.isoformat() if result.as_of else "(not given)",
                    len(result.targets),
                )
                return result
            raise Refusal(
                "source_unreachable",
                f"allocation API {url} failed after {source.retries + 1} attempt(s): "
                f"{last_problem}",
            )
        finally:
            self._metrics.allocation_fetch_seconds.observe(time.perf_counter() - started)

    async def _get(self, url: str, headers: dict[str, str], timeout_s: float) -> tuple[bytes, int]:
        async with self._client.stream("GET", url, headers=headers, timeout=timeout_s) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self._max_bytes:
                    raise Refusal(
                        "invalid_response",
                        f"allocation API {url} answered more than {self._max_bytes} bytes",
                    )
                chunks.append(chunk)
            return b"".join(chunks), response.status_code
