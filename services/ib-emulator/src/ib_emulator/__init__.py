"""A paper IB Gateway that speaks the TWS API wire protocol (server version 176)."""

from .faults import Faults, FaultState
from .scenario import Scenario, ScenarioError, default_scenario, load_scenario, parse_scenario
from .server import Emulator

__all__ = [
    "Emulator",
    "FaultState",
    "Faults",
    "Scenario",
    "ScenarioError",
    "default_scenario",
    "load_scenario",
    "parse_scenario",
]
