"""Sensitivity indices against what they must be: on a line where cost per good cell is linear in the
material cost and does not depend on the scrap cost (no cell is scrapped), Morris gives mu* = the
slope times the range with sigma = 0 and mu* = 0 for scrap, Sobol gives ST = 0 for scrap and S1 ~ 1
for material; with common random numbers these hold up to the estimator, not up to noise."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import exp, scenario_dict, station
from twin.experiment import run_points
from twin.scenario import ScenarioError, parse_scenario
from twin.studies.sensitivity import ranked, runs_needed, sensitivity
from twin.studies.space import parse_param

PARAMS = ["cost.material_per_cell=5:15", "cost.scrap_per_cell=0:10"]


def line() -> dict:
    return scenario_dict({"server": station(exp(0.5))}, duration_h=400.0, warmup_h=20.0, replications=2, seed=5,
                         run={"write_trace": False},
                         cost={"equipment_per_server_h": {"server": 10.0}, "material_per_cell": 10.0,
                               "scrap_per_cell": 1.0})


def started_per_accepted() -> float:
    """d(cost per good cell)/d(material per cell) = mean over replications of started / accepted."""
    reps = run_points([parse_scenario(line())], 5, 2)[0]
    assert all(r["cells_rejected"] == 0 for r in reps)
    return float(np.mean([r["cells_started"] / r["cells_accepted"] for r in reps]))


def test_morris_recovers_the_slope_of_a_linear_parameter_and_zero_for_an_inert_one(tmp_path):
    params = [parse_param(p) for p in PARAMS]
    out = tmp_path / "sens"
    result = sensitivity(line(), params, "morris", kpis=["cost_per_good_cell", "throughput_per_h"], samples=4,
                         out_dir=out)
    idx = result.indices.set_index(["kpi", "param"])
    slope = started_per_accepted()
    material = idx.loc[("cost_per_good_cell", "cost.material_per_cell")]
    assert material["mu_star"] == pytest.approx(10.0 * slope, rel=1e-9)
    assert material["sigma"] == pytest.approx(0.0, abs=1e-9)
    assert idx.loc[("cost_per_good_cell", "cost.scrap_per_cell"), "mu_star"] == pytest.approx(0.0, abs=1e-12)
    for p in ("cost.material_per_cell", "cost.scrap_per_cell"):  # costs do not change the queue
        assert idx.loc[("throughput_per_h", p), "mu_star"] == pytest.approx(0.0, abs=1e-12)
    assert ranked(result.indices, "cost_per_good_cell", "morris")[0][0] == "cost.material_per_cell"
    assert result.runs == runs_needed("morris", 4, 2, 2) == len(result.samples) * 2
    assert {p.name for p in out.iterdir()} >= {"indices.parquet", "indices.csv", "samples.parquet",
                                                "sensitivity.json"}
    with pytest.raises(FileExistsError):  # never overwritten silently
        sensitivity(line(), params, "morris", kpis=["mean_wip"], samples=2, out_dir=out)


def test_sobol_gives_all_variance_to_the_one_parameter_that_acts():
    params = [parse_param(p) for p in PARAMS]
    result = sensitivity(line(), params, "sobol", kpis=["cost_per_good_cell"], samples=32)
    idx = result.indices.set_index("param")
    assert idx.loc["cost.scrap_per_cell", "ST"] == pytest.approx(0.0, abs=1e-12)
    assert idx.loc["cost.material_per_cell", "ST"] == pytest.approx(1.0, abs=0.15)
    s1, conf = idx.loc["cost.material_per_cell", ["S1", "S1_conf"]]
    assert abs(s1 - 1.0) <= max(conf, 0.15)
    assert result.runs == runs_needed("sobol", 32, 2, 2)


@pytest.mark.parametrize("method,params,samples", [
    ("sobol", PARAMS, 10),  # not a power of 2
    ("morris", ["stations.server.servers=1,2"], 4),  # choices, not a range
    ("latin", PARAMS, 4),
    ("morris", PARAMS, 1),
])
def test_bad_sensitivity_requests_name_the_problem(method, params, samples):
    with pytest.raises(ScenarioError):
        sensitivity(line(), [parse_param(p) for p in params], method, samples=samples)


def test_int_and_log_ranges_are_sampled_on_their_scale():
    params = [parse_param("stations.server.servers=1:3:int"), parse_param("source.interarrival_h.mean=1.1:4:log")]
    result = sensitivity(line(), params, "morris", kpis=["mean_wip"], samples=3)
    servers = result.samples["stations.server.servers"]
    assert set(servers) <= {1, 2, 3} and all(float(v).is_integer() for v in servers)
    means = result.samples["source.interarrival_h.mean"]
    assert means.min() >= 1.1 - 1e-12 and means.max() <= 4 + 1e-12
    # Morris levels are uniform on the unit interval, so the log-mapped values are geometric
    levels = np.unique(np.round(np.log(means.to_numpy()), 9))
    assert np.allclose(np.diff(levels), np.diff(levels)[0])
