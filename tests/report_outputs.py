"""Output directories for the report tests: real runs and sweeps of shipped scenarios (shortened),
and the recorder's newer records (station states, buffer levels, press traces, cost breakdown,
in the layout the recorder documents) added to a real run so every figure has data to draw."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import yaml

from tests.helpers import REPO, SCENARIOS
from twin.scenario import load_scenario_data, parse_scenario
from twin.simulation import Simulation, json_safe
from twin.sweep import parse_setting, run_sweep

STATES = ("busy", "blocked", "starved", "down", "off_shift")
COST = {"currency": "EUR", "equipment_per_server_h": {"wip_press": 40.0, "uniaxial_press": 12.0},
        "material_per_cell": 12.0, "scrap_per_cell": 2.0, "rework_per_cell": 1.0, "overhead_per_h": 50.0}


def absolute_specs(data: dict) -> dict:
    """Press spec paths made absolute, so a test runs from any working directory."""
    for st in data.get("stations", {}).values():
        spec = (st.get("press") or {}).get("spec")
        if isinstance(spec, str) and "/" in spec:
            st["press"]["spec"] = str(REPO / spec)
    return data


def two_press_data(duration_h: float = 40.0, warmup_h: float = 8.0, replications: int = 2) -> dict:
    """The isostatic-vs-uniaxial what-if (two presses, two lots, interface physics) shortened, with a cost section."""
    data = absolute_specs(load_scenario_data(SCENARIOS / "whatif_isostatic_vs_uniaxial.yaml"))
    data["run"].update(duration_h=duration_h, warmup_h=warmup_h, replications=replications)
    data["cost"] = COST
    data["expect"] = [{"kpi": "final_yield", "min": 0.5}]
    return data


def run_dir(out: Path, data: dict | None = None) -> Path:
    Simulation(parse_scenario(data or two_press_data())).run(out)
    return out


def add_recorder_outputs(out: Path, seed: int = 0) -> Path:
    """The records the recorder adds (issue 10/15 seam) written into a real run, consistent with its summary."""
    rng = np.random.default_rng(seed)
    path = out / "summary.json"
    summary = json.loads(path.read_text())
    stations = list(summary["utilisation"])
    shares = {}
    for st in stations:
        busy = summary["utilisation"][st]
        rest = rng.dirichlet(np.ones(4)) * (1.0 - busy)
        shares[st] = {"busy": busy, **dict(zip(STATES[1:], rest.tolist()))}
    summary["station_states"] = shares
    summary["ci95"]["station_states"] = {st: {k: 0.01 for k in STATES} for st in stations}
    total = summary["cost_per_good_cell"]
    parts = rng.dirichlet(np.ones(5)) * total
    summary["cost_breakdown"] = {**dict(zip(("equipment", "materials", "scrap", "rework", "overhead"),
                                            parts.tolist())), "currency": "EUR"}
    path.write_text(json.dumps(json_safe(summary)))
    t0 = summary["warmup_h"]
    db = sqlite3.connect(out / "trace.sqlite")
    with db:
        db.execute("CREATE TABLE station_states (replication, station, t_h, busy, blocked, starved, down, off_shift)")
        db.execute("CREATE TABLE buffer_levels (replication, station, t_h, waiting)")
        db.execute("CREATE TABLE press_traces (replication, station, run_id, t_s, p_mpa, temp_c, phase)")
        for st in stations:
            servers = 4 if st == "uniaxial_press" else 1
            t = t0
            while t < t0 + 24:
                counts = rng.multinomial(servers, list(shares[st].values()))
                db.execute("INSERT INTO station_states VALUES (0,?,?,?,?,?,?,?)", (st, t, *map(int, counts)))
                db.execute("INSERT INTO buffer_levels VALUES (0,?,?,?)", (st, t, int(rng.integers(0, 12))))
                t += float(rng.exponential(0.4))
        for st, target in (("wip_press", 390.0), ("uniaxial_press", 430.0)):
            ts = np.arange(0.0, 460.0, 2.0)
            p = np.clip(np.minimum(ts * 5.0, target), 0, None)
            p[ts > 380] = np.clip(target - (ts[ts > 380] - 380) * 5.0, 0, None)
            phase = np.where(ts < target / 5.0, "ramp", np.where(ts <= 380, "hold", "release"))
            db.executemany("INSERT INTO press_traces VALUES (0,?,?,?,?,?,?)",
                           [(st, f"sim-{st}-1", float(a), float(b), 80.0, str(c)) for a, b, c in zip(ts, p, phase)])
    db.close()
    return out


def scenario_file(out: Path, data: dict) -> str:
    """The scenario written beside the outputs, as the CLI's source path (the report reads its currency)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "scenario.yaml"
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
