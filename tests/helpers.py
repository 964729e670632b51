"""Shared builders for the line-twin tests: small scenario dicts with overridable parts,
runners that keep the per-replication trace, and Student-t intervals computed here
(independently of twin.stats) for quantities the summary does not carry."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import yaml
from scipy import stats as sps

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"

# a lot with fixed flatness: lots are required by the schema but irrelevant to queueing
LOT = {
    "sq_um": {"dist": "fixed", "value": 0.2},
    "sdq": {"dist": "fixed", "value": 0.05},
    "pv_um": {"dist": "fixed", "value": 1.5},
    "waviness_um": {"dist": "fixed", "value": 1.0},
    "waviness_mm": {"dist": "fixed", "value": 5.0},
}


def exp(mean: float) -> dict:
    return {"dist": "exponential", "mean": mean}


def fixed(value: float) -> dict:
    return {"dist": "fixed", "value": value}


def station(process_time_h, next="sink", kind="process", **kw) -> dict:
    return {"kind": kind, "process_time_h": process_time_h, "next": next, **kw}


def deep_merge(base: dict, over: dict) -> dict:
    """`base` updated by `over`, recursively for nested dicts; a None value deletes the key."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def scenario_dict(stations: dict | None = None, *, interarrival_h=None, first: str | None = None,
                  duration_h: float = 1000.0, warmup_h: float = 0.0, replications: int = 1, seed: int = 1,
                  expect: list | None = None, **overrides) -> dict:
    """A minimal valid scenario (one M/M/1 server at rho 0.8 unless `stations` is given);
    keyword `overrides` are deep-merged into the result (e.g. run={'write_trace': False})."""
    if stations is None:
        stations = {"server": station(exp(0.8))}
    data = {
        "name": "test",
        "run": {"duration_h": duration_h, "warmup_h": warmup_h, "replications": replications, "seed": seed},
        "source": {"interarrival_h": interarrival_h or exp(1.0), "first": first or next(iter(stations))},
        "lots": {"any": dict(LOT)},
        "stations": copy.deepcopy(stations),
    }
    if expect is not None:
        data["expect"] = expect
    return deep_merge(data, overrides)


def build(data: dict):
    from twin.scenario import parse_scenario

    return parse_scenario(data, "test")


def load(name: str):
    from twin.scenario import load_scenario

    return load_scenario(SCENARIOS / name)


def write_yaml(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def run_reps(scenario, replications: int | None = None, seed: int | None = None):
    """Run the replications as `Simulation.run` does (no files) and keep every replication's
    visits; returns (summary, [Replication])."""
    from twin.simulation import run_replication, summarise

    n = replications or scenario.run.replications
    seed = scenario.run.seed if seed is None else seed
    reps = [run_replication(scenario, i, seed) for i in range(n)]
    return summarise(scenario, [r.kpis for r in reps], seed), reps


def run_line(scenario, replication: int = 0, seed: int | None = None):
    """One replication as a Line object, for station internals (batch cycles)."""
    from twin.line import Line

    line = Line(scenario, replication, seed=seed)
    kpis = line.run()
    return line, kpis


def t_interval(values) -> tuple[float, float]:
    """Mean and Student-t 95% half-width of per-replication values (computed here, not by twin.stats)."""
    x = np.asarray(values, dtype=float)
    return float(x.mean()), float(sps.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))


def visits_at(rep, name: str, warmup_h: float = 0.0) -> np.ndarray:
    """Visits of one replication at station `name` arriving after the warm-up, as an array of
    (t_arrive, t_start, t_end, t_leave)."""
    rows = [v[2:] for v in rep.visits if v[1] == name and v[2] >= warmup_h]
    return np.asarray(rows, dtype=float).reshape(-1, 4)


def assert_close_ci(name: str, measured: float, halfwidth: float, theory: float, rel_slack: float) -> None:
    """|measured - theory| <= 95% half-width + rel_slack * |theory|."""
    assert math.isfinite(measured) and math.isfinite(halfwidth), f"{name}: {measured} ± {halfwidth}"
    allowed = halfwidth + rel_slack * abs(theory)
    assert abs(measured - theory) <= allowed, (
        f"{name}: measured {measured:.5g} ± {halfwidth:.3g} (95% CI), theory {theory:.5g}, "
        f"off by {abs(measured - theory):.3g} > allowed {allowed:.3g}")
