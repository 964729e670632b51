"""The studies as `twin` runs them, callable from Python and notebooks, answering in pandas DataFrames.

    from twin.studies.api import optimize, sensitivity, sweep
    best = optimize("examples/hold_time.yaml", ["stations.wip_press.press.recipe.hold_s=60:3600:int"],
                    objectives=["cost_per_good_cell"], constraints=["final_yield>=0.95"], budget=16).best
    sweep("scenarios/whatif_vessel_count.yaml", ["stations.wip_press.servers=3,4,5"])   # a DataFrame

A scenario is a file path (relative spec paths resolve against its folder) or the data of one
(a dict). Parameters, objectives and constraints use the command line's syntax: the `twin`
commands parse their options and call these same functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from twin.studies.optimize import OptimizeResult, parse_constraint, parse_objective
from twin.studies.optimize import optimize as run_optimize
from twin.studies.sensitivity import SensitivityResult
from twin.studies.sensitivity import sensitivity as run_sensitivity
from twin.studies.space import parse_param

ScenarioLike = str | Path | dict


def scenario_data(scenario: ScenarioLike) -> tuple[dict, str, Path | None]:
    """(data, source name, folder its relative paths resolve against) of a path or a data dict."""
    from twin.scenario import load_scenario_data

    if isinstance(scenario, dict):
        return scenario, "<scenario>", None
    path = Path(scenario)
    return load_scenario_data(path), str(path), path.resolve().parent


def optimize(scenario: ScenarioLike, params: Sequence[str], objectives: Sequence[str], constraints: Sequence[str] = (),
             budget: int = 20, replications: int | None = None, seed: int | None = None, direction: str = "minimize",
             out: str | Path | None = None, resume: bool = False, force: bool = False, workers: int = 1,
             scheduler: str | None = None, on_trial: Callable[[dict], None] | None = None) -> OptimizeResult:
    """An Optuna study of `budget` trials; `.trials` and `.best` are DataFrames (see twin.studies.optimize).

    `objectives`: one KPI, or two for a Pareto front, each optionally `KPI:min` / `KPI:max`
    (else `direction`); `constraints`: `KPI>=X` / `KPI<=X` on the 95% bound, `@p` for a chance
    constraint."""
    from twin.experiment import executor_for

    data, source, base_dir = scenario_data(scenario)
    space = [parse_param(p) for p in params]
    objs = [parse_objective(o, direction) for o in objectives]
    cons = [parse_constraint(c) for c in constraints]
    with executor_for(workers, scheduler) as executor:
        return run_optimize(data, space, objs, cons, budget, replications, seed, executor, out, source, resume,
                            force, parallel_trials=_parallel_trials(workers, scheduler, replications, data),
                            base_dir=base_dir, on_trial=on_trial)


def sensitivity(scenario: ScenarioLike, params: Sequence[str], method: str = "morris",
                kpis: Sequence[str] | None = None, samples: int = 10, replications: int | None = None,
                seed: int | None = None, out: str | Path | None = None, force: bool = False, workers: int = 1,
                scheduler: str | None = None, on_result: Callable[[int, int], None] | None = None,
                resume: bool = False) -> SensitivityResult:
    """Morris or Sobol indices of each KPI for each parameter; `.indices` and `.samples` are DataFrames."""
    from twin.experiment import executor_for

    data, source, base_dir = scenario_data(scenario)
    with executor_for(workers, scheduler) as executor:
        return run_sensitivity(data, [parse_param(p) for p in params], method, kpis, samples, replications, seed,
                               executor, out, source, base_dir, force, on_result, resume)


def sweep(scenario: ScenarioLike, settings: Sequence[str], replications: int | None = None, seed: int | None = None,
          out: str | Path | None = None, force: bool = False, workers: int = 1, scheduler: str | None = None) -> Any:
    """The sweep's results table as a DataFrame: one row per (grid point, KPI) with mean, 95% CI and
    the paired difference against point 0 (common random numbers)."""
    import pandas as pd

    from twin.experiment import executor_for
    from twin.studies.sweep import parse_setting, run_sweep

    data, source, base_dir = scenario_data(scenario)
    with executor_for(workers, scheduler) as executor:
        result = run_sweep(data, [parse_setting(s) for s in settings], source, replications, seed, executor,
                           out_dir=out, base_dir=base_dir, overwrite=force)
    return pd.DataFrame(result.rows)


def _parallel_trials(workers: int, scheduler: str | None, replications: int | None, data: dict) -> int:
    """Trials run side by side so that every worker has a replication to run."""
    if scheduler is None and workers <= 1:
        return 1
    n = replications or int((data.get("run") or {}).get("replications", 1))
    return max(1, -(-max(workers, 2) // max(n, 1)))
