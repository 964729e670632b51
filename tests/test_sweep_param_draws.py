"""`twin sweep --param-draws N` (issue 14): every grid point re-run for N parameter sets drawn from
the calibrated file; per point and KPI the parameter sd, the simulation sd and the 95% parameter
interval, beside the plain columns, which the draws leave as they are."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from tests.helpers import REPO
from twin.calibration import paramfile
from twin.calibration.fit import fit
from twin.calibration.synth import DEMO_TRUTH, synthesize
from twin.cli import app
from twin.interface.params import InterfaceParams
from twin.studies.sweep import PARAM_COLUMNS

TRUTH = InterfaceParams.model_validate({**InterfaceParams().model_dump(), **DEMO_TRUTH})
GRID = ("--set", "stations.wip_press.press.recipe.target_pressure_mpa=250,350")


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def _calibrated_line(tmp_path: Path) -> Path:
    """examples/calibrated_line.yaml, a few hours long, on a parameter file fitted to synthetic cells."""
    result = fit(synthesize(300, TRUTH, seed=4), ["r_ct_ohm_cm2", "creep_hardness_ref_mpa"])
    params = paramfile.save(paramfile.from_fit(result, []), tmp_path / "params.yaml")
    data = yaml.safe_load((REPO / "examples" / "calibrated_line.yaml").read_text())
    data["run"].update(duration_h=6, warmup_h=0, replications=2)
    data["quality"]["params"] = str(params)
    data["expect"] = []
    path = tmp_path / "line.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.timeout(900)
def test_sweep_param_draws_add_parameter_and_simulation_spread_per_point_and_kpi(tmp_path):
    scenario = _calibrated_line(tmp_path)
    plain, drawn = tmp_path / "plain", tmp_path / "drawn"
    res = cli("sweep", str(scenario), *GRID, "--out", str(plain))
    assert res.exit_code == 0, res.output
    res = cli("sweep", str(scenario), *GRID, "--param-draws", "3", "--out", str(drawn))
    assert res.exit_code == 0, res.output

    rows = pq.read_table(drawn / "sweep.parquet").to_pylist()
    base = {(r["point"], r["kpi"]): r for r in pq.read_table(plain / "sweep.parquet").to_pylist()}
    assert set(base) == {(r["point"], r["kpi"]) for r in rows} and {r["point"] for r in rows} == {0, 1}
    assert not set(PARAM_COLUMNS) & set(next(iter(base.values())))  # no draws: the table as before
    csv_head = (drawn / "sweep.csv").read_text().splitlines()[0]
    assert all(f'"{c}"' in csv_head for c in PARAM_COLUMNS)
    finite = 0
    for r in rows:
        assert set(PARAM_COLUMNS) <= set(r)
        plain_row = base[(r["point"], r["kpi"])]
        for col in ("n", "mean", "ci95", "diff_mean"):  # the draws leave the plain numbers alone
            assert r[col] == plain_row[col], (r["kpi"], col)
        if r["sd_parameter"] is None:  # a KPI with no value in so short a run
            continue
        finite += 1
        assert r["sd_parameter"] >= 0 and r["sd_simulation"] >= 0
        tol = 1e-9 * max(1.0, abs(r["param_mean"]))
        assert r["param_ci_low"] - tol <= r["param_mean"] <= r["param_ci_high"] + tol
    assert finite >= len(rows) // 2

    meta = json.loads((drawn / "sweep.json").read_text())
    blocks = meta["parameter_uncertainty"]
    assert [b["point"] for b in blocks] == [0, 1]
    for b in blocks:
        assert b["draws"] == 3 and b["replications_per_draw"] == 2 and len(b["parameters"]) == 3
        fy = b["kpis"]["final_yield"]
        assert len(fy["per_draw"]) == 3
        row = next(r for r in rows if r["point"] == b["point"] and r["kpi"] == "final_yield")
        assert fy["sd_parameter"] == pytest.approx(row["sd_parameter"])
        assert fy["ci95_simulation"] == pytest.approx(row["ci95"])
    assert blocks[0]["parameters"] == blocks[1]["parameters"]  # the same draws at every point
    assert "parameter_uncertainty" not in json.loads((plain / "sweep.json").read_text())
    assert not math.isnan(rows[0]["mean"])
    # --resume keeps the draws' replications too (points.sqlite): 2 points x 2 replications x (1 + 3)
    res = cli("sweep", str(scenario), *GRID, "--param-draws", "3", "--out", str(drawn), "--resume", "--json")
    assert res.exit_code == 0, res.output
    again = json.loads(res.stdout)
    assert again["meta"]["reused"] == 16
    assert [r["sd_parameter"] for r in again["rows"]] == [r["sd_parameter"] for r in rows]


def test_sweep_param_draws_need_a_calibrated_file(tmp_path):
    out = tmp_path / "s"
    res = cli("sweep", str(REPO / "scenarios" / "mm1.yaml"), "--set", "run.seed=1,2", "--param-draws", "3",
              "--out", str(out))
    assert res.exit_code == 2, res.output
    assert "--param-draws" in res.output and "quality.params" in res.output
    assert not out.exists()
