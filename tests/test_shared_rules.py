"""Rules that cross services are one definition, so the services agree on them.

The client order id ``<plan_id>.<leg>.<attempt>`` used to be read two ways: the bridge took
the plan id up to the first dot, the executor up to the last, so an order of plan
``alloc-1.DU1`` was attributed to ``alloc-1`` by one and ``alloc-1.DU1`` by the other. Now
both read it with ``shared.rebalancing.ids.ClientOrderId``, and a plan id with a dot can
make no client order id at all (the executor refuses such a plan before it trades).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from executor.service.book import Book
from gateway_bridge.parsing.orders import plan_id_of as bridge_plan_id_of
from rebalancer_testkit.samples import sample_of
from shared.rebalancing.ids import ClientOrderId, InvalidPlanId


@pytest.mark.parametrize(
    "coid", ["pl-0123456789ab.3.1", "alloc-1.DU1.3.1", "p.0.0", "manual-order", "a.b", "x.1.2.3"]
)
def test_the_bridge_and_the_executor_attribute_an_order_to_the_same_plan(coid: str) -> None:
    book = Book()
    book.add_order(sample_of("SubmitOrder", client_order_id=coid), Decimal(1))
    executor_plan = next((plan for plan, orders in book.by_plan.items() if coid in orders), None)
    assert bridge_plan_id_of(coid) == executor_plan
    parsed = ClientOrderId.parse(coid)
    assert executor_plan == (parsed.plan_id if parsed else None)


def test_no_client_order_id_can_be_made_for_a_plan_id_with_a_dot() -> None:
    with pytest.raises(InvalidPlanId):
        ClientOrderId("alloc-1.DU1", 3, 1)
