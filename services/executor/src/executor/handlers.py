"""Subscribers: decode (done by the kit) -> engine -> publish. Thin by design."""

from __future__ import annotations

from executor.engine import Engine
from shared.contracts.base import Message
from shared.contracts.plan_commands import ApprovePlan, CancelPlan, HaltTrading, ResumeTrading
from shared.contracts.plans import PlanProposed
from shared.contracts.triggers import RequestRebalance


class Handlers:
    """One handler per consumed stream."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def on_plan_event(self, message: Message) -> None:
        """``events.plans.v1``: only PlanProposed matters (the rest are our own decisions)."""
        if isinstance(message, PlanProposed):
            await self.engine.on_plan_proposed(message)

    async def on_plan_command(self, message: Message) -> None:
        """``commands.plans.v1``: approve, cancel, halt, resume."""
        if isinstance(message, ApprovePlan):
            await self.engine.on_approve(message)
        elif isinstance(message, CancelPlan):
            await self.engine.on_cancel(message)
        elif isinstance(message, HaltTrading):
            await self.engine.on_halt(message)
        elif isinstance(message, ResumeTrading):
            await self.engine.on_resume(message)

    async def on_order_event(self, message: Message) -> None:
        """``events.orders.v1``: follow our orders."""
        self.engine.on_order_event(message)

    async def on_gateway_event(self, message: Message) -> None:
        """``events.gateway.v1``: pause and resume with the gateway."""
        self.engine.on_gateway_event(message)

    async def on_trigger(self, message: Message) -> None:
        """``commands.triggers.v1``: only their time matters here (trigger-to-fill latency)."""
        if isinstance(message, RequestRebalance):
            self.engine.on_trigger(message)
