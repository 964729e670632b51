"""Parameter uncertainty in every answer: the scenario's replications repeated for parameter sets
drawn from its calibrated file (``quality.params``), one draw per outer replication.

KPI[d, r] of draw d and replication r (the same replication seeds for every draw: common random
numbers) is read as a two-way layout KPI = mu + a_d + b_r + e.  The parameter share is the variance
of the draw effects a_d, (MS_draws - MS_residual) / R (floored at 0); the simulation noise is the
replication-to-replication spread within a draw.  ``summary.json`` gets ``parameter_uncertainty``
with, per KPI, the mean over draws, the parameter sd and its 95% interval (2.5-97.5% of the draw
means), the simulation sd of one replication and the Student-t half-width of the plain run.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Sequence

import numpy as np

from twin.kpis import kpi_value

KPIS = ("throughput_per_h", "first_pass_yield", "final_yield", "cost_per_good_cell", "mean_cycle_time_h",
        "mean_wip")


class NoCalibration(ValueError):
    """`--param-draws` on a scenario without a calibrated parameter file."""


def require_calibration(scenario: Any, where: str = "") -> Any:
    """The scenario's parameter file; NoCalibration (naming `where`, e.g. a sweep point) without one.
    The one check behind `twin run --param-draws` and `twin sweep --param-draws`."""
    pf = scenario.resolved.calibration
    if pf is None:
        raise NoCalibration("the scenario has no calibrated parameter file (quality.params)" + where)
    return pf


def draw_scenarios(scenario: Any, draws: int, seed: int) -> tuple[list[Any], list[dict[str, float]]]:
    """Copies of the scenario with the interface parameters of each draw."""
    sets = require_calibration(scenario).draws(draws, seed)
    base = scenario.resolved.interface_params
    out = []
    for values in sets:
        sc = scenario.model_copy()
        sc._resolved = dataclasses.replace(scenario.resolved, interface_params=base.model_copy(update=values))
        out.append(sc)
    return out, sets


def decompose(table: np.ndarray) -> dict[str, Any]:
    """Variance components of KPI[draw, replication] (NaN rows or columns dropped)."""
    t = table[np.all(np.isfinite(table), axis=1)]
    d, r = t.shape if t.ndim == 2 else (0, 0)
    if d < 2 or r < 1:
        return {"mean": float(np.nanmean(table)) if np.isfinite(table).any() else math.nan, "sd_parameter": math.nan,
                "sd_simulation": math.nan, "interval95_parameter": [math.nan, math.nan]}
    grand = float(t.mean())
    draw_means = t.mean(axis=1)
    rep_means = t.mean(axis=0)
    ms_draws = r * float(np.sum((draw_means - grand) ** 2)) / (d - 1)
    if r >= 2:
        resid = t - draw_means[:, None] - rep_means[None, :] + grand
        ms_resid = float(np.sum(resid * resid)) / ((d - 1) * (r - 1))
        within = float(np.mean(np.var(t, axis=1, ddof=1)))
        var_param = max(0.0, (ms_draws - ms_resid) / r)
    else:
        within, var_param = math.nan, ms_draws / r
    lo, hi = np.percentile(draw_means, [2.5, 97.5])
    return {"mean": grand, "sd_parameter": math.sqrt(var_param), "sd_simulation": math.sqrt(within)
            if math.isfinite(within) else math.nan, "interval95_parameter": [float(lo), float(hi)]}


def parameter_uncertainty(scenario: Any, summary: dict[str, Any], draws: int, replications: int, seed: int,
                          executor: Any = None, on_result: Callable[[int, int], None] | None = None,
                          kpis: Sequence[str] = KPIS, cache: Any = None) -> dict[str, Any]:
    """The ``parameter_uncertainty`` block of summary.json (see the module docstring); a sweep
    passes its KPI list and its points.sqlite (`cache`, so --resume keeps finished draws too)."""
    from twin.experiment import run_points

    if draws < 2:
        raise ValueError("--param-draws must be at least 2")
    scenarios, sets = draw_scenarios(scenario, draws, seed)
    results = run_points(scenarios, seed, replications, executor, on_result=on_result, cache=cache)
    by_kpi: dict[str, Any] = {}
    for name in kpis:
        table = np.array([[kpi_value(rep, name) for rep in reps] for reps in results], dtype=float)
        if not np.isfinite(table).any():
            continue
        parts: dict[str, Any] = decompose(table)
        parts["ci95_simulation"] = (summary.get("ci95") or {}).get(name)
        parts["per_draw"] = [float(np.mean(row)) for row in table]
        by_kpi[name] = parts
    pf = scenario.resolved.calibration
    caveat = (" With one replication per draw sd_parameter also holds the simulation noise: use >= 2 replications."
              if replications < 2 else "")
    return {"draws": draws, "replications_per_draw": replications, "seed": seed, "method": pf.method,
            "source": scenario.quality.params, "parameters": sets, "kpis": by_kpi,
            "note": "sd_parameter: spread of the KPI's expectation over the calibrated parameters' uncertainty; "
                    "sd_simulation: spread of one replication at fixed parameters (simulation noise); "
                    "ci95_simulation: the plain run's Student-t half-width." + caveat}


def add_to_run(scenario: Any, result: Any, draws: int, replications: int | None = None, seed: int | None = None,
               executor: Any = None, on_result: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Compute the block for a finished run and write it into its summary.json (atomically)."""
    import json
    import os

    from twin.writer import json_safe

    reps = replications or int(result.summary.get("replications") or 1)
    block = parameter_uncertainty(scenario, result.summary, draws, reps,
                                  int(result.summary.get("seed", 1) if seed is None else seed), executor, on_result)
    result.summary["parameter_uncertainty"] = block
    if result.out_dir is not None:
        path = result.out_dir / "summary.json"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(json_safe(result.summary), indent=2))
        os.replace(tmp, path)
    return block
