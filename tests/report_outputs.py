"""Output directories for the report tests: real runs, sweeps and studies of shipped scenarios
(shortened), and a run turned into what an older recorder wrote (no station states, traces, costs)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import yaml

from tests.helpers import REPO, SCENARIOS
from twin.scenario import load_scenario_data, parse_scenario
from twin.simulation import Simulation
from twin.studies.sweep import parse_setting, run_sweep

COST = {"currency": "EUR", "equipment_per_server_h": {"wip_press": 40.0, "uniaxial_press": 12.0},
        "material_per_cell": 12.0, "scrap_per_cell": 2.0, "rework_per_cell": 1.0, "overhead_per_h": 50.0}


def absolute_specs(data: dict) -> dict:
    """Press spec paths made absolute, so a test runs from any working directory."""
    for st in data.get("stations", {}).values():
        spec = (st.get("press") or {}).get("spec")
        if isinstance(spec, str) and "/" in spec:
            st["press"]["spec"] = str(REPO / spec)
    return data


def two_press_data(duration_h: float = 24.0, warmup_h: float = 4.0, replications: int = 2) -> dict:
    """The isostatic-vs-uniaxial what-if (two presses, two lots, interface physics) shortened, with a cost section."""
    data = absolute_specs(load_scenario_data(SCENARIOS / "whatif_isostatic_vs_uniaxial.yaml"))
    data["run"].update(duration_h=duration_h, warmup_h=warmup_h, replications=replications)
    data["cost"] = COST
    data["expect"] = [{"kpi": "final_yield", "min": 0.5}]
    return data


def run_dir(out: Path, data: dict | None = None) -> Path:
    Simulation(parse_scenario(data or two_press_data())).run(out)
    return out


def as_older_output(out: Path) -> Path:
    """The run as an older recorder wrote it: no station states, press traces or buffer levels, no cost breakdown."""
    path = out / "summary.json"
    summary = json.loads(path.read_text())
    for key in ("station_states", "cost_breakdown", "currency"):
        summary.pop(key, None)
        summary["ci95"].pop(key, None)
    path.write_text(json.dumps(summary))
    db = sqlite3.connect(out / "trace.sqlite")
    with db:
        for table in ("station_states", "press_traces", "buffer_levels"):
            db.execute(f"DROP TABLE IF EXISTS {table}")
    db.close()
    return out


def scenario_file(out: Path, data: dict) -> str:
    """The scenario written beside the output folder, as the CLI's source path (the report reads its currency)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    path = out.parent / f"{out.name}.scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def numeric_sweep_dir(out: Path) -> Path:
    data = two_press_data(duration_h=24.0, warmup_h=4.0)
    settings = [parse_setting("stations.uniaxial_press.servers=2,3,4"),
                parse_setting("stations.wip_press.press.recipe.hold_s=200,400")]
    run_sweep(data, settings, scenario_file(out, data), replications=2, out_dir=out)
    return out


def categorical_sweep_dir(out: Path) -> Path:
    data = two_press_data(duration_h=24.0, warmup_h=4.0)
    specs = ",".join(str(REPO / "scenarios" / "presses" / f) for f in
                     ("heated_uniaxial_cv10.yaml", "heated_uniaxial_cv05.yaml", "heated_uniaxial_cv01.yaml"))
    run_sweep(data, [parse_setting(f"stations.uniaxial_press.press.spec={specs}")], scenario_file(out, data),
              replications=2, out_dir=out)
    return out


def plotted(report, name: str):
    """The plotly figure of a report figure by name (it must have been drawn)."""
    fig = next(f for f in report.figures if f.name == name)
    assert fig.plot is not None, f"{name}: {fig.note}"
    return fig.plot


def axis_titles(fig) -> dict[str, str]:
    """Axis name -> title text of every axis of a plotly figure."""
    layout = fig.to_plotly_json()["layout"]
    return {k: (v.get("title") or {}).get("text", "") for k, v in layout.items()
            if k.startswith(("xaxis", "yaxis")) and isinstance(v, dict)}


def small_line() -> dict:
    """One queue with a server cost: a study on it takes a second."""
    from tests.helpers import exp, scenario_dict, station

    return scenario_dict({"server": station(exp(0.6), servers=2)}, duration_h=200.0, warmup_h=10.0, replications=2,
                         seed=9, run={"write_trace": False},
                         cost={"equipment_per_server_h": {"server": 10.0}, "material_per_cell": 1.0})


def optimize_dir(out: Path) -> Path:
    """A real two-objective study (Pareto front) with a constraint."""
    from twin.studies.optimize import optimize, parse_constraint, parse_objective
    from twin.studies.space import parse_param

    optimize(small_line(), [parse_param("stations.server.servers=1:4:int"),
                            parse_param("source.interarrival_h.mean=0.8:1.5")],
             [parse_objective("cost_per_good_cell"), parse_objective("mean_cycle_time_h")],
             [parse_constraint("mean_wip<=6")], budget=6, out_dir=out)
    return out


def sensitivity_dir(out: Path, method: str = "morris") -> Path:
    from twin.studies.sensitivity import sensitivity
    from twin.studies.space import parse_param

    params = [parse_param("cost.material_per_cell=1:3"), parse_param("stations.server.servers=1:3:int"),
              parse_param("source.interarrival_h.mean=0.8:1.5:log")]
    sensitivity(small_line(), params, method,
                kpis=["cost_per_good_cell", "mean_wip"], samples=3 if method == "morris" else 4, out_dir=out)
    return out
