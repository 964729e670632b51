"""Calibration from measured cells (twin.calibration): the truth is synthetic data drawn from known
parameters with realistic noise (twin.calibration.synth), so the fit must recover those parameters
within its intervals, its intervals must cover them at about their nominal rate over repeated data
sets, and data from a different model must be flagged as a misfit.  Bad files exit 2 naming the row
and column; the CLI runs end to end (calibrate, check-model, a run with parameter draws, its report)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from tests.helpers import REPO
from twin.calibration import paramfile
from twin.calibration.check import check_model, goodness
from twin.calibration.data import DataError, load_cells, validate, write_table
from twin.calibration.fit import fit
from twin.calibration.observe import Likelihood
from twin.calibration.propagate import decompose
from twin.calibration.synth import DEMO_TRUTH, synthesize
from twin.cli import app
from twin.interface.params import InterfaceParams

TRUTH = InterfaceParams.model_validate({**InterfaceParams().model_dump(), **DEMO_TRUTH})
FOUR = ["r_ct_ohm_cm2", "creep_hardness_ref_mpa", "ccd_plating_ref_ma_cm2", "short_weibull_modulus"]


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def _write(cells, path: Path) -> Path:
    cols = {k: list(np.asarray(v)) for k, v in cells.columns().items()}
    return write_table(path, cols)


def test_recovers_known_parameters_within_their_intervals_and_flags_the_unidentifiable_one():
    cells = synthesize(3000, TRUTH, seed=11)
    result = fit(cells)  # every parameter the outcome types inform, starting from the shipped values
    for name in result.parameters:
        low, high = result.intervals[name]
        assert low <= getattr(TRUTH, name) <= high, (name, low, high)
    for name in FOUR:
        assert result.verdicts[name]["status"] == "identified"
    # the tallest peak's tip radius moves the short risk by a few % only: at best weakly pinned
    tip = result.verdicts.get("peak_tip_radius_um", {"status": "not_identified"})
    assert tip["status"] in ("weak", "not_identified")
    assert result.noise["r_int_log_sd"] == pytest.approx(0.08, rel=0.1)
    assert result.noise["void_sd"] == pytest.approx(0.02, rel=0.15)


def test_a_process_window_that_closes_every_interface_cannot_pin_the_creep_hardness():
    from twin.calibration.synth import outcomes, process_records

    rng = np.random.default_rng(3)
    x = process_records(600, rng)
    x.update(pressure_mpa=np.full(600, 450.0), hold_s=np.full(600, 1800.0), temperature_c=np.full(600, 90.0),
             pressure_cv=np.full(600, 0.01))
    cols = {"cell_id": [f"c{i}" for i in range(600)], **x, **outcomes(x, TRUTH, rng)}
    cells = validate({k: list(v) for k, v in cols.items()})
    assert np.nanmax(cells.void) < 0.1  # every cell dense: the hardness no longer shows
    result = fit(cells, ["r_ct_ohm_cm2", "creep_hardness_ref_mpa"])
    assert "creep_hardness_ref_mpa" in result.fixed and "not identified" in result.fixed["creep_hardness_ref_mpa"]
    low, high = result.intervals["r_ct_ohm_cm2"]
    assert low <= TRUTH.r_ct_ohm_cm2 <= high


def test_outcome_types_absent_from_the_data_leave_their_parameters_unfitted():
    cells = synthesize(400, TRUTH, seed=2)
    cells.shorted[:] = np.nan
    cells.ccd[:] = np.nan
    result = fit(cells)
    assert result.parameters == ["r_ct_ohm_cm2", "creep_hardness_ref_mpa"]
    for name in ("ccd_plating_ref_ma_cm2", "short_weibull_modulus", "peak_tip_radius_um"):
        assert "no short or ccd outcomes" in result.fixed[name]


@pytest.mark.slow
def test_wald_intervals_cover_the_truth_at_about_their_nominal_rate():
    from scipy.stats import binom

    draws, hits = 40, {k: 0 for k in FOUR}
    for d in range(draws):
        result = fit(synthesize(600, TRUTH, seed=1000 + d), FOUR)
        for k in FOUR:
            low, high = result.intervals[k]
            hits[k] += low <= getattr(TRUTH, k) <= high
    total = sum(hits.values())
    n = draws * len(FOUR)
    assert binom.ppf(0.0005, n, 0.95) <= total <= binom.ppf(0.9995, n, 0.95), hits
    for k, h in hits.items():
        assert h >= binom.ppf(0.001, draws, 0.95), (k, hits)


def test_profile_and_bootstrap_intervals_bracket_the_estimate_and_resemble_wald():
    cells = synthesize(300, TRUTH, seed=5)
    names = ["r_ct_ohm_cm2", "creep_hardness_ref_mpa"]
    wald = fit(cells, names, "wald")
    prof = fit(cells, names, "profile")
    boot = fit(cells, names, "bootstrap", bootstrap=20, seed=1)
    for k in names:
        est = wald.values[k]
        for res in (prof, boot):
            low, high = res.intervals[k]
            assert low < est < high
            w = math.log(wald.intervals[k][1] / wald.intervals[k][0])
            assert 0.5 * w < math.log(high / low) < 2.0 * w, (res.method, k)
    assert boot.samples is not None and boot.samples.shape == (20, 2)


def test_emcee_posterior_is_centred_on_the_maximum_likelihood():
    pytest.importorskip("emcee")  # the calibration extra; installed by the dev extra
    cells = synthesize(400, TRUTH, seed=6)
    names = ["r_ct_ohm_cm2", "creep_hardness_ref_mpa"]
    post = fit(cells, names, "emcee", emcee_steps=300, seed=3)
    wald = fit(cells, names, "wald")
    assert post.samples is not None and len(post.samples) >= 100
    for i, k in enumerate(names):
        sd = math.log(wald.intervals[k][1] / wald.intervals[k][0]) / (2 * 1.96)
        assert abs(math.log(np.median(post.samples[:, i]) / wald.values[k])) < 1.0 * sd


@pytest.mark.parametrize("misfit,outcome", [("r_int_squared", "r_int"), ("short_logistic", "short")])
def test_data_from_a_different_model_are_flagged_as_misfit(misfit, outcome):
    cells = synthesize(1500, TRUTH, seed=21, misfit=misfit)
    result = fit(cells)
    gof = goodness(Likelihood(cells, result.parameters), result.phi)
    assert gof["misfit"] and outcome in gof["failed"], gof


def test_data_from_the_model_pass_the_goodness_of_fit():
    cells = synthesize(1500, TRUTH, seed=21)
    result = fit(cells)
    gof = goodness(Likelihood(cells, result.parameters), result.phi)
    assert not gof["misfit"], gof
    assert set(gof["tests"]) == {"r_int", "short", "ccd"}


def test_held_out_predictions_cover_at_about_the_nominal_rate(tmp_path):
    cells = synthesize(2500, TRUTH, seed=31)
    train = cells.subset(np.arange(len(cells)) % 5 != 0)
    held = cells.subset(np.arange(len(cells)) % 5 == 0)
    result = fit(train, FOUR)
    pf = paramfile.from_fit(result, [])
    out = check_model(held, pf, draws=100, seed=1)
    assert 0.9 <= out["r_int"]["coverage"] <= 0.99
    assert 0.9 <= out["void"]["coverage"] <= 1.0
    assert 0.88 <= out["ccd"]["coverage"] <= 1.0
    assert abs(out["r_int"]["relative_bias"]) < 0.02
    s = out["short"]
    assert abs(s["observed_rate"] - s["predicted_rate"]) < 0.05
    # calibrated probabilities beat a constant guess at the observed rate
    base = s["observed_rate"]
    assert s["log_loss"] < -(base * math.log(base) + (1 - base) * math.log(1 - base))
    assert sum(r["cells"] for r in s["reliability"]) == s["cells"]


def test_parameter_file_round_trips_and_draws_follow_its_covariance(tmp_path):
    result = fit(synthesize(800, TRUTH, seed=8), FOUR)
    path = paramfile.save(paramfile.from_fit(result, []), tmp_path / "p.yaml")
    pf = paramfile.load(path)
    assert set(pf.parameters) == set(FOUR)
    draws = pf.draws(4000, seed=2)
    logs = np.log([[d[k] for k in FOUR] for d in draws])
    cov = np.asarray(pf.covariance.matrix)
    assert np.allclose(logs.mean(axis=0), np.log([pf.parameters[k].value for k in FOUR]), atol=4 * np.sqrt(
        np.diag(cov) / 4000))
    assert np.allclose(np.cov(logs.T), cov, rtol=0.15, atol=1e-12 + 0.15 * np.abs(cov).max())


@pytest.mark.parametrize("edit,field", [
    (lambda d: d["covariance"].update(matrix=[[1.0, 2.0], [0.0, 1.0]]), "covariance"),
    (lambda d: d["parameters"]["r_ct_ohm_cm2"].update(value=-1.0), "parameters.r_ct_ohm_cm2.value"),
    (lambda d: d.update(format="other/9"), "format"),
    (lambda d: d["parameters"].update(nonsense={"value": 1.0}), "parameters"),
])
def test_a_bad_parameter_file_names_the_field(tmp_path, edit, field):
    result = fit(synthesize(300, TRUTH, seed=4), ["r_ct_ohm_cm2", "creep_hardness_ref_mpa"])
    data = paramfile.from_fit(result, []).model_dump(mode="json", exclude_none=True)
    edit(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(paramfile.ParamFileError) as exc:
        paramfile.load(path)
    assert any(loc.startswith(field) for loc, _ in exc.value.problems), exc.value.problems


def test_bad_cell_data_name_the_row_and_column(tmp_path):
    cells = synthesize(6, TRUTH, seed=1)
    cols = {k: list(np.asarray(v)) for k, v in cells.columns().items()}
    cols["pressure_mpa"][2] = -5.0
    cols["hold_s"][4] = "long"
    cols["cell_id"][5] = cols["cell_id"][0]
    cols["shorted"][1] = 1.0
    cols["cycles"][1] = math.nan
    path = write_table(tmp_path / "bad.csv", {k: [str(x) for x in v] for k, v in cols.items()})
    with pytest.raises(DataError) as exc:
        load_cells(path)
    found = {(r, c) for r, c, _ in exc.value.problems}
    assert {(3, "pressure_mpa"), (5, "hold_s"), (6, "cell_id"), (2, "cycles")} <= found, exc.value.problems
    res = cli("calibrate", str(path), "--out", str(tmp_path / "p.yaml"))
    assert res.exit_code == 2
    assert "row 3, column pressure_mpa: must be in (0, 3000] (got -5)" in " ".join(res.output.split())
    assert "row 5, column hold_s: not a number (got 'long')" in " ".join(res.output.split())


def test_outcomes_join_by_cell_id_and_unknown_cells_are_refused(tmp_path):
    cells = synthesize(5, TRUTH, seed=1)
    cols = {k: list(np.asarray(v)) for k, v in cells.columns().items()}
    process = {k: v for k, v in cols.items() if k in ("cell_id", "pressure_mpa", "pressure_cv", "hold_s",
                                                      "temperature_c", "sq_um", "sdq", "pv_um", "waviness_um",
                                                      "waviness_mm", "cutoff_um")}
    write_table(tmp_path / "process.parquet", process)
    write_table(tmp_path / "out.csv", {"cell_id": cols["cell_id"][:3], "r_int_ohm_cm2": [3.0, 3.5, 4.0]})
    joined = load_cells(tmp_path / "process.parquet", tmp_path / "out.csv")
    assert list(joined.r_int[:3]) == [3.0, 3.5, 4.0] and np.isnan(joined.r_int[3:]).all()
    assert len(joined.measured()) == 3
    write_table(tmp_path / "bad.csv", {"cell_id": ["nope"], "r_int_ohm_cm2": [3.0]})
    with pytest.raises(DataError, match="'nope' is not in the process record"):
        load_cells(tmp_path / "process.parquet", tmp_path / "bad.csv")
    with pytest.raises(DataError, match="column pressure_mpa: missing"):
        validate({"cell_id": ["a"]})


def test_every_run_writes_the_process_record_in_the_measured_cell_format(tmp_path):
    from twin.scenario import load_scenario_data, parse_scenario
    from twin.simulation import Simulation

    data = load_scenario_data(REPO / "scenarios" / "baseline.yaml")
    data["run"].update(duration_h=30, warmup_h=0, replications=1)
    data["expect"] = []
    sc = parse_scenario(data, "baseline-short", REPO / "scenarios")
    Simulation(sc).run(tmp_path / "run")
    cells = load_cells(tmp_path / "run" / "process.parquet")
    assert len(cells) > 100 and cells.counts() == {"r_int": 0, "void": 0, "short": 0, "ccd": 0}
    assert all(c.startswith("r0-") for c in cells.cell_id) and set(cells.press) == {"wip_press"}
    assert np.all(cells.inputs["pressure_mpa"] > 250)


def _small_scenario(tmp_path: Path, params: str) -> Path:
    text = (REPO / "examples" / "calibrated_line.yaml").read_text()
    data = yaml.safe_load(text)
    data["run"].update(duration_h=24, warmup_h=0, replications=2)
    data["quality"]["params"] = params
    data["expect"] = []
    path = tmp_path / "line.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_cli_end_to_end_calibrate_check_and_run_with_parameter_draws(tmp_path):
    cells = synthesize(1500, TRUTH, seed=41)
    train = _write(cells.subset(np.arange(len(cells)) % 4 != 0), tmp_path / "measured.parquet")
    held = _write(cells.subset(np.arange(len(cells)) % 4 == 0), tmp_path / "heldout.csv")
    params = tmp_path / "params.yaml"
    res = cli("calibrate", str(train), "--out", str(params))
    assert res.exit_code == 0, res.output
    assert params.exists() and params.with_suffix(".html").exists()
    assert "not identified" in res.output  # the tip radius
    assert cli("calibrate", str(train), "--out", str(params)).exit_code == 2  # exists without --force
    res = cli("check-model", str(held), "--params", str(params), "--json", "--draws", "50")
    assert res.exit_code == 0, res.output
    check = json.loads(res.output)
    assert 0.85 <= check["r_int"]["coverage"] <= 1.0
    scenario = _small_scenario(tmp_path, str(params))
    out = tmp_path / "run"
    res = cli("run", str(scenario), "--out", str(out), "--param-draws", "2", "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    pu = summary["parameter_uncertainty"]
    assert pu["draws"] == 2 and pu["replications_per_draw"] == 2
    fy = pu["kpis"]["final_yield"]
    assert len(fy["per_draw"]) == 2 and fy["sd_parameter"] >= 0 and fy["sd_simulation"] >= 0
    assert (out / "process.parquet").exists()
    res = cli("report", str(out))
    assert res.exit_code == 0, res.output
    page = (out / "report.html").read_text()
    assert "Parameter uncertainty" in page and "fig-uncertainty_sources" in page


def test_a_scenario_with_a_bad_parameter_reference_exits_2_naming_the_field(tmp_path):
    missing = _small_scenario(tmp_path, str(tmp_path / "nope.yaml"))
    res = cli("validate", str(missing))
    assert res.exit_code == 2 and "quality.params" in res.output
    result = fit(synthesize(300, TRUTH, seed=4), ["r_ct_ohm_cm2", "creep_hardness_ref_mpa"])
    params = paramfile.save(paramfile.from_fit(result, []), tmp_path / "p.yaml")
    scenario = _small_scenario(tmp_path, str(params))
    data = yaml.safe_load(scenario.read_text())
    data["quality"]["interface"] = {"r_ct_ohm_cm2": 3.0}
    scenario.write_text(yaml.safe_dump(data))
    res = cli("validate", str(scenario))
    assert res.exit_code == 2 and "quality.interface.r_ct_ohm_cm2" in res.output


def test_param_draws_need_a_calibrated_file():
    res = cli("run", str(REPO / "scenarios" / "mm1.yaml"), "--param-draws", "3", "--out", "/nonexistent/x")
    assert res.exit_code == 2 and "quality.params" in res.output


def test_variance_decomposition_separates_parameter_and_simulation_noise():
    rng = np.random.default_rng(0)
    d, r = 200, 6
    table = 10 + 2.0 * rng.standard_normal((d, 1)) + 0.5 * rng.standard_normal((1, r)) \
        + 1.0 * rng.standard_normal((d, r))
    parts = decompose(table)
    assert parts["sd_parameter"] == pytest.approx(2.0, rel=0.15)
    # within a draw: one replication's noise (its replication effect and the residual)
    assert parts["sd_simulation"] == pytest.approx(math.sqrt(1.0 + 0.25), rel=0.1)
    lo, hi = parts["interval95_parameter"]
    assert lo < 10 < hi


@pytest.mark.slow
@pytest.mark.timeout(3600)  # five runs and a calibration: generous on a loaded machine
def test_the_readme_calibration_workflow_runs_as_written(tmp_path):
    import os
    import re
    import subprocess
    import sys

    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- calibration-workflow.*?```bash\n(.*?)```", text, re.S)
    assert block, "the README's calibration workflow block"
    commands = [re.sub(r"\s+#.*$", "", c).strip() for c in block[1].replace("\\\n", " ").splitlines()]
    for name in ("scenarios", "examples", "plant", "plants"):
        if (REPO / name).exists():
            (tmp_path / name).symlink_to(REPO / name)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for cmd in filter(None, commands):
        proc = subprocess.run(cmd, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=3000)
        assert proc.returncode == 0, (cmd, proc.stdout[-2000:], proc.stderr[-2000:])
    summary = json.loads((tmp_path / "out" / "calibrated" / "summary.json").read_text())
    assert summary["parameter_uncertainty"]["draws"] == 4
    assert "Parameter uncertainty" in (tmp_path / "out" / "calibrated" / "report.html").read_text()
    sweep = json.loads((tmp_path / "out" / "sweep_calibrated" / "sweep.json").read_text())
    assert [b["draws"] for b in sweep["parameter_uncertainty"]] == [4, 4]
    assert paramfile.load(tmp_path / "out" / "calib" / "params.yaml").not_identified  # the tip radius


def test_calibrate_exits_1_on_a_misfit_and_says_where(tmp_path):
    cells = synthesize(800, TRUTH, seed=22, misfit="r_int_squared")
    data = _write(cells, tmp_path / "cells.csv")
    res = cli("calibrate", str(data), "--out", str(tmp_path / "p.yaml"), "--param", "r_ct_ohm_cm2",
              "--param", "creep_hardness_ref_mpa", "--no-report")
    assert res.exit_code == 1, res.output
    assert "depart from the model in: r_int" in " ".join(res.output.split())
    pf = paramfile.load(tmp_path / "p.yaml")  # written all the same, with the verdict in it
    assert pf.goodness_of_fit["misfit"] is True and not (tmp_path / "p.html").exists()
