"""Sweeps: --set parsing and paths into the scenario data, the grid, the results table,
common random numbers (paired differences are narrower than independent ones), the CLI,
and the shipped what-if scenarios (their expect: blocks, and the direction of the answer)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.cli import app
from twin.experiment import kpi_of, run_points
from twin.scenario import ScenarioError, load_scenario, load_scenario_data, parse_scenario
from twin.simulation import Simulation
from twin.stats import t_halfwidth
from twin.studies.sweep import Grid, apply_setting, parse_setting, run_sweep

REPO = Path(__file__).resolve().parent.parent
WHATIFS = ("whatif_press_precision", "whatif_flatness_spec", "whatif_vessel_count")


def line(duration_h: float = 300.0) -> dict:
    lot = {k: {"dist": "fixed", "value": v} for k, v in
           (("sq_um", 0.2), ("sdq", 0.05), ("pv_um", 1.5), ("waviness_um", 1.0), ("waviness_mm", 5.0))}
    return {
        "name": "sweep-line",
        "run": {"duration_h": duration_h, "warmup_h": 20.0, "replications": 3, "seed": 21, "write_trace": False},
        "source": {"interarrival_h": {"dist": "exponential", "mean": 1.0}, "first": "prep"},
        "lots": {"a": lot},
        "stations": {
            "prep": {"kind": "process", "process_time_h": {"dist": "exponential", "mean": 0.75}, "next": "press"},
            "press": {"kind": "batch", "batch": {"capacity_cells": 4, "timeout_h": 1.0},
                      "process_time_h": {"dist": "lognormal", "mean": 2.0, "sd": 0.4}, "next": "check"},
            "check": {"kind": "inspect", "process_time_h": {"dist": "fixed", "value": 0.05},
                      "fixed": {"p_accept": 0.9, "p_rework": 0.06, "p_reject": 0.04}, "on_rework": "press"},
        },
        "cost": {"equipment_per_server_h": {"prep": 5.0, "press": 20.0}, "material_per_cell": 3.0},
    }


# --- parsing and paths -------------------------------------------------------------------

def test_values_are_yaml_scalars_and_flow_collections():
    s = parse_setting("a.b=1, 2.5,true,abc,null,'x,y',[1, 2],{k: 3}")
    assert s.path == "a.b"
    assert s.values == (1, 2.5, True, "abc", None, "x,y", [1, 2], {"k": 3})
    assert isinstance(s.values[0], int) and isinstance(s.values[1], float)


@pytest.mark.parametrize("text", ["noequals", "=1,2", "a..b=1", "a.b="])
def test_malformed_set_is_a_scenario_error(text):
    with pytest.raises(ScenarioError):
        parse_setting(text)


def test_paths_reach_stations_and_lots_by_name_without_touching_the_original():
    data = line()
    out = apply_setting(data, "stations.press.batch.capacity_cells", 2)
    out = apply_setting(out, "lots.a.pv_um.value", 3.0)
    assert out["stations"]["press"]["batch"]["capacity_cells"] == 2
    assert out["lots"]["a"]["pv_um"]["value"] == 3.0
    assert data["stations"]["press"]["batch"]["capacity_cells"] == 4
    assert parse_scenario(out).stations["press"].batch.capacity_cells == 2


def test_missing_mappings_are_created_and_then_validated():
    out = apply_setting(line(), "stations.prep.breakdowns.mtbf_h", 50.0)
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(out)  # mttr_h is missing: the validation error names the path
    assert any(loc.startswith("stations.prep.breakdowns") for loc, _ in exc.value.problems)


def test_descending_into_a_value_names_the_path():
    with pytest.raises(ScenarioError) as exc:
        apply_setting(line(), "run.duration_h.x", 1)
    assert exc.value.problems[0][0] == "run.duration_h.x"


@pytest.mark.parametrize("setting,where", [
    ("stations.press.servrs=1,2", "stations.press.servrs"),
    ("stations.press.servers=1,0", "stations.press.servers"),
    ("run.duration_h=100,abc", "run.duration_h"),
])
def test_an_invalid_grid_point_names_the_swept_path(setting, where):
    grid = Grid([parse_setting(setting)])
    with pytest.raises(ScenarioError) as exc:
        grid.scenarios(line(), "sweep-line.yaml")
    assert exc.value.problems[0][0] == where
    assert where in exc.value.source


def test_grid_is_the_product_in_order_and_point_zero_takes_the_first_values():
    grid = Grid([parse_setting("stations.prep.servers=1,2"), parse_setting("run.seed=5,6,7")])
    assert grid.points == [(1, 5), (1, 6), (1, 7), (2, 5), (2, 6), (2, 7)]
    scenarios = grid.scenarios(line(), "x")
    assert [(s.stations["prep"].servers, s.run.seed) for s in scenarios] == grid.points
    assert grid.label(4) == "servers=2, seed=6"


# --- results ------------------------------------------------------------------------------

def test_results_table_parquet_and_csv(tmp_path):
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    settings = [parse_setting("source.interarrival_h.mean=1.0,0.9"), parse_setting("stations.prep.servers=1,2")]
    res = run_sweep(line(200.0), settings, replications=3, out_dir=tmp_path)
    table = pq.read_table(tmp_path / "sweep.parquet")
    csv = pacsv.read_csv(tmp_path / "sweep.csv")
    assert table.num_rows == csv.num_rows == 4 * len(res.meta["kpis"])
    assert {"point", "label", "kpi", "n", "mean", "ci_low", "ci_high", "diff_mean", "diff_ci_low",
            "diff_ci_high", "source.interarrival_h.mean", "stations.prep.servers"} <= set(table.column_names)
    assert str(table.schema.field("stations.prep.servers").type) == "int64"
    assert {"throughput_per_h", "final_yield", "cost_per_good_cell", "utilisation.press"} <= set(res.meta["kpis"])
    rows = table.to_pylist()
    for r in rows:
        assert r["n"] == 3
        assert r["ci_low"] <= r["mean"] <= r["ci_high"]
        if r["point"] == 0:
            assert r["diff_mean"] == 0.0
    # the table's numbers are the per-replication results
    thr = [kpi_of(k, "throughput_per_h") for k in res.reps_by_point[1]]
    row = next(r for r in rows if r["point"] == 1 and r["kpi"] == "throughput_per_h")
    assert row["mean"] == pytest.approx(sum(thr) / 3)
    assert row["ci_high"] - row["mean"] == pytest.approx(t_halfwidth(thr))


def test_common_random_numbers_make_paired_differences_narrower_than_independent_ones():
    base = parse_scenario(line(300.0))
    faster = parse_scenario(apply_setting(line(300.0), "stations.prep.process_time_h.mean", 0.7))
    n = 8
    crn = run_points([base, faster], seed=21, replications_n=n)
    independent = run_points([faster], seed=9021, replications_n=n)[0]  # other random numbers
    for kpi in ("mean_cycle_time_h", "mean_wip"):
        a = [kpi_of(r, kpi) for r in crn[0]]
        paired = t_halfwidth([kpi_of(r, kpi) - x for r, x in zip(crn[1], a)])
        unpaired = t_halfwidth([kpi_of(r, kpi) - x for r, x in zip(independent, a)])
        assert paired < 0.5 * unpaired, (kpi, paired, unpaired)


def test_sweep_with_target_ci_reports_the_replications_it_needed(tmp_path):
    res = run_sweep(line(150.0), [parse_setting("stations.prep.servers=1,2")], replications=2,
                    target=("throughput_per_h", 0.08), max_replications=30)
    n = res.meta["replications"]
    assert 2 < n <= 30
    rows = [r for r in res.rows if r["kpi"] == "throughput_per_h"]
    assert all(r["n"] == n for r in rows)
    assert n == 30 or all(r["ci95"] <= 0.08 for r in rows)


# --- CLI -----------------------------------------------------------------------------------

def _write(tmp_path: Path, data: dict) -> Path:
    import yaml

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_cli_sweep_writes_the_table_and_exits_0(tmp_path):
    path = _write(tmp_path, line(150.0))
    res = CliRunner().invoke(app, ["sweep", str(path), "--set", "stations.prep.servers=1,2", "--replications", "2",
                                   "--workers", "2", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "sweep.parquet").exists() and (tmp_path / "out" / "sweep.csv").exists()
    assert "servers=2" in res.output


def test_cli_sweep_invalid_path_exits_2_naming_it(tmp_path):
    path = _write(tmp_path, line(150.0))
    res = CliRunner().invoke(app, ["sweep", str(path), "--set", "stations.prep.servrs=1,2", "--out",
                                   str(tmp_path / "out")])
    assert res.exit_code == 2
    assert "stations.prep.servrs" in res.output
    assert not (tmp_path / "out" / "sweep.parquet").exists()


def test_cli_sweep_bad_target_ci_exits_2(tmp_path):
    path = _write(tmp_path, line(150.0))
    for bad in ("throughput_per_h", "nonsense_kpi=0.1", "throughput_per_h=-1"):
        res = CliRunner().invoke(app, ["sweep", str(path), "--set", "stations.prep.servers=1", "--target-ci", bad,
                                       "--out", str(tmp_path / "out")])
        assert res.exit_code == 2, (bad, res.output)


# --- the shipped what-ifs ---------------------------------------------------------------

@pytest.mark.parametrize("name", WHATIFS)
def test_whatif_scenario_meets_its_expect_block(name, monkeypatch):
    monkeypatch.chdir(REPO)  # press spec paths in the scenarios are relative to the repository root
    sc = load_scenario(REPO / "scenarios" / f"{name}.yaml")
    assert sc.quality.mode == "physics" and sc.cost is not None and sc.expect
    result = Simulation(sc).run()
    failed = [(e.kpi, e.value, e.min, e.max) for e in result.expectations if not e.passed]
    assert not failed


def test_flatness_whatif_answers_in_the_right_direction(monkeypatch):
    """A tighter PV spec gives a higher yield and a lower cost per good cell (paired, CRN)."""
    monkeypatch.chdir(REPO)
    data = load_scenario_data(REPO / "scenarios" / "whatif_flatness_spec.yaml")
    data["run"].update(duration_h=60.0, warmup_h=12.0)
    res = run_sweep(data, [parse_setting("lots.collector.pv_um.high=8,4")], replications=3)
    by = {(r["point"], r["kpi"]): r for r in res.rows}
    assert by[(1, "final_yield")]["diff_ci_low"] > 0
    assert by[(1, "cost_per_good_cell")]["diff_ci_high"] < 0
    assert not math.isnan(by[(1, "cost_per_good_cell")]["mean"])


def test_press_precision_whatif_answers_in_the_right_direction(monkeypatch):
    """A 1% press passes more cells first time and costs less per good cell than a 5% press."""
    monkeypatch.chdir(REPO)
    data = load_scenario_data(REPO / "scenarios" / "whatif_press_precision.yaml")
    data["run"].update(duration_h=48.0, warmup_h=8.0)
    specs = "scenarios/presses/heated_uniaxial_cv05.yaml,scenarios/presses/heated_uniaxial_cv01.yaml"
    res = run_sweep(data, [parse_setting(f"stations.hot_press.press.spec={specs}")], replications=3)
    by = {(r["point"], r["kpi"]): r for r in res.rows}
    assert by[(1, "first_pass_yield")]["diff_ci_low"] > 0
    assert by[(1, "cost_per_good_cell")]["diff_ci_high"] < 0
