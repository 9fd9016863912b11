"""Positions as the ledger keeps them: the current one per account and symbol, and history.

Current positions follow the bridge's events by event time: a ``PositionsSnapshot`` is the
whole account (a symbol it no longer lists is closed), a ``PositionChanged`` one symbol; an
event older than what is held (a redelivery, a reclaimed entry) changes nothing.

History: every ``PositionsSnapshot`` writes one row per account and symbol (a zero row for a
symbol it closed), and a ``PositionChanged`` writes a row only when the quantity or the
average cost moved (a trade), not for a new market price. Rows are keyed by the message and
symbol, so a replayed event writes nothing twice. Retention: full resolution for
``keep_days``; older rows are thinned to the last row per account, symbol and UTC day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from shared.contracts.positions import Position, PositionChanged, PositionsSnapshot


@dataclass(frozen=True)
class HeldPosition:
    """The latest position of one account and symbol, and the time of the event that said so."""

    account_id: str
    position: Position
    as_of: datetime
    message_id: str


@dataclass(frozen=True)
class HistoryRow:
    """One row of position history."""

    account_id: str
    symbol: str
    ts: datetime
    quantity: Decimal
    average_cost: Decimal
    market_price: Decimal | None
    market_value: Decimal | None
    message_id: str


@dataclass(frozen=True)
class PositionUpdate:
    """What one positions event changes: positions to hold, symbols closed, history rows."""

    account_id: str
    as_of: datetime
    hold: tuple[HeldPosition, ...]
    closed: tuple[str, ...]
    history: tuple[HistoryRow, ...]
    snapshot: bool


def _row(account: str, position: Position, ts: datetime, message_id: str) -> HistoryRow:
    return HistoryRow(
        account_id=account,
        symbol=position.symbol,
        ts=ts,
        quantity=position.quantity,
        average_cost=position.average_cost,
        market_price=position.market_price,
        market_value=position.market_value,
        message_id=message_id,
    )


def _moved(last: HistoryRow | None, position: Position) -> bool:
    if last is None:
        return position.quantity != 0
    return last.quantity != position.quantity or last.average_cost != position.average_cost


def update_of(
    event: PositionsSnapshot | PositionChanged,
    held: Iterable[HeldPosition],
    last_history: dict[str, HistoryRow],
) -> PositionUpdate:
    """Return what ``event`` changes, given the account's held positions and last history rows.

    Positions held at a time later than the event are left alone: the event is older news.
    """
    current = {h.position.symbol: h for h in held}
    ts, account, mid = event.ts_event, event.account_id, event.message_id

    def newer(symbol: str) -> bool:
        h = current.get(symbol)
        return h is None or h.as_of <= ts

    if isinstance(event, PositionChanged):
        p = event.position
        if not newer(p.symbol):
            return PositionUpdate(account, ts, (), (), (), snapshot=False)
        moved = _moved(last_history.get(p.symbol), p)
        row = (_row(account, p, ts, mid),) if moved else ()
        if p.quantity == 0:
            return PositionUpdate(account, ts, (), (p.symbol,), row, snapshot=False)
        return PositionUpdate(
            account, ts, (HeldPosition(account, p, ts, mid),), (), row, snapshot=False
        )
    listed = {p.symbol: p for p in event.positions if p.quantity != 0}
    hold = tuple(HeldPosition(account, p, ts, mid) for s, p in listed.items() if newer(s))
    closed = tuple(s for s in sorted(current) if s not in listed and newer(s))
    history = [_row(account, p, ts, mid) for s, p in sorted(listed.items()) if newer(s)]
    for symbol in closed:
        last = current[symbol].position
        history.append(_row(account, last.model_copy(update={"quantity": Decimal(0)}), ts, mid))
    return PositionUpdate(account, ts, hold, closed, tuple(history), snapshot=True)


def history_cutoff(now: datetime, keep_days: int) -> datetime:
    """Rows older than this are thinned to the last one per account, symbol and UTC day."""
    return now - timedelta(days=keep_days)
