"""The planner's pure core: targets, quotes and holdings in, a plan (or a rejection) out.

Synchronous, deterministic and free of I/O: time is the ``now`` argument, configuration the
``policy`` argument. Imports pydantic contracts only (no FastStream, Redis or asyncio).
"""

from planner.core.order import plan_order
from planner.core.plan import plan_rebalance
from planner.core.targets import resolve_targets
from planner.core.types import Plan, Rejection, ResolvedTargets, Skip

__all__ = [
    "Plan",
    "Rejection",
    "ResolvedTargets",
    "Skip",
    "plan_order",
    "plan_rebalance",
    "resolve_targets",
]
