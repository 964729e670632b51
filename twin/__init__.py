"""Digital twin of an anode-less all-solid-state cell line, with its presses in the loop.

The public Python API::

    import twin
    scenario = twin.load_scenario("scenarios/baseline.yaml")
    result = twin.Simulation(scenario, replications=2).run("out/baseline")
    result.summary["final_yield"], result.passed

`load_scenario` validates a scenario file into a resolved `Scenario`; `Simulation` runs it
(in simulated time, or against equipment with `ports=twin.hil.PlantEquipment(...)`) and
returns a `RunResult`. The names are imported on first use, so `import twin` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"
__all__ = ["__version__", "load_scenario", "parse_scenario", "Scenario", "ScenarioError", "Simulation",
           "RunResult"]

if TYPE_CHECKING:  # pragma: no cover
    from twin.scenario import Scenario, ScenarioError, load_scenario, parse_scenario
    from twin.simulation import RunResult, Simulation

_EXPORTS = {"load_scenario": "twin.scenario", "parse_scenario": "twin.scenario", "Scenario": "twin.scenario",
            "ScenarioError": "twin.scenario", "Simulation": "twin.simulation", "RunResult": "twin.simulation"}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'twin' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
