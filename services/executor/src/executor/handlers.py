"""What the executor consumes, as dispatch tables: message class -> PlanService use case."""

from __future__ import annotations

from executor.service.plans import PlanService
from shared.contracts import catalogue
from shared.contracts.catalogue import StreamSpec
from shared.contracts.gateway import GatewayDisconnected, ReconciliationCompleted
from shared.contracts.orders import (
    CommissionReported,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    OrderStatusUnknown,
)
from shared.contracts.plan_commands import ApprovePlan, CancelPlan, HaltTrading, ResumeTrading
from shared.contracts.plans import PlanProposed
from shared.contracts.triggers import RequestRebalance
from shared.kit.service import Dispatch


def subscriptions(plans: PlanService) -> list[tuple[StreamSpec, Dispatch, int]]:
    """(stream, dispatch table, polling interval in ms) of every stream the executor reads.

    Plan events other than PlanProposed are the executor's own decisions (skipped live; read
    back at start by the recovery).
    """
    on_order = plans.on_order_event
    return [
        (catalogue.PLANS, {PlanProposed: plans.on_plan_proposed}, 100),
        (
            catalogue.PLAN_COMMANDS,
            {
                ApprovePlan: plans.on_approve_plan,
                CancelPlan: plans.on_cancel_plan,
                HaltTrading: plans.on_halt_trading,
                ResumeTrading: plans.on_resume_trading,
            },
            100,
        ),
        (
            catalogue.ORDERS,
            {
                OrderAccepted: on_order,
                OrderFilled: on_order,
                OrderCancelled: on_order,
                OrderRejected: on_order,
                OrderStatusUnknown: on_order,
                CommissionReported: on_order,
            },
            20,
        ),
        (
            catalogue.GATEWAY,
            {
                GatewayDisconnected: plans.on_gateway_event,
                ReconciliationCompleted: plans.on_gateway_event,
            },
            100,
        ),
        (catalogue.TRIGGERS, {RequestRebalance: plans.on_request_rebalance}, 100),
    ]
