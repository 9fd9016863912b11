"""The SQLite order journal: durable settings, one row per client_order_id, the outbox."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway_bridge.journal import AlreadyJournaled, NewOrder, SqliteOrderJournal
from gateway_bridge.lifecycle import OrderState
from shared.contracts.orders import OrderAccepted, OrderFilled, OrderStatusUnknown


def order(coid: str = "p1.0.0") -> NewOrder:
    return NewOrder(coid, "p1", "DU1", "SPY", "BUY", Decimal(10), "{}")


def accepted(coid: str = "p1.0.0") -> OrderAccepted:
    return OrderAccepted(
        source="t",
        client_order_id=coid,
        account_id="DU1",
        side="BUY",
        quantity=10,
        status="Submitted",
    )


@pytest.fixture
def journal(tmp_path):
    j = SqliteOrderJournal(tmp_path / "j" / "orders.sqlite3")
    yield j
    j.close()


def test_journal_runs_in_wal_mode_and_commits_each_intent_with_full_synchronous(journal):
    assert journal.pragma("journal_mode") == "wal"
    assert journal.pragma("synchronous") == 1  # NORMAL for everything but an INTENT
    statements: list[str] = []
    journal._db.set_trace_callback(statements.append)
    journal.record_intent(order(), 42)
    journal._db.set_trace_callback(None)
    full, commit = statements.index("PRAGMA synchronous=FULL"), statements.index("COMMIT")
    assert full < commit < statements.index("PRAGMA synchronous=NORMAL")
    assert journal.pragma("synchronous") == 1


def test_intent_is_written_with_the_reserved_ib_order_id(journal):
    entry = journal.record_intent(order(), 42)
    assert (entry.state, entry.ib_order_id) == (OrderState.INTENT, 42)


def test_a_client_order_id_can_be_journaled_only_once(journal):
    journal.record_intent(order(), 42)
    with pytest.raises(AlreadyJournaled):
        journal.record_intent(order(), 43)
    assert journal.get("p1.0.0").ib_order_id == 42


def test_journal_survives_reopening(tmp_path):
    path = tmp_path / "orders.sqlite3"
    first = SqliteOrderJournal(path)
    first.record_intent(order(), 7)
    first.transition("p1.0.0", OrderState.SENT)
    first.close()
    again = SqliteOrderJournal(path)
    assert again.get("p1.0.0").state == OrderState.SENT
    assert [e.client_order_id for e in again.unresolved()] == ["p1.0.0"]
    again.close()


def test_state_change_and_its_event_are_queued_together_in_order(journal):
    journal.record_intent(order(), 1)
    assert journal.transition("p1.0.0", OrderState.ACKED, (accepted(),))
    pending = journal.pending_events()
    assert len(pending) == 1
    journal.mark_published(pending[0][0])
    assert journal.pending_events() == []
    assert journal.get("p1.0.0").last_event is not None


def test_unlisted_transition_changes_nothing(journal):
    journal.record_intent(order(), 1)
    journal.transition("p1.0.0", OrderState.FILLED)
    assert not journal.transition("p1.0.0", OrderState.ACKED, (accepted(),))
    assert journal.get("p1.0.0").state == OrderState.FILLED
    assert journal.pending_events() == []


def test_unknown_never_goes_back_to_sent(journal):
    journal.record_intent(order(), 1)
    unknown = OrderStatusUnknown(source="t", client_order_id="p1.0.0", account_id="DU1", reason="x")
    assert journal.transition("p1.0.0", OrderState.UNKNOWN, (unknown,))
    assert not journal.transition("p1.0.0", OrderState.SENT)
    assert journal.transition("p1.0.0", OrderState.ACKED, (accepted(),))


def test_an_execution_is_recorded_once(journal):
    journal.record_intent(order(), 1)
    fill = OrderFilled(
        source="t",
        client_order_id="p1.0.0",
        account_id="DU1",
        exec_id="e1",
        side="BUY",
        last_quantity=10,
        last_price=1,
        cumulative_quantity=10,
        average_price=1,
    )
    assert journal.record_fill("e1", "p1.0.0", (fill,))
    assert not journal.record_fill("e1", "p1.0.0", (fill,))
    assert len(journal.pending_events()) == 1
    assert journal.has_execution("e1")
