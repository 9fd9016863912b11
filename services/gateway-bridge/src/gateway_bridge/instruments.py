"""Qualified contracts and their size rules, looked up once per symbol and cached."""

from __future__ import annotations

import logging
from decimal import Decimal

from ib_async import IB, Contract
from ib_async.wrapper import RequestError

from gateway_bridge.parsing.numbers import decimal_or_none
from gateway_bridge.parsing.outbound import contract_for
from gateway_bridge.validation import InstrumentRules

log = logging.getLogger(__name__)

NO_SECURITY_DEFINITION = 200


class Instruments:
    """Look symbols up at IB (reqContractDetails); unknown ones are not cached."""

    def __init__(self, ib: IB, timeout_s: float) -> None:
        self._ib = ib
        self._timeout_s = timeout_s
        self._known: dict[tuple[str, str, str], tuple[Contract, InstrumentRules]] = {}
        self.why_unknown: dict[str, str] = {}
        """What IB said about each symbol it could not qualify (for ``rebalancer validate``)."""

    def cached(
        self, symbol: str, currency: str = "USD", exchange: str = "SMART"
    ) -> Contract | None:
        """Return the qualified contract of a symbol already looked up, or None."""
        found = self._known.get((symbol, currency, exchange))
        return found[0] if found else None

    async def lookup(
        self, symbol: str, currency: str = "USD", exchange: str = "SMART"
    ) -> tuple[Contract, InstrumentRules] | None:
        """Return the qualified contract and its rules, or None if IB does not know it."""
        import asyncio

        key = (symbol, currency, exchange)
        if key in self._known:
            return self._known[key]
        try:
            details = await asyncio.wait_for(
                self._ib.reqContractDetailsAsync(contract_for(symbol, currency, exchange)),
                self._timeout_s,
            )
        except RequestError as error:
            if error.code == NO_SECURITY_DEFINITION:
                self.why_unknown[symbol] = f"IB knows no such stock ({error.code}: {error.message})"
                return None
            raise
        if len(details) != 1 or details[0].contract is None:
            log.warning("%s: %d contracts match; treating it as unknown", symbol, len(details))
            places = sorted({d.contract.primaryExchange for d in details if d.contract})
            self.why_unknown[symbol] = (
                f"ambiguous: {len(details)} contracts match in {currency} "
                f"({', '.join(p for p in places if p) or 'several exchanges'})"
            )
            return None
        self.why_unknown.pop(symbol, None)
        detail = details[0]
        contract = detail.contract
        assert contract is not None
        contract.exchange = exchange  # keep SMART routing, as qualifyContracts does
        rules = InstrumentRules(
            symbol=symbol,
            con_id=contract.conId,
            min_size=decimal_or_none(detail.minSize) or Decimal(0),
            size_increment=decimal_or_none(detail.sizeIncrement) or Decimal(0),
        )
        self._known[key] = (contract, rules)
        return contract, rules
