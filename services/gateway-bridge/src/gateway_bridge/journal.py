"""The order journal: the durable record of what was sent to IB, and the event outbox.

SQLite in WAL mode. An INTENT, written before ``placeOrder``, is committed with
``synchronous=FULL``: it is on disk (fsync) when the call returns, even against a power loss.
Every other change is committed with ``synchronous=NORMAL``: durable across a crash or
SIGKILL of the process (WAL), and only a power loss can lose the last of them, all of which
the next reconciliation re-derives from IB (states by orderRef, fills from executions, each
re-published fill deduplicated by ``exec_id``). One fsync per order instead of ten is what
lets one login keep its 45 orders/s. Three facts live here:

* one row per ``client_order_id`` (unique): the command, the IB order id reserved for it
  (written *before* ``placeOrder``), its state (see :mod:`gateway_bridge.lifecycle`) and
  the last state event published for it (re-published when a ``SubmitOrder`` is repeated);
* the IB ``exec_id`` of every execution and commission report already turned into an event;
* an outbox of order events. An event is written in the same transaction as the state
  change or the execution it reports, then published, then marked published. A crash in
  between publishes it again on restart (at least once; consumers dedupe by ``exec_id`` /
  ``message_id``), never zero times.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from gateway_bridge.lifecycle import UNRESOLVED, OrderState, apply
from shared.contracts.base import Message, utc_now

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY,
    plan_id TEXT,
    account_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    quantity TEXT NOT NULL,
    ib_order_id INTEGER,
    perm_id INTEGER,
    state TEXT NOT NULL,
    filled TEXT NOT NULL DEFAULT '0',
    command TEXT NOT NULL,
    last_event TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_state ON orders(state);
CREATE INDEX IF NOT EXISTS orders_contract_side ON orders(account_id, symbol, side);
CREATE TABLE IF NOT EXISTS executions (
    exec_id TEXT PRIMARY KEY,
    client_order_id TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS commissions (
    exec_id TEXT PRIMARY KEY,
    recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(published, seq);
"""


@dataclass(frozen=True)
class JournalEntry:
    """One ``client_order_id`` as the journal holds it."""

    client_order_id: str
    plan_id: str | None
    account_id: str
    symbol: str
    side: str
    quantity: Decimal
    ib_order_id: int | None
    perm_id: int | None
    state: OrderState
    filled: Decimal
    command: str
    last_event: str | None
    created_at: datetime

    @property
    def correlation_id(self) -> str | None:
        """The trigger's id that the SubmitOrder carried, so order events trace back to it."""
        try:
            value = json.loads(self.command).get("correlation_id")
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class NewOrder:
    """What the journal needs to know about an order before it is sent (or refused)."""

    client_order_id: str
    plan_id: str | None
    account_id: str
    symbol: str
    side: str
    quantity: Decimal
    command: str


class AlreadyJournaled(Exception):
    """The ``client_order_id`` is already in the journal: it must not be sent again."""


class OrderJournal(Protocol):
    """Port of the order journal (the SQLite adapter is the only production one)."""

    def get(self, client_order_id: str) -> JournalEntry | None: ...

    def record_intent(self, order: NewOrder, ib_order_id: int) -> JournalEntry: ...

    def record_refusal(self, order: NewOrder, event: Message) -> JournalEntry: ...

    def discard_unsent(self, client_order_id: str) -> bool: ...

    def transition(
        self,
        client_order_id: str,
        state: OrderState,
        events: tuple[Message, ...] = (),
        *,
        perm_id: int | None = None,
        filled: Decimal | None = None,
    ) -> bool: ...

    def record_fill(
        self, exec_id: str, client_order_id: str, events: tuple[Message, ...]
    ) -> bool: ...

    def record_commission(self, exec_id: str, event: Message) -> bool: ...

    def has_execution(self, exec_id: str) -> bool: ...

    def max_ib_order_id(self) -> int | None: ...

    def open_orders(self, account_id: str, symbol: str, side: str) -> int: ...

    def entries(self, states: frozenset[OrderState] | None = None) -> list[JournalEntry]: ...

    def pending_events(self, limit: int = 500) -> list[tuple[int, str]]: ...

    def mark_published(self, seq: int) -> None: ...

    def mark_published_many(self, seqs: list[int]) -> None: ...

    def close(self) -> None: ...


class SqliteOrderJournal:
    """The order journal in one SQLite file (WAL; FULL for INTENT, NORMAL otherwise)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # isolation_level=None: we open transactions ourselves (BEGIN IMMEDIATE), so each
        # multi-row change (state + outbox event) is one atomic, durable commit.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)

    def pragma(self, name: str) -> object:
        """Return a PRAGMA's value (tests check WAL and the synchronous levels)."""
        return self._db.execute(f"PRAGMA {name}").fetchone()[0]

    def get(self, client_order_id: str) -> JournalEntry | None:
        """Return the entry of ``client_order_id``, or None if it was never journaled."""
        row = self._db.execute(
            "SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,)
        ).fetchone()
        return _entry(row) if row else None

    def record_intent(self, order: NewOrder, ib_order_id: int) -> JournalEntry:
        """Write INTENT with the reserved IB order id; raise AlreadyJournaled if present."""
        self._insert(order, OrderState.INTENT, ib_order_id, None)
        entry = self.get(order.client_order_id)
        assert entry is not None
        return entry

    def record_refusal(self, order: NewOrder, event: Message) -> JournalEntry:
        """Write a refused order (never sent) with its OrderRejected event in the outbox."""
        self._insert(order, OrderState.REJECTED, None, event)
        entry = self.get(order.client_order_id)
        assert entry is not None
        return entry

    def discard_unsent(self, client_order_id: str) -> bool:
        """Remove an INTENT whose bytes provably never left the process; True if removed.

        Only for the case where writing to the socket was impossible (the connection was
        gone): the command stays pending in the stream and is sent after the reconnect.
        """
        with self._transaction():
            cursor = self._db.execute(
                "DELETE FROM orders WHERE client_order_id = ? AND state = ?",
                (client_order_id, OrderState.INTENT.value),
            )
            return cursor.rowcount == 1

    def _insert(
        self, order: NewOrder, state: OrderState, ib_order_id: int | None, event: Message | None
    ) -> None:
        now = utc_now().isoformat()
        body = event.model_dump_json() if event else None
        durable = state == OrderState.INTENT
        if durable:
            self._db.execute("PRAGMA synchronous=FULL")
        try:
            self._insert_row(order, state, ib_order_id, body, now)
        finally:
            if durable:
                self._db.execute("PRAGMA synchronous=NORMAL")

    def _insert_row(
        self,
        order: NewOrder,
        state: OrderState,
        ib_order_id: int | None,
        body: str | None,
        now: str,
    ) -> None:
        with self._transaction():
            try:
                self._db.execute(
                    "INSERT INTO orders (client_order_id, plan_id, account_id, symbol, side, "
                    "quantity, ib_order_id, state, command, last_event, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        order.client_order_id,
                        order.plan_id,
                        order.account_id,
                        order.symbol,
                        order.side,
                        str(order.quantity),
                        ib_order_id,
                        state.value,
                        order.command,
                        body,
                        now,
                        now,
                    ),
                )
            except sqlite3.IntegrityError:
                raise AlreadyJournaled(order.client_order_id) from None
            if body:
                self._db.execute("INSERT INTO outbox (message) VALUES (?)", (body,))

    def transition(
        self,
        client_order_id: str,
        state: OrderState,
        events: tuple[Message, ...] = (),
        *,
        perm_id: int | None = None,
        filled: Decimal | None = None,
    ) -> bool:
        """Move an order to ``state`` and queue ``events``, atomically.

        Returns False (and changes nothing) when the table does not allow the move, e.g. a
        late ``Submitted`` after ``Filled``; raises KeyError for an unknown order.
        """
        with self._transaction():
            row = self._db.execute(
                "SELECT state FROM orders WHERE client_order_id = ?", (client_order_id,)
            ).fetchone()
            if row is None:
                raise KeyError(client_order_id)
            current = OrderState(row["state"])
            try:
                apply(current, state)
            except ValueError:
                return False
            last = events[-1].model_dump_json() if events else None
            self._db.execute(
                "UPDATE orders SET state = ?, perm_id = COALESCE(?, perm_id), "
                "filled = COALESCE(?, filled), last_event = COALESCE(?, last_event), "
                "updated_at = ? WHERE client_order_id = ?",
                (
                    state.value,
                    perm_id,
                    str(filled) if filled is not None else None,
                    last,
                    utc_now().isoformat(),
                    client_order_id,
                ),
            )
            for event in events:
                self._db.execute(
                    "INSERT INTO outbox (message) VALUES (?)", (event.model_dump_json(),)
                )
            return True

    def record_fill(self, exec_id: str, client_order_id: str, events: tuple[Message, ...]) -> bool:
        """Record an execution and queue its events; False if ``exec_id`` was seen before."""
        with self._transaction():
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO executions (exec_id, client_order_id, recorded_at) "
                "VALUES (?, ?, ?)",
                (exec_id, client_order_id, utc_now().isoformat()),
            )
            if cursor.rowcount == 0:
                return False
            for event in events:
                self._db.execute(
                    "INSERT INTO outbox (message) VALUES (?)", (event.model_dump_json(),)
                )
            return True

    def record_commission(self, exec_id: str, event: Message) -> bool:
        """Record a commission report; False if one for ``exec_id`` was seen before."""
        with self._transaction():
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO commissions (exec_id, recorded_at) VALUES (?, ?)",
                (exec_id, utc_now().isoformat()),
            )
            if cursor.rowcount == 0:
                return False
            self._db.execute("INSERT INTO outbox (message) VALUES (?)", (event.model_dump_json(),))
            return True

    def has_execution(self, exec_id: str) -> bool:
        """Return whether an execution was already recorded."""
        row = self._db.execute("SELECT 1 FROM executions WHERE exec_id = ?", (exec_id,)).fetchone()
        return row is not None

    def open_orders(self, account_id: str, symbol: str, side: str) -> int:
        """Return how many orders of an account, symbol and side may be open at IB."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM orders WHERE account_id = ? AND symbol = ? AND side = ? "
            "AND state IN (?, ?, ?)",
            (
                account_id,
                symbol,
                side,
                OrderState.INTENT.value,
                OrderState.SENT.value,
                OrderState.ACKED.value,
            ),
        ).fetchone()
        return int(row[0])

    def max_ib_order_id(self) -> int | None:
        """Return the highest IB order id ever reserved (None for an empty journal)."""
        row = self._db.execute("SELECT MAX(ib_order_id) FROM orders").fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def entries(self, states: frozenset[OrderState] | None = None) -> list[JournalEntry]:
        """Return every entry (in the given states), oldest first."""
        if states is None:
            rows = self._db.execute("SELECT * FROM orders ORDER BY created_at").fetchall()
        else:
            marks = ", ".join("?" * len(states))
            rows = self._db.execute(
                f"SELECT * FROM orders WHERE state IN ({marks}) ORDER BY created_at",
                tuple(s.value for s in states),
            ).fetchall()
        return [_entry(r) for r in rows]

    def unresolved(self) -> list[JournalEntry]:
        """Return orders whose outcome IB has not confirmed (INTENT, SENT, UNKNOWN)."""
        return self.entries(UNRESOLVED)

    def pending_events(self, limit: int = 500) -> list[tuple[int, str]]:
        """Return queued, unpublished events in order: (seq, message JSON)."""
        rows = self._db.execute(
            "SELECT seq, message FROM outbox WHERE published = 0 ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [(r["seq"], r["message"]) for r in rows]

    def mark_published(self, seq: int) -> None:
        """Mark one outbox event as published."""
        self.mark_published_many([seq])

    def mark_published_many(self, seqs: list[int]) -> None:
        """Mark outbox events as published, in one transaction."""
        if not seqs:
            return
        with self._transaction():
            self._db.executemany(
                "UPDATE outbox SET published = 1 WHERE seq = ?", [(seq,) for seq in seqs]
            )

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        self._db.execute("ROLLBACK" if kind else "COMMIT")


def _entry(row: sqlite3.Row) -> JournalEntry:
    return JournalEntry(
        client_order_id=row["client_order_id"],
        plan_id=row["plan_id"],
        account_id=row["account_id"],
        symbol=row["symbol"],
        side=row["side"],
        quantity=Decimal(row["quantity"]),
        ib_order_id=row["ib_order_id"],
        perm_id=row["perm_id"],
        state=OrderState(row["state"]),
        filled=Decimal(row["filled"]),
        command=row["command"],
        last_event=row["last_event"],
        created_at=datetime.fromisoformat(row["created_at"]),
    )


def decode_event(body: str) -> dict[str, object]:
    """Return an outbox event's JSON as a dict."""
    data: dict[str, object] = json.loads(body)
    return data
